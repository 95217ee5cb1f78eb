"""``shepherd agent``: the child's side, in their graphical session.

Owns showing the daemon's events to the child as desktop notifications
(``notifications.py``: freedesktop notifications over the session bus, with
dbus-fast, the project's one D-Bus library) and the status line for panels
(``status_line.py``). ``run.py`` subscribes to the daemon's socket and
reconnects by itself. Must not decide anything: it only shows what the daemon
says, in the words the daemon chose.
"""
