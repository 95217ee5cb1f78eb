"""What the household store's problems are called (review 17-s4 #7): a login the server
refuses is not "cannot be reached"."""

from __future__ import annotations

import psycopg

from shepherd.store.household.connect import describe


def test_a_wrong_password_is_called_a_wrong_password() -> None:
    exc = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 54317 failed: '
        'FATAL:  password authentication failed for user "shepherd"')
    said = describe(exc)
    assert "refused this machine's password" in said
    assert "cannot be reached" not in said
    assert "~/.pgpass" in said


def test_a_server_away_is_still_unreachable() -> None:
    exc = psycopg.OperationalError(
        'connection failed: connection to server on socket "/run/postgresql/.s.PGSQL.5432" '
        'failed: No such file or directory')
    assert describe(exc).startswith("the household store cannot be reached")
