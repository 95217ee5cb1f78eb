"""A ``detect`` rule's ``cmdline`` pattern, compiled for a linear-time engine (RE2).

A child writes the command lines these patterns are searched in (up to
``detect.facts.MAX_CMDLINE`` bytes each, one search per program it starts). Python's
``re`` backtracks: ``"java .*minecraft"`` over 256 KiB of ``"java java ..."`` took
about 20 s, holding the GIL, on the daemon's loop (review 14 s9 H2). RE2 never
backtracks: a search costs time in proportion to the text, whatever the child
writes. Groups only group (``never_capture``): only whether it matches is asked, and
finding what groups captured took 0.5-1.3 s over 6 MB that matched, ~29 ms over 128 KiB
(review 14 s10 H1); without, about a millisecond.
It takes Python's syntax except what needs backtracking (lookarounds
``(?=``, ``(?!``, ``(?<=``, ``(?<!`` and backreferences ``\\1``, ``(?P=name)``),
which the policy refuses with the reason; ``\\w``, ``\\d`` and ``\\b`` are ASCII.
The policy's checks, ``policy simulate``/``explain`` and the daemon all search
through :func:`compile_pattern`, so they agree. RE2 is imported at the first
pattern (2.8 MiB resident): a policy without ``cmdline`` rules never loads it.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol


class CommandPattern(Protocol):
    def search(self, text: str) -> object | None: ...


class PatternError(ValueError):
    """A pattern RE2 cannot take: ``reason`` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@functools.cache
def _engine() -> tuple[Any, Any]:
    """RE2 and its options, loaded at the first pattern."""
    import re2  # type: ignore[import-untyped]

    options = re2.Options()
    options.log_errors = False  # the reason is reported to the parent, not logged on stderr
    options.never_capture = True  # a bool is asked: captures cost up to 30x the search
    return re2, options


def compile_pattern(text: str) -> CommandPattern:
    """The compiled pattern, or :class:`PatternError` with RE2's reason in words."""
    re2, options = _engine()
    try:
        compiled: CommandPattern = re2.compile(text, options)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        reason = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        raise PatternError(reason) from None
    except (TypeError, ValueError, UnicodeError) as exc:
        raise PatternError(str(exc)) from None
    return compiled
