"""The Textual TUI (SPEC §7): the parent's live view and actions, and a child's own view.

Owns: screens, widgets, the stylesheet and the wording of what it shows. Talks to
the daemon only through the async IPC client (``link.py``); never to the store.
"""
