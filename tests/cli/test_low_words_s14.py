"""Review-12-s13 L9 and L7 (LOW): the command line said as a parent or child would."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from datetime import UTC
from types import SimpleNamespace
from typing import Any

import pytest

from shepherd.cli import main, remote
from shepherd.cli.status_text import render_status
from shepherd.daemon import status as status_module
from shepherd.daemon.core import Daemon, NotFound


@pytest.mark.parametrize("argv", [("request", "minecraft", "-10m"),
                                  ("answer", "3", "approve", "-10m")])
def test_a_minus_duration_is_read_as_one_and_refused_in_words(
        argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    """``request minecraft -10m`` gave argparse's "the following arguments are required:
    DURATION": the ``-10m`` was taken for an option. It is a duration, as for grant."""
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "required" not in err
    assert "'-10m': " in err and "more time" in err


def test_stop_names_the_childs_program_as_a_parent_would(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    answer = {"stopped": [1, 2], "sessions": [
        {"id": 1, "user": "kid", "entry": "game", "label": "Game"},
        {"id": 2, "user": "kid", "entry": "music", "label": "Music"}]}
    monkeypatch.setattr(remote, "_run", lambda args, method, **params: answer)
    remote.cmd_stop(argparse.Namespace(session_id=None, user="kid"))
    assert capsys.readouterr().out.strip() == (
        "Stopped kid's Game (session 1) and kid's Music (session 2).")


def test_stopping_a_child_not_in_the_policy_lists_the_children() -> None:
    """``stop --user ghost`` said "unknown user 'ghost'"; ``usage`` lists the children."""
    daemon = Daemon.__new__(Daemon)
    daemon.policy = SimpleNamespace(user=lambda name: None,  # type: ignore[assignment]
                                    users=[SimpleNamespace(name="kid"),
                                           SimpleNamespace(name="sam")])
    with pytest.raises(NotFound) as refused:
        daemon._known_user("ghost")
    assert str(refused.value) == ("there is no child called 'ghost' in the policy "
                                  "(the children are: kid, sam)")


def test_who_keeps_the_deadlines_is_for_the_parent_and_in_plain_words(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``status`` ended with "Deadlines: kept by a separate alarm process (pid N).", for
    the child too: the parent is told in plain words, the child not at all."""
    keeper = {"kept_by": "alarm", "alarm": "serving", "alarm_pid": 4242}
    daemon = Daemon.__new__(Daemon)  # only its status answer is used
    monkeypatch.setattr(status_module, "render", lambda *a, **kw: {"users": [],
                                                                   "sessions": []})
    for name, value in {
            "enforce_due": lambda mono: None, "blocked": lambda: (),
            "now": lambda: SimpleNamespace(mono=0.0),
            "engine": SimpleNamespace(reading=nullcontext),
            "config": SimpleNamespace(user_mode=False),
            "writer": SimpleNamespace(available=True), "loaded": True,
            "clock": SimpleNamespace(pending_jump=None), "rejected_reload": None,
            "presence": SimpleNamespace(problem=None, problem_detail=None,
                                        flapping=lambda now: []),
            "machine": "m", "link": None, "shown": None, "store_damage": None,
            "freezer": SimpleNamespace(frozen_ids=lambda: set(), problems={}),
            "backend": SimpleNamespace(deadline_keeper=lambda: keeper),
            "missing_programs": {}, "closed_programs": {}, "policy": None,
            "sessions": {}}.items():
        setattr(daemon, name, value)
    assert daemon.status()["deadlines"] == keeper
    assert "deadlines" not in daemon.status(only="kid")
    said = [line for line in render_status({"users": [], "sessions": [],
                                            "deadlines": keeper}, UTC) if "4242" in line]
    assert said == ["Time limits: a separate alarm process (pid 4242) tells each program "
                    "its time is up on time, even if the service itself hangs or is killed; "
                    "one that ignores that is killed by the service once its grace is over."]


def test_an_extended_session_is_named_without_a_wrong_possessive() -> None:
    """"Videos's session was already extended once" (review-12-s13 L7)."""
    from shepherd.engine import AlreadyExtended
    from tests.engine.conftest import FakeClock, engine, local

    e = engine('[[entries]]\nid = "videos"\nlabel = "Videos"\ncommand = ["v"]\n'
               'limits = { daily_quota = "1h" }\n')
    clock = FakeClock(local(25, 16))
    e.launch("alex", "videos", clock.now, 1)
    e.extend(1, 300, clock.now)
    with pytest.raises(AlreadyExtended) as refused:
        e.check_extend(1, clock.advance(60))
    assert str(refused.value) == ("The Videos session was already extended once; give time "
                                  "with grant instead")


@pytest.mark.parametrize(("kind", "named"), [
    ('[[entries]]\nid = "videos"\nlabel = "Videos"\ncommand = ["v"]\n'
     'limits = { weekly_quota = "1h" }\n', "Videos has"),
    ('[[entries]]\nid = "videos"\nlabel = "Videos"\ncommand = ["v"]\n'
     '[[groups]]\nid = "screens"\nentries = ["videos"]\nweekly_quota = "2h"\n',
     "The screens budget has")])
def test_a_weekly_only_target_is_named_by_its_label(kind: str, named: str) -> None:
    """"'videos': it has only a weekly quota …" named the id in quotes (review-12-s13 L7)."""
    from shepherd.engine import ActionRefused
    from tests.engine.conftest import FakeClock, engine, local

    e = engine(kind)
    target = "screens" if "groups" in kind else "videos"
    with pytest.raises(ActionRefused) as refused:
        e.grant("alex", target, 600, FakeClock(local(23, 10)).now, mode="set")
    assert str(refused.value) == (f"{named} only a weekly quota, so there is no day's total "
                                  "to set: add time for today (+D) or take some back (-D) "
                                  "instead")


def test_grant_answers_as_data_with_json(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """SPEC §1: ``--json`` everywhere; ``grant`` had none (review-12-s13 L7)."""
    import json

    answer: dict[str, Any] = {"user": "kid", "target": "game", "label": "Game",
                              "seconds": 900, "mode": "add"}
    monkeypatch.setattr(remote, "_run", lambda args, method, **params: answer)
    args = remote_parse("grant", "kid", "game", "+15m", "--json")
    assert args.handler(args) == 0
    assert json.loads(capsys.readouterr().out) == answer


def remote_parse(*argv: str) -> argparse.Namespace:
    from shepherd.cli import build_parser
    return build_parser().parse_args(argv)
