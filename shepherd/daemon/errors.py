"""What the daemon's commands raise: domain errors, each a sentence the caller can act on.

The commands of ``Daemon`` raise these (and the engine's ``ActionRefused``);
``methods.py`` maps each to a JSON-RPC code. An error always means that nothing
took effect.
"""

from __future__ import annotations

from typing import Any

from shepherd.engine import Reason


class CommandError(Exception):
    """A command that did nothing, and why."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class BadRequest(CommandError):
    """A value that makes no sense here (what was wrong, what was expected)."""


def shown(value: Any, most: int = 40) -> str:
    """A bad value as its caller sent it, for the words that refuse it: its ``repr``, cut
    to ``most`` characters (a hostile caller's megabyte never comes back to it)."""
    text = repr(value)
    return text if len(text) <= most else text[:most - 3] + "..."


class LaunchRefused(CommandError):
    """The engine (or a store that cannot record it) said no; every reason is listed."""

    def __init__(self, reasons: tuple[Reason, ...], message: str, label: str,
                 now: str | None = None, you: str | None = None,
                 program: str | None = None) -> None:
        data = {"denied": [r.to_json() for r in reasons], "label": label}
        if program is not None:  # only busy refuses, and the program would fail anyway
            data["program_problem"] = program
        if now is not None:  # the daemon's trusted clock: "until 15:14" is relative to it
            data["now"] = now
        if you is not None:  # the child asked for themselves: said to them ("you are")
            data["you"] = you
        super().__init__(message, data)
        self.reasons = reasons


class LaunchFailed(CommandError):
    """The program could not be started; nothing was charged."""


class NotFound(CommandError):
    """No such session, user, entry or request (as far as the caller may know)."""


class TooLate(CommandError):
    """A change to a session that was already told to stop (its deadline's, or a
    parent's, SIGTERM went): not made, nothing written or charged for it."""

    def __init__(self, message: str, session_id: int) -> None:
        super().__init__(message)
        self.data = {"code": "too_late", "session_id": session_id}


class Forbidden(CommandError):
    """The caller may not do this."""


class NothingChanged(CommandError):
    """The store could not record the change, so it was not made. A parent is told why
    and what still works; a child (``child_act``: what they asked, e.g. "your request was
    not sent"), in the words a refused launch uses, not the parent's file and remedy
    (review-9-s15 L-4)."""

    def __init__(self, problem: str, child_act: str | None = None) -> None:
        if child_act is not None:
            super().__init__(f"Shepherd cannot record anything right now, so {child_act}; "
                             "ask again later.")
        else:
            super().__init__(f"The store cannot be written just now ({problem}), so nothing "
                             "was changed. Try again when it is back; `stop` still works.")


class StoreUnreadable(CommandError):
    """A read the store cannot answer now (``lead``: what could not be done, when that is
    more than a read: the audit check, a backup, which also write a copy)."""

    def __init__(self, problem: str, lead: str = "The store cannot be read just now") -> None:
        super().__init__(f"{lead}: {problem}")


class TooManyRequests(CommandError):
    """A child asked for more time too many times without an answer."""


class PolicyRejected(CommandError):
    """A reload found errors: the old policy stays in force."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("policy rejected; the old policy stays in force", {"errors": errors})
