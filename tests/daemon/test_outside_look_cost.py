"""review-9-s10 L3: a child's storm of program starts is looked at on the daemon's loop,
one start at a time. A start that no rule matches costs the few ``/proc`` reads its
match needs: it is not judged (``protected`` walks the daemon's ancestors in ``/proc``;
``held_elsewhere`` needs its cgroup) and its cgroup is not read. A start a rule matches
is judged as before, and handed on with its cgroup."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shepherd.daemon import outside
from shepherd.detect import facts as facts_module
from tests.daemon.test_outside import game_rule
from tests.daemon.test_outside_gone_forks import settled, watch_over


@pytest.mark.parametrize("first_read", ["as it is", "in its exec"])
def test_a_start_no_rule_matches_is_not_judged_and_a_match_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_read: str) -> None:
    """(``in its exec``: the game's first read is said to be in the middle of its exec,
    as it is when the daemon's look comes while the kernel lays out its command line;
    ci34a, at load, after ``Popen`` returned: it is looked at again a moment later and
    judged then.)"""
    game = tmp_path / "game"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", game)
    watch, handed = watch_over(game_rule(game), 0, user_mode=False)
    judged: list[int] = []
    cgroups: list[object] = []
    real_protected, real_cgroup = outside.protected, facts_module.cgroup_path
    monkeypatch.setattr(outside, "protected", lambda: judged.append(1) or real_protected())
    monkeypatch.setattr(facts_module, "cgroup_path",
                        lambda pid: cgroups.append(pid) or real_cgroup(pid))
    if first_read == "in its exec":
        real_read, told = outside.read_facts, set()

        def read_in_exec(pid: int, *args: Any, **kwargs: Any) -> Any:
            facts = real_read(pid, *args, **kwargs)
            if facts is None or facts.exe != str(game) or pid in told:
                return facts
            told.add(pid)
            return dataclasses.replace(facts, in_exec=True)

        monkeypatch.setattr(outside, "read_facts", read_in_exec)
    other = subprocess.Popen(["/bin/sleep", "1000"])
    played = subprocess.Popen([str(game), "1000"])
    try:
        async def see() -> None:
            watch._exec(other.pid)
            assert (judged, cgroups) == ([], []), "a start no rule matches was judged"
            watch._exec(played.pid)
            await settled(watch)

        asyncio.run(see())
        assert judged and cgroups, "a start a rule matches was not judged"
        assert [seen.pid for seen in handed] == [played.pid]
        assert handed[0].cgroup == real_cgroup(played.pid)
    finally:
        for process in (other, played):
            process.kill()
            process.wait()
