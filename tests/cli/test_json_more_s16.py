"""SPEC §1: ``--json`` everywhere. ``clock accept``, ``policy reload``, ``policy check``,
``store backup`` and ``desktop install|remove`` had none (tidy15's note): each now prints
its result as one document, and the sentence only without ``--json``. An error with
``--json`` is a document too, ``{"error": {"code", "message", "exit"}}`` (the daemon's own
``rpc_code`` and ``data`` with it), on stdout with the same exit code and nothing on
stderr; without ``--json`` it is said as before. The commands run in this process
(``main``), the daemon in its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shepherd.cli import main
from tests.cli.test_action_id import NAP
from tests.cli.test_desktop import ORIGINAL
from tests.daemon.conftest import daemon_factory, policy

__all__ = ["daemon_factory"]

Shepherd = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Shepherd:
    """``run(*argv)``: the command's exit code, stdout and stderr."""

    def shepherd(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return shepherd


def document(said: tuple[int, str, str], code: int = 0) -> Any:
    """One JSON document on stdout, nothing on stderr, the exit code ``code``."""
    assert said[0] == code and not said[2], said
    return json.loads(said[1])


def failed(said: tuple[int, str, str], code: int, name: str) -> dict[str, Any]:
    """An error as data: its code, its sentence, its exit code."""
    error: dict[str, Any] = document(said, code)["error"]
    assert error["code"] == name and error["exit"] == code and error["message"], error
    return error


def test_the_daemons_commands_answer_as_data_and_their_errors_too(
        daemon_factory: Any, run: Shepherd, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    d = daemon_factory(policy(NAP))
    sock = ["--socket", str(d.socket)]
    assert document(run(*sock, "clock", "accept", "--json"))["accepted"] is False
    assert run(*sock, "clock", "accept") == (
        0, "There is no clock jump waiting to be accepted; nothing changed.\n", "")

    reloaded = document(run(*sock, "policy", "reload", "--json"))
    assert reloaded["loaded"] == str(d.policy_path), reloaded
    d.policy_path.write_text(policy(NAP.replace('"10m"', '"10 minutes"')))
    rejected = failed(run(*sock, "policy", "reload", "--json"), 1, "policy_rejected")
    assert rejected["rpc_code"] == -32020 and rejected["data"]["errors"], rejected
    assert rejected["message"].startswith("policy rejected; the old policy stays in force\n")
    said = run(*sock, "policy", "reload")  # without --json: the sentence, as before
    assert said[0] == 1 and not said[1] and said[2] == f"shepherd: {rejected['message']}\n"

    copy = tmp_path / "backup.sqlite"
    backup = document(run(*sock, "store", "backup", str(copy), "--json"))
    assert backup["path"] == str(copy) and backup["ok"] is True and backup["checked"] > 0
    again = failed(run(*sock, "store", "backup", str(copy), "--json"), 2, "invalid")
    assert "already exists" in again["message"] and again["rpc_code"] == -32602, again
    local = document(run("store", "backup", str(tmp_path / "b2"), "--db", str(copy), "--json"))
    assert local == {**backup, "path": str(tmp_path / "b2")}, (local, backup)
    assert failed(run("store", "backup", str(copy), "--db", str(copy), "--json"), 1,
                  "store_error")["message"].endswith("choose a new file name")

    system = tmp_path / "system"
    (system / "applications").mkdir(parents=True)
    (system / "applications" / "org.example.Game.desktop").write_text(ORIGINAL)
    d.policy_path.write_text(policy(NAP + '\n[[entries]]\nid = "game"\ncommand = ["x"]\n'
                                    'detect = { desktop = "org.example.Game.desktop", '
                                    'flatpak = "org.example.Flat" }\n'))
    document(run(*sock, "policy", "reload", "--json"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("SHEPHERD_DESKTOP_DIRS", str(system))
    apps = tmp_path / "data" / "applications"
    apps.mkdir(parents=True)
    (apps / "org.example.Flat.desktop").write_text(ORIGINAL)  # the child's own: left alone
    installed = document(run(*sock, "desktop", "install", "--json"))
    assert installed["directory"] == str(apps) and installed["launchers"] == ["nap", "game"]
    assert installed["written"] == ["shepherd-nap.desktop", "shepherd-game.desktop",
                                    "org.example.Game.desktop"], installed
    assert installed["hidden"] == ["org.example.Game.desktop"], installed
    assert installed["left_alone"] == ["org.example.Flat.desktop"], installed
    said = run(*sock, "desktop", "install")
    assert said == (0, f"2 launcher(s) for {installed['user']} in {apps}; 1 original "
                    "launcher(s) hidden from their menu\n",
                    f"left {apps / 'org.example.Flat.desktop'} alone: it is not Shepherd's\n")
    removed = document(run(*sock, "desktop", "remove", "--json"))
    assert removed["removed"] == ["org.example.Game.desktop", "shepherd-game.desktop",
                                  "shepherd-nap.desktop"], removed
    assert sorted(p.name for p in apps.iterdir()) == ["org.example.Flat.desktop"]
    assert failed(run(*sock, "desktop", "install", "--user", "ghost-s16", "--json"), 1,
                  "error")["message"] == "'ghost-s16' is not an account on this machine"

    d.stop()
    gone = failed(run(*sock, "clock", "accept", "--json"), 5, "unreachable")
    assert f"Is a daemon running with `--socket {d.socket}`?" in gone["message"], gone


GOOD = policy(NAP, child="nobody")  # root as the child is warned
WARNED = policy(NAP.replace('command = ["sleep", "600"]',
                            'command = ["definitely-not-a-program-s16"]'), child="nobody")
BAD = policy(NAP.replace('"10m"', '"10 minutes"'), child="nobody")


def test_policy_check_gives_its_problems_and_its_verdict_as_data(
        run: Shepherd, tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.toml" for name in ("good", "warned", "bad")}
    for name, text in (("good", GOOD), ("warned", WARNED), ("bad", BAD)):
        files[name].write_text(text)
    good = document(run("policy", "check", str(files["good"]), "--json"))
    assert good["ok"] is True and good["problems"] == [] and good["errors"] == 0, good
    assert (good["users"], good["entries"], good["groups"]) == (1, 1, 0), good
    assert good["text"] == run("policy", "check", str(files["good"]))[1].strip()

    warned = document(run("policy", "check", str(files["warned"]), "--json"))
    [problem] = warned["problems"]
    assert warned["ok"] is True and warned["warnings"] == 1 and problem["severity"] == "warning"
    assert problem["field"] == "entries[0].command[0]" and problem["line"] > 0, problem
    assert "is not installed here" in problem["message"], problem
    plain = run("policy", "check", str(files["warned"]))
    assert plain[1].splitlines()[0] == problem["text"], (plain, problem)
    strict = run("policy", "check", str(files["warned"]), "--strict", "--json")
    assert json.loads(strict[1])["problems"] == warned["problems"]
    assert failed(strict, 1, "strict_warnings")["message"] == (
        f"{files['warned']}: 1 warning, which --strict counts as errors")

    said = run("policy", "check", str(files["bad"]), "--json")
    bad = document(said, 1)
    assert bad["ok"] is False and bad["errors"] == 1 and "users" not in bad, bad
    assert bad["problems"][0]["severity"] == "error", bad
    error = failed(said, 1, "policy_rejected")
    plain = run("policy", "check", str(files["bad"]))  # without --json: as before
    assert plain == (1, bad["problems"][0]["text"] + "\n", error["message"] + "\n"), plain

    missing = failed(run("policy", "check", str(tmp_path / "none.toml"), "--json"), 1,
                     "no_policy")
    assert missing["message"].startswith(f"there is no policy at {tmp_path / 'none.toml'}")
