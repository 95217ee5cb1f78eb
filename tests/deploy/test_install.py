"""Walk the README's install steps as far as a machine without systemd allows.

The steps are read from README.md itself, so they cannot rot silently: absolute
paths are moved under a temporary root, and the steps that need systemd, apt or
an editor are skipped. The package is built and installed into a fresh venv.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = ("apt-get", "editor", "systemd-sysusers", "usermod", "groupdel", "systemctl")
MOVED = ("/opt/shepherd", "/etc/", "/usr/lib/", "/usr/local/bin")


def readme_steps(name: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {name}-steps.*?```sh\n(.*?)```", text, re.S)
    assert block is not None, f"README.md lost its {name}-steps block"
    steps = []
    for line in block.group(1).splitlines():
        command = line.split("  #")[0].strip()
        if command:
            steps.append(command)
    return steps


def install_steps() -> list[str]:
    return readme_steps("install")


def test_steps_assume_neither_sudo_nor_user() -> None:
    """A fresh Debian has no sudo, and in a root shell $USER is root, not the parent."""
    for name in ("install", "upgrade", "uninstall"):
        for step in readme_steps(name):
            assert not step.startswith("sudo"), step
            assert "$USER" not in step and "${USER}" not in step, step
    text = (ROOT / "README.md").read_text()
    assert "su -" in text and "libnotify-bin" in text
    assert any("libnotify-bin" in step for step in install_steps())
    # Review s7 L9: the package lists first; git named; cd into the checkout after su -.
    steps = install_steps()
    assert steps.index("apt-get update") < next(
        i for i, s in enumerate(steps) if s.startswith("apt-get install"))
    assert "apt-get install -y git" in text and "`cd` into the checkout" in text


def run_steps(steps: list[str], checkout: Path, rootfs: Path, env: dict[str, str],
              child: str = "CHILD") -> list[str]:
    ran = []
    for step in steps:
        if step.startswith(SKIPPED):
            continue
        step = re.sub(r"\bCHILD\b", child, step)
        for prefix in MOVED:
            step = re.sub(rf"(?<![\w.]){re.escape(prefix)}", f"{rootfs}{prefix}", step)
        done = subprocess.run(["bash", "-c", step], cwd=checkout, env=env,
                              capture_output=True, text=True, timeout=600)
        expected = 5 if step == "shepherd status" else 0  # no daemon here: "not reachable"
        assert done.returncode == expected, f"{step}\n{done.stdout}\n{done.stderr}"
        ran.append(step.split()[0])
    return ran


def test_readme_install_steps_work_on_a_machine_without_systemd(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*cache*", "build", "*.egg-info", "__pycache__"))
    rootfs = tmp_path / "root"
    (rootfs / "usr/local/bin").mkdir(parents=True)
    env = {**os.environ, "PATH": f"{rootfs}/usr/local/bin:{os.environ['PATH']}",
           "XDG_RUNTIME_DIR": str(tmp_path / "run"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("SHEPHERD_SOCKET", None)
    env.pop("VIRTUAL_ENV", None)
    ran = run_steps(install_steps(), checkout, rootfs, env)
    assert "shepherd" in ran and any("pip" in s for s in ran)
    installed = rootfs / "opt/shepherd/bin/shepherd"
    assert installed.exists()
    assert (rootfs / "usr/local/bin/shepherd").resolve() == installed.resolve()
    help_text = subprocess.run([str(installed), "--help"], capture_output=True, text=True,
                               env=env, check=True).stdout
    for command in ("daemon", "demo", "status", "launch", "grant", "audit", "usage", "policy"):
        assert command in help_text
    check = subprocess.run([str(installed), "policy", "check", "policy.example.toml"],
                           cwd=checkout, capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout
    copy = rootfs / "etc/shepherd/policy.toml"
    assert copy.read_text() == (ROOT / "policy.example.toml").read_text()
    assert (rootfs / "etc/systemd/system/shepherd.service").exists()
    assert (rootfs / "usr/lib/sysusers.d/shepherd.conf").exists()

    # Upgrade: a newer version over the installed one; the policy stays as the parent left it.
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', 'version = "99.0.0"',
                                pyproject.read_text()))
    (checkout / "shepherd/__init__.py").write_text(re.sub(
        r'__version__ = ".*"', '__version__ = "99.0.0"',
        (checkout / "shepherd/__init__.py").read_text()))
    copy.write_text(copy.read_text() + "\n# the parent's edit\n")
    ran = run_steps(readme_steps("upgrade"), checkout, rootfs, env)
    assert any("pip" in s for s in ran) and "shepherd" in ran and "install" in ran
    version = subprocess.run([str(installed), "--version"], capture_output=True, text=True,
                             env=env, check=True).stdout
    assert version.strip() == "shepherd 99.0.0"
    assert copy.read_text().endswith("# the parent's edit\n")

    # Uninstall: the child's menu is given back and the agent's autostart goes before the
    # program (review s7 M5: launchers left behind run a missing program, the originals
    # stay hidden); the program and units go, the policy and the record stay.
    steps = readme_steps("uninstall")
    menu = next(i for i, s in enumerate(steps) if s.startswith("shepherd desktop remove"))
    package = next(i for i, s in enumerate(steps) if "/opt/shepherd" in s)
    assert menu < package
    applications = tmp_path / "data/applications"  # the child's menu (here: this account's)
    applications.mkdir(parents=True)
    ours = applications / "shepherd-game.desktop"
    ours.write_text("[Desktop Entry]\nType=Application\nName=Game\nExec=shepherd launch game\n"
                    "X-Shepherd-Entry=game\n")
    theirs = applications / "other.desktop"
    theirs.write_text("[Desktop Entry]\nType=Application\nName=Other\nExec=other\n")
    agent = [rootfs / "etc/xdg/autostart/shepherd-agent.desktop",
             rootfs / "usr/lib/systemd/user/shepherd-agent.service"]
    for path in agent:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    me = pwd.getpwuid(os.getuid()).pw_name
    run_steps(steps, checkout, rootfs, {**env, "XDG_DATA_HOME": str(tmp_path / "data")}, me)
    assert not ours.exists() and theirs.exists()  # exactly what Shepherd wrote
    assert not any(path.exists() for path in agent)
    assert not (rootfs / "opt/shepherd").exists()
    assert not (rootfs / "usr/local/bin/shepherd").exists()
    assert not (rootfs / "usr/local/bin/shepherd").is_symlink()
    assert not (rootfs / "etc/systemd/system/shepherd.service").exists()
    assert not (rootfs / "usr/lib/sysusers.d/shepherd.conf").exists()
    assert copy.exists()
