"""review-12-s13's LOWs still true on s16's branch, each in the parent's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from shepherd.cli import main
from shepherd.cli.common import unreachable
from shepherd.ipc.client import SYSTEM_SOCKET


def test_l8_a_socket_given_by_path_is_not_answered_with_the_user_mode_advice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--socket /x`` where nothing runs: the advice was to start the user-mode daemon,
    which would not start one at /x (L8)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("SHEPHERD_SOCKET", raising=False)
    elsewhere = tmp_path / "nosock"
    assert main(["--socket", str(elsewhere), "status"]) == 5
    said = capsys.readouterr().err
    assert said.endswith(f"Is a daemon running with `--socket {elsewhere}`? Check the path: "
                         f"the service's socket is {SYSTEM_SOCKET}, the user-mode daemon's "
                         f"{tmp_path / 'runtime/shepherd/shepherd.sock'}.\n"), said
    assert "daemon --user" not in said and "systemctl" not in said, said
    monkeypatch.setenv("SHEPHERD_SOCKET", str(elsewhere))  # the same from the variable
    assert main(["status"]) == 5 and capsys.readouterr().err == said

    user = tmp_path / "runtime/shepherd/shepherd.sock"
    assert main(["--socket", str(user), "status"]) == 5  # the user-mode daemon's own
    assert "Start it with `shepherd daemon --user`" in capsys.readouterr().err
    system = str(unreachable("cannot reach the daemon", SYSTEM_SOCKET))
    assert "systemctl start shepherd" in system and "daemon --user" not in system
