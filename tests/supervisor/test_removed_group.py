"""A cgroup removed while it is being read is empty, and one watch's failure is not everyone's.

CI s7 saw ``populated`` raise ``OSError(ENODEV)``: the scope's group was removed
between the open of its ``cgroup.events`` and the read, the watch's callback died
with it, and the session was never reported over.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from shepherd.supervisor import cgroups
from shepherd.supervisor.cgroups import freeze_asked, frozen, populated
from shepherd.supervisor.inotify import Inotify
from tests.supervisor.conftest import NO_CGROUP

pytestmark = pytest.mark.skipif(NO_CGROUP is not None, reason=f"cgroup v2: {NO_CGROUP}")


def test_the_kernel_says_enodev_when_a_group_goes_between_open_and_read(group: Path) -> None:
    child = group / "going"
    child.mkdir()
    fd = os.open(child / "cgroup.events", os.O_RDONLY)
    try:
        child.rmdir()
        with pytest.raises(OSError) as caught:
            os.read(fd, 4096)
        assert caught.value.errno == errno.ENODEV
    finally:
        os.close(fd)


@pytest.mark.parametrize("ask", [populated, frozen, freeze_asked])
def test_a_group_removed_mid_read_is_empty_not_an_error(
        group: Path, monkeypatch: pytest.MonkeyPatch, ask: object) -> None:
    child = group / "going"
    child.mkdir()
    real = Path.read_text

    def removed_between_open_and_read(self: Path, *args: object, **kwargs: object) -> str:
        if self.parent != child:
            return real(self)
        with open(self) as handle:  # the open succeeds ...
            child.rmdir()           # ... the group goes ...
            return handle.read()    # ... and the read meets ENODEV

    monkeypatch.setattr(Path, "read_text", removed_between_open_and_read)
    assert callable(ask)
    assert ask(child) is False
    assert not child.exists()


def test_members_of_a_group_removed_mid_read_are_none(
        group: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child = group / "going"
    child.mkdir()
    real = Path.read_text

    def removed_between_open_and_read(self: Path, *args: object, **kwargs: object) -> str:
        if self.parent != child:
            return real(self)
        with open(self) as handle:
            child.rmdir()
            return handle.read()

    monkeypatch.setattr(Path, "read_text", removed_between_open_and_read)
    assert cgroups.members(child) == []


def test_a_watch_that_fails_does_not_leave_the_others_unheard(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("")
    second.write_text("")
    heard: list[str] = []

    def fails() -> None:
        heard.append("first")
        raise OSError(errno.ENODEV, "No such device")

    async def go() -> None:
        watcher = Inotify()
        watcher.add(first, fails)
        watcher.add(second, lambda: heard.append("second"))
        first.write_text("x")
        second.write_text("x")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if "second" in heard:
                break
        watcher.close()

    asyncio.run(go())
    assert heard == ["first", "second"]
