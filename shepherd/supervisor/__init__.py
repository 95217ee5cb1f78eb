"""Child processes: spawn as a user with a clean environment, watch, stop the whole tree.

Owns the two launch backends of SPEC §4 (direct process trees; systemd transient
units). Must not decide anything: the daemon tells it what to start and stop.
"""
