"""Trying a policy before the child does: a child's day explained, a script simulated.

Owns ``shepherd policy explain`` and ``shepherd policy simulate`` below the command
line: the day played by the engine itself on a simulated clock (no second
implementation of any rule), what it says as data, a text chart, and words.
Pure: the policy, the zone, the day and what the store knew are passed in; it
never opens a file, a socket or a process, and never reads a clock.
"""
