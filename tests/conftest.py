"""Every test: no dependence on the machine's own logind. Daemons started by tests count
running time unless a test gives them a bus of its own (tests/presence/bus.py)."""

import os

os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/shepherd-tests-have-no-system-bus"
