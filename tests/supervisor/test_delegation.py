"""System mode, direct backend: session groups only in a subtree delegated to the daemon.

Under systemd every cgroup is the manager's except a ``Delegate=yes`` unit's subtree,
which systemd marks with the ``trusted.delegate``/``user.delegate`` attributes. A
daemon started in any other group (a unit without ``Delegate=yes``, a shell's scope)
must not make its session groups there: it says so in words at start and falls back
to process trees. Checked on real cgroups, each made below this test's own (systemd
is not PID 1 here, so "systemd manages the tree" is pointed at a directory the test
makes, inside the daemon's process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shepherd.supervisor.cgroups import cgroup2_mount, cgroup_of, delegation_problem, remove
from tests.supervisor.conftest import NO_CGROUP

pytestmark = [pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}"),
              pytest.mark.skipif(os.geteuid() != 0, reason="marks and chowns cgroups")]

# The daemon's start, in a process of its own placed in the group first (as systemd
# places a service's main process), with systemd's run directory pointed at argv[3].
START = """
import asyncio, json, os, sys
from pathlib import Path
from shepherd.supervisor import cgroups
from shepherd.supervisor.direct import DirectBackend
group, instance, running = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
(group / "cgroup.procs").write_text(str(os.getpid()))
cgroups.SYSTEMD_RUNNING = running

async def main() -> None:
    backend = DirectBackend(Path(sys.argv[4]), instance, system_mode=True)
    membership = backend.start()
    made = sorted(p.name for p in group.iterdir() if p.is_dir())
    await backend.close()
    print(json.dumps({"how": membership.how, "airtight": membership.airtight, "made": made}))

asyncio.run(main())
(group.parent / "cgroup.procs").write_text(str(os.getpid()))  # out, so the test removes it
"""


@pytest.fixture
def group() -> Iterator[Path]:
    mount, own = cgroup2_mount(), cgroup_of()
    assert mount is not None and own is not None
    made = mount / own.lstrip("/") / f"i8-unit-{uuid.uuid4().hex[:8]}"
    made.mkdir()
    yield made
    remove(made)
    assert not made.exists(), "the test's group still holds a process"


def start_in(group: Path, tmp_path: Path, systemd: bool) -> dict[str, object]:
    running = tmp_path / "run-systemd-system"
    if systemd:
        running.mkdir(exist_ok=True)
    instance = uuid.uuid4().hex[:12]
    done = subprocess.run([sys.executable, "-c", START, str(group), instance, str(running),
                           str(tmp_path / "logs")],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    answer["instance"] = instance
    answer["log"] = done.stderr
    return answer


def test_under_systemd_a_group_not_delegated_gets_no_session_groups(group: Path,
                                                                   tmp_path: Path) -> None:
    answer = start_in(group, tmp_path, systemd=True)
    # Nothing made in systemd's group; said in words, and the fallback holds the sessions.
    assert answer["made"] == []
    assert answer["airtight"] is False
    how = str(answer["how"])
    assert how.startswith("process trees, NOT cgroups") and "not delegated" in how
    assert f"{group} is not delegated" in how and "Delegate=yes" in how
    assert "not delegated" in str(answer["log"])  # and logged as an error


@pytest.mark.parametrize("mark", ["user.delegate", "trusted.delegate"])
def test_under_systemd_a_delegated_group_holds_the_session_groups(group: Path, tmp_path: Path,
                                                                 mark: str) -> None:
    os.setxattr(group, mark, b"1")  # what systemd does for a unit with Delegate=yes
    answer = start_in(group, tmp_path, systemd=True)
    assert answer["airtight"] is True
    assert answer["made"] == [f"shepherd-{answer['instance']}"]
    assert str(answer["how"]) == f"cgroup v2 ({group}/shepherd-{answer['instance']})"


def test_a_mark_other_than_1_is_no_delegation(group: Path, tmp_path: Path) -> None:
    os.setxattr(group, "user.delegate", b"0")
    assert delegation_problem(group, managed=True) is not None
    assert start_in(group, tmp_path, systemd=True)["made"] == []


def test_without_systemd_the_daemons_own_writable_group_is_its_own(group: Path,
                                                                  tmp_path: Path) -> None:
    assert delegation_problem(group, managed=False) is None
    answer = start_in(group, tmp_path, systemd=False)
    assert answer["airtight"] is True and answer["made"] == [f"shepherd-{answer['instance']}"]


def test_without_systemd_a_group_of_another_owner_is_not_the_daemons(group: Path) -> None:
    os.chown(group, 65534, -1)
    problem = delegation_problem(group, managed=False)
    assert problem is not None and "owned by uid 65534" in problem
