"""Review-9-s13 L5: a parameter a method does not know was ignored without a word
(``audit.query {"limit": 1000, "type": "session_adopted"}`` answered the unfiltered page:
a parent's filter, silently dropped, shows the wrong rows). Every method now refuses a
``params`` key it does not take, with INVALID_PARAMS naming it and the ones it takes,
before anything is done. Each method's names are declared once, above the code that reads
them (``@takes``); these tests hold the declaration and the reading to each other."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest

from shepherd.daemon.methods import Methods, Params
from shepherd.ipc.protocol import INVALID_PARAMS, Request, RpcError
from shepherd.ipc.server import Connection, Peer
from shepherd.policy import load_policy_text
from tests.daemon.conftest import ME, policy, refused_params
from tests.daemon.test_expiring_grants import GAME


def test_an_unknown_parameter_is_refused_in_words_and_nothing_is_done(
        daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME), env={"TZ": "UTC"})
    # the review's call: "type" for "types"
    error = refused_params(d, "audit.query", limit=1000, type="session_adopted")
    assert error.message == (
        "audit.query has no parameter 'type' (did you mean 'types'? it takes: limit, types, "
        "since, until, user, entry, text, before)"), error.message
    assert error.data == {"method": "audit.query", "parameter": "type"}, error.data
    # The right name still works, and filters.
    page = d.call("audit.query", limit=1000, types=["service_started"])
    assert [e["type"] for e in page["events"]] == ["service_started"]

    # an action: refused before it is done
    error = refused_params(d, "grant", user=ME, target="game", duration="10m", reasons="homework")
    assert error.message == (
        "grant has no parameter 'reasons' (did you mean 'reason'? it takes: user, target, "
        "duration, mode, until, reason, preview, action_id)"), error.message
    assert d.call("status")["users"][0]["entries"][0]["remaining_today_s"] == 3600
    assert "time_granted" not in d.audit_types()

    error = refused_params(d, "status", verbose=True, all=1)  # it takes none; two unknown
    assert error.message == "status has no parameters 'all' and 'verbose' (it takes none)"
    assert d.call("health")["ok"]  # and the daemon goes on


def connection() -> Connection:
    context = {"role": "admin", "name": "root", "child": None}
    conn = Connection(Peer(pid=1, uid=0, gid=0), writer=None)  # type: ignore[arg-type]
    conn.context.update(context)
    return conn


def test_every_method_refuses_an_unknown_parameter_before_its_handler_runs() -> None:
    # The daemon is an empty namespace: a handler that ran would fail on it (AttributeError),
    # so an INVALID_PARAMS answer shows the check came first, for each method in the table.
    pol = load_policy_text('version = 1\n[[users]]\nname = "kid"\n')
    table = Methods(SimpleNamespace(policy=pol, config=SimpleNamespace(user_mode=False)))
    for method in table.table:
        conn = connection()
        conn.context["policy"] = pol
        request = Request(method, {"no_such_parameter": 1}, 1, False)
        with pytest.raises(RpcError) as caught:
            asyncio.run(table(request, conn))
        assert caught.value.code == INVALID_PARAMS, (method, caught.value)
        assert caught.value.message.startswith(
            f"{method} has no parameter 'no_such_parameter' (it takes"), caught.value.message


READERS = {name for name, _ in inspect.getmembers(Params, inspect.isfunction)} - {"__init__"}


def names_read(handler: Any) -> set[str]:
    """The parameter names a handler's source reads through ``params``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(handler)))
    read = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "params"):
            assert node.func.attr in READERS, node.func.attr
            if node.func.attr == "action_id":
                read.add("action_id")
            elif node.func.attr == "env":
                read.add("env")
            else:
                first = node.args[0]
                assert isinstance(first, ast.Constant), ast.dump(node)
                read.add(first.value)
        assert not (isinstance(node, ast.Attribute) and node.attr == "raw"), (
            "a handler reads params only through Params' readers")
    return read


def test_each_method_declares_exactly_the_parameters_its_code_reads() -> None:
    table = Methods(SimpleNamespace(policy=None, config=None))
    for method, (_, handler) in table.table.items():
        assert set(table.takes[method]) == names_read(handler), method


def test_a_name_too_long_says_the_bound() -> None:
    """review-14-s17 L5: 300 characters were refused as "must be a non-empty string"."""
    from shepherd.daemon.methods import Params

    for value in ("x" * 201, ""):
        with pytest.raises(RpcError) as refused:
            Params("launch", {"entry": value}).text("entry")
        assert refused.value.message == (
            "the entry must be a non-empty string of at most 200 characters")
    assert Params("launch", {"entry": "x" * 200}).text("entry") == "x" * 200
