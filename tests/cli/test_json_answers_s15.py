"""SPEC §1: ``--json`` everywhere. ``extend``, ``stop``, ``lock``, ``unlock``, ``cooldown
clear``, ``request`` and ``answer`` had none (polish14's note); as ``grant --json`` does,
each now prints the daemon's answer as one document, with its codes, instead of the
sentence, and an error is said and exits as it does without ``--json``. The command runs
in the test's process (``main``, as ``python -m shepherd`` calls it: a process each would
take a second), the daemon in its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from shepherd.cli import main
from tests.cli.test_action_id import NAP as ACTION_NAP
from tests.daemon.conftest import ME, daemon_factory, policy

__all__ = ["daemon_factory"]

NAP = ACTION_NAP.replace('daily_quota = "10m"', 'daily_quota = "10m", cooldown = "1h"')

Shepherd = Callable[..., tuple[int, str, str]]


@pytest.fixture
def shepherd(daemon_factory: Any, capsys: pytest.CaptureFixture[str]) -> Shepherd:
    """``shepherd(*argv)``: the command against a daemon on NAP; its exit code, stdout
    and stderr. The daemon is ``shepherd.daemon``."""
    d = daemon_factory(policy(NAP))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--socket", str(d.socket), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    run.daemon = d  # type: ignore[attr-defined]
    return run


def answer(shepherd: Shepherd, *argv: str) -> Any:
    """``shepherd ARGV --json``: exit 0, nothing on stderr, one JSON document on stdout."""
    code, out, err = shepherd(*argv, "--json")
    assert code == 0 and not err, (argv, code, err)
    return json.loads(out)


def test_each_action_answers_as_data_with_json(shepherd: Shepherd) -> None:
    d = shepherd.daemon  # type: ignore[attr-defined]
    asked = answer(shepherd, "request", "nap", "5m", "--note", "please")
    waiting = d.call("requests")
    assert [r["id"] for r in waiting] == [asked["request_id"]], (asked, waiting)
    again = answer(shepherd, "request", "nap", "5m", "--note", "please")  # the one waiting
    assert again["again"] is True and again["request_id"] == asked["request_id"], again
    approved = answer(shepherd, "answer", str(asked["request_id"]), "approve")
    assert approved["state"] == "approved" and approved["user"] == ME, approved
    assert approved["granted_s"] == 300, approved

    started = d.call("launch", entry="nap")
    extended = answer(shepherd, "extend", "nap", "2m")
    assert extended["session_id"] == started["session_id"], extended
    assert extended["deadline"] > started["deadline"], (extended, started)
    code, out, err = shepherd("extend", "nap", "2m", "--json")  # s16: the daemon's data.code
    error = json.loads(out)["error"]
    assert (code, err, error["code"], error["rpc_code"]) == (1, "", "already_extended", -32016)
    assert error["data"]["session_id"] == started["session_id"], error
    stopped = answer(shepherd, "stop")
    assert stopped["stopped"] == [started["session_id"]], stopped

    assert answer(shepherd, "cooldown", "clear", ME, "nap")["cleared"] is True  # the stop's
    assert answer(shepherd, "cooldown", "clear", ME, "nap")["cleared"] is False
    assert answer(shepherd, "lock", ME)["stopped"] == []
    assert answer(shepherd, "unlock", ME)["was_locked"] is True
    assert answer(shepherd, "unlock", ME)["was_locked"] is False
    assert answer(shepherd, "stop")["stopped"] == []


def test_an_error_is_data_with_json_and_without_it_the_sentence(
        shepherd: Shepherd) -> None:
    """With ``--json`` an error is a document too (s16: its code and the sentence), with
    the exit code it has without ``--json``."""
    for argv in (["extend", "nap", "5m"], ["answer", "99", "decline"], ["lock", "ghost"],
                 ["request", "ghost", "5m"], ["cooldown", "clear", ME, "ghost"]):
        said = shepherd(*argv)
        assert said[0] not in (0, 2) and not said[1] and said[2], (argv, said)  # refused
        code, out, err = shepherd(*argv, "--json")
        assert (code, err) == (said[0], ""), (argv, code, err)
        error = json.loads(out)["error"]
        assert f"shepherd: {error['message']}\n" == said[2], (argv, error, said)
        assert error["exit"] == code and error["rpc_code"] < 0, (argv, error)
        assert error["code"] == "not_found", (argv, error)  # the JSON-RPC code's word
    said = [shepherd(*argv) for argv in (["lock", ME], ["unlock", ME],
                                         ["cooldown", "clear", ME, "nap"])]
    assert said == [
        (0, f"{ME} is locked: nothing can start until `shepherd unlock {ME}`.\n", ""),
        (0, f"{ME} is unlocked: the usual limits apply again.\n", ""),
        (0, f"Nap is not resting for {ME}, so there was no rest to end; nothing changed.\n",
         "")]
