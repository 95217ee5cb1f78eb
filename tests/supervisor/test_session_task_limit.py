"""Each session group's own task limit, out of the budget it shares with the daemon (issue 8,
review-8-s8 H-1, layer 2).

This machine's cgroup2 has no ``pids`` controller (it is bound to cgroup v1), so these run
the code against a directory tree made to look like a cgroup2 subtree: the same files,
read and written by the same functions; the kernel's side (that ``pids.max`` holds) is not
exercised here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shepherd.supervisor import taskbudget
from shepherd.supervisor.cgroups import CgroupHome
from shepherd.supervisor.inotify import Inotify


def tree(tmp_path: Path, limits: dict[str, str], controllers: str = "cpu pids") -> Path:
    """``mount/system.slice/shepherd.service/shepherd-x`` with these ``pids.max`` files
    (keys: paths under the mount; "" for the mount itself). The instance group."""
    mount = tmp_path / "cg"
    instance = mount / "system.slice" / "shepherd.service" / "shepherd-x"
    instance.mkdir(parents=True)
    for where in (instance.parent.parent, instance.parent, instance):
        (where / "cgroup.controllers").write_text(controllers + "\n")
        (where / "cgroup.subtree_control").write_text("")
    for name, value in limits.items():
        (mount / name / "pids.max").write_text(value + "\n")
    return instance


def test_the_nearest_finite_budget_above_the_daemon_less_its_reserve(tmp_path: Path) -> None:
    instance = tree(tmp_path, {"": "50", "system.slice": "max",
                               "system.slice/shepherd.service": "4915"})
    mount = tmp_path / "cg"
    assert taskbudget.budget(instance, mount) == 4915  # the mount's root is not a budget
    assert taskbudget.session_limit(instance, mount) == 4915 - taskbudget.RESERVE


def test_the_smallest_of_several_finite_budgets_binds(tmp_path: Path) -> None:
    instance = tree(tmp_path, {"system.slice": "300", "system.slice/shepherd.service": "max",
                               "system.slice/shepherd.service/shepherd-x": "max"})
    assert taskbudget.budget(instance, tmp_path / "cg") == 300


def test_a_small_budget_keeps_half_for_the_daemon(tmp_path: Path) -> None:
    instance = tree(tmp_path, {"system.slice/shepherd.service": "150"})
    assert taskbudget.session_limit(instance, tmp_path / "cg") == 75


def test_no_limit_is_written_when_every_ancestor_says_max(tmp_path: Path) -> None:
    instance = tree(tmp_path, {"system.slice": "max", "system.slice/shepherd.service": "max"})
    assert taskbudget.session_limit(instance, tmp_path / "cg") is None
    home = CgroupHome(tmp_path / "cg", instance.parent, instance, Inotify(), limit_tasks=True)
    try:
        assert not (home.create(3) / "pids.max").exists()
    finally:
        home.watcher.close()


def test_each_new_session_group_gets_its_limit(tmp_path: Path) -> None:
    instance = tree(tmp_path, {"system.slice/shepherd.service": "1000"})
    mount = tmp_path / "cg"
    assert taskbudget.enable(instance.parent, instance, mount)
    assert (instance / "cgroup.subtree_control").read_text() == "+pids"
    assert (instance.parent / "cgroup.subtree_control").read_text() == ""  # had it already
    home = CgroupHome(mount, instance.parent, instance, Inotify(), limit_tasks=True)
    try:
        assert (home.create(7) / "pids.max").read_text() == str(1000 - taskbudget.RESERVE)
    finally:
        home.watcher.close()


def test_the_start_group_passes_the_controller_down_first(tmp_path: Path) -> None:
    instance = tree(tmp_path, {"system.slice/shepherd.service": "1000"})
    (instance / "cgroup.controllers").write_text("cpu\n")  # not yet enabled above it
    assert taskbudget.enable(instance.parent, instance, tmp_path / "cg")
    assert (instance.parent / "cgroup.subtree_control").read_text() == "+pids"
    assert (instance / "cgroup.subtree_control").read_text() == "+pids"


@pytest.mark.parametrize("where", ["nowhere", "mount root"])
def test_without_the_controller_nothing_changes(tmp_path: Path, where: str) -> None:
    instance = tree(tmp_path, {"system.slice/shepherd.service": "1000"},
                    controllers="cpu" if where == "nowhere" else "cpu pids")
    (instance / "cgroup.controllers").write_text("cpu\n")
    start = instance.parent if where == "nowhere" else tmp_path / "cg"
    assert not taskbudget.enable(start, instance, tmp_path / "cg")
    assert (instance / "cgroup.subtree_control").read_text() == ""
    home = CgroupHome(tmp_path / "cg", start, instance, Inotify(), limit_tasks=False)
    try:
        assert not (home.create(1) / "pids.max").exists()
    finally:
        home.watcher.close()

