"""Programs started outside Shepherd (SPEC §4): seeing them start and recognising them.

Owns the kernel's process events (``connector.py``, the netlink proc connector,
whose exec events ``ebpf.py`` replaces where it loads, with the children's uids
filtered in the kernel by a program ``bpfasm.py`` assembles; ``forks.py``, a short
memory of the connector's fork events), the ``/proc`` scan where
those are not available (``scan.py``), the facts read about a process
(``facts.py``) and the pure matching of those facts against the policy's
``detect`` rules (``rules.py``). Must not decide what
happens to a recognised process (the daemon asks the engine, as for a launch)
nor move or stop processes (the supervisor does).
"""

from shepherd.detect.facts import Needs, ProcessFacts, read_facts
from shepherd.detect.rules import Match, Recogniser

__all__ = ["Match", "Needs", "ProcessFacts", "Recogniser", "read_facts"]
