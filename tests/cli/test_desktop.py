"""``shepherd desktop install|remove``: launchers through Shepherd, originals hidden (issue 10)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import ME, ROOT, daemon_factory, policy

__all__ = ["daemon_factory"]

ORIGINAL = """[Desktop Entry]
Type=Application
Name=Example Game
Exec=example-game %U
Icon=org.example.Game
Categories=Game;ArcadeGame;
"""


def shepherd(d: Any, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shepherd", "--socket", str(d.socket), *args],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_launchers_go_through_shepherd_hide_the_originals_validate_and_are_removed(
        daemon_factory: Any, tmp_path: Path) -> None:
    system = tmp_path / "system"
    (system / "applications").mkdir(parents=True)
    (system / "applications" / "org.example.Game.desktop").write_text(ORIGINAL)
    d = daemon_factory(policy('''
[[entries]]
id = "game"
label = "Example Game"
command = ["example-game"]
detect = { desktop = "org.example.Game.desktop", flatpak = "org.example.Flat" }

[[entries]]
id = "drawing"
command = ["drawing"]

[[entries]]
id = "not-mine"
command = ["x"]
users = ["sam"]
''', users='\n[[users]]\nname = "sam"\n'))
    home = tmp_path / "data"
    env = {"XDG_DATA_HOME": str(home), "SHEPHERD_DESKTOP_DIRS": str(system)}
    apps = home / "applications"
    apps.mkdir(parents=True)
    (apps / "my-own.desktop").write_text(ORIGINAL)  # the child's own file: never touched
    done = shepherd(d, env, "desktop", "install")
    assert done.returncode == 0, done.stderr
    assert f"2 launcher(s) for {ME}" in done.stdout
    files = sorted(p.name for p in apps.iterdir())
    assert files == ["my-own.desktop", "org.example.Flat.desktop", "org.example.Game.desktop",
                     "shepherd-drawing.desktop", "shepherd-game.desktop"]
    launcher = (apps / "shepherd-game.desktop").read_text()
    assert "\nExec=" in launcher and launcher.split("\nExec=")[1].split("\n")[0].endswith(
        "shepherd launch game")
    assert "Icon=org.example.Game\n" in launcher and "Name=Example Game\n" in launcher
    hider = (apps / "org.example.Game.desktop").read_text()
    assert "Hidden=true" in hider and "NoDisplay=true" in hider
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.fail("desktop-file-validate is missing (Debian: desktop-file-utils; .ci/run "
                    "installs it)")
    for path in apps.glob("*.desktop"):
        checked = subprocess.run([validate, str(path)], capture_output=True, text=True)
        assert checked.returncode == 0 and not checked.stdout.strip(), (path, checked.stdout)
    again = shepherd(d, env, "desktop", "install")  # twice is the same as once
    assert again.returncode == 0 and sorted(p.name for p in apps.iterdir()) == files
    removed = shepherd(d, env, "desktop", "remove")
    assert removed.returncode == 0, removed.stderr
    assert sorted(p.name for p in apps.iterdir()) == ["my-own.desktop"]


def test_a_planted_symlink_is_not_followed_and_another_childs_menu_needs_a_parent(
        daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(policy('[[entries]]\nid = "game"\ncommand = ["x"]\n'
                              'detect = { desktop = "org.example.Game" }\n'))
    home = tmp_path / "data"
    apps = home / "applications"
    apps.mkdir(parents=True)
    target = tmp_path / "precious"
    target.write_text("keep me")
    (apps / "org.example.Game.desktop").symlink_to(target)
    done = shepherd(d, {"XDG_DATA_HOME": str(home)}, "desktop", "install")
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "keep me" and "is not Shepherd's" in done.stderr
    nobody = shepherd(d, {}, "desktop", "install", "--user", "nobody")
    assert nobody.returncode == 1
    assert "nobody" in nobody.stderr and "Traceback" not in nobody.stderr
