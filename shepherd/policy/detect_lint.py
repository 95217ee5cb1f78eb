"""What ``policy check`` looks at in ``detect`` rules beyond their syntax.

- an ``exe`` that is a script (``#!``): the kernel runs its interpreter, so the
  process's executable is never the script and the rule never matches;
- a ``cmdline`` pattern that any match can satisfy with fewer than a few literal
  characters (``"."``, ``"\\\\b"``, ``"[^x]"``, ``"a|bcd"``): it would match almost
  every program a child runs.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

FEW_LITERALS = 3
# The parse tree of a pattern: the standard library's own parser (no stubs for it).
sre: Any = importlib.import_module("re._parser")


def script_interpreter(path: str) -> str | None:
    """The interpreter a ``#!`` file names (its first word), or None for anything else."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    return words[0] if words else "an interpreter"


def literal_length(pattern: str) -> int:
    """The fewest literal characters any match of the pattern contains."""
    try:
        return _least(sre.parse(pattern))
    except (re.error, RecursionError, TypeError, ValueError):
        return FEW_LITERALS  # not judged (the syntax check reports broken patterns)


def _least(items: Any) -> int:
    total = 0
    for op, value in items:
        name = str(op)
        if name == "LITERAL":
            total += 1
        elif name == "SUBPATTERN":
            total += _least(value[-1])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, body = value
            total += low * _least(body) if low else 0
        elif name == "BRANCH":
            total += min(_least(branch) for branch in value[1])
        elif name == "ATOMIC_GROUP":
            total += _least(value)
    return total
