"""Review-14-s10 M1's leftover: who a uid is (NSS: ``getpwuid``, ``getgrnam``) is looked
up at most once per uid in ROLE_KEPT_S, not on each of a flood's connections. A reload (a
new policy object) drops what was kept, and so does time: a parent taken out of the admin
group is no parent seconds later; a uid not seen before is always looked up."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import shepherd.daemon.methods as methods
from shepherd.daemon.methods import Methods
from shepherd.ipc.server import Peer
from shepherd.policy import load_policy_text

POLICY = 'version = 1\n[supervisor]\nadmin_group = "parents"\n[[users]]\nname = "kid"\n'
NAMES = {1000: "kid", 1001: "pat", 1002: "sam"}


class Nss:
    """A passwd and group database that counts its look-ups."""

    def __init__(self) -> None:
        self.members: list[str] = []
        self.calls = 0

    def getpwuid(self, uid: int) -> Any:
        self.calls += 1
        if uid not in NAMES:
            raise KeyError(uid)
        return SimpleNamespace(pw_name=NAMES[uid], pw_gid=uid)

    def getgrnam(self, name: str) -> Any:
        self.calls += 1
        if name != "parents":
            raise KeyError(name)
        return SimpleNamespace(gr_mem=list(self.members), gr_gid=4242)


@pytest.fixture
def nss(monkeypatch: pytest.MonkeyPatch) -> Nss:
    fake = Nss()
    monkeypatch.setattr(methods.pwd, "getpwuid", fake.getpwuid)
    monkeypatch.setattr(methods.grp, "getgrnam", fake.getgrnam)
    return fake


def role(table: Methods, uid: int) -> str | None:
    found = table.identify(Peer(pid=1, uid=uid, gid=uid))
    return None if found is None else str(found["role"])


def test_a_uids_role_is_looked_up_once_per_policy_and_again_after_a_reload(nss: Nss) -> None:
    daemon: Any = SimpleNamespace(policy=load_policy_text(POLICY),
                                  config=SimpleNamespace(user_mode=False, child=None))
    table = Methods(daemon)
    assert [role(table, uid) for uid in (1000, 1001, 5001)] == ["child", None, None]
    looked = nss.calls
    for _ in range(50):  # a flood: nothing more is asked of NSS, strangers included
        assert [role(table, uid) for uid in (1000, 1001, 5001)] == ["child", None, None]
    assert nss.calls == looked
    assert role(table, 1002) is None and nss.calls > looked  # a new uid is looked up
    nss.members.append("pat")  # pat joins the parents' group: kept as before for a moment
    assert role(table, 1001) is None
    daemon.policy = load_policy_text(POLICY)  # what a reload does: a new policy object
    assert role(table, 1001) == "admin"
    assert role(table, 1000) == "child"


def test_a_parent_taken_out_of_the_group_is_no_parent_once_the_role_kept_is_old(
        nss: Nss, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fail closed: a role is kept seconds (ROLE_KEPT_S), never until a reload.
    clock = [1000.0]
    monkeypatch.setattr(methods.time, "monotonic", lambda: clock[0])
    daemon: Any = SimpleNamespace(policy=load_policy_text(POLICY),
                                  config=SimpleNamespace(user_mode=False, child=None))
    table = Methods(daemon)
    nss.members.append("pat")
    assert role(table, 1001) == "admin"
    nss.members.remove("pat")  # no reload
    clock[0] += methods.ROLE_KEPT_S - 0.001
    assert role(table, 1001) == "admin"  # kept: a flood asks nothing
    looked = nss.calls
    clock[0] += 0.001
    assert role(table, 1001) is None and nss.calls > looked


def test_each_connection_gets_its_own_copy_of_the_role(nss: Nss) -> None:
    daemon: Any = SimpleNamespace(policy=load_policy_text(POLICY),
                                  config=SimpleNamespace(user_mode=False, child=None))
    table = Methods(daemon)
    first = table.identify(Peer(pid=1, uid=1000, gid=1000))
    assert first is not None
    first["role"] = "admin"  # a connection's context is its own
    assert role(table, 1000) == "child"
