"""What the household store's problems are called (review 17-s4 #7): a login the server
refuses is not "cannot be reached"."""

from __future__ import annotations

import psycopg

from shepherd.store.household.connect import describe, where


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


def test_a_server_away_is_said_in_words_before_libpq_s_line() -> None:
    """Review 17 s7 N5: a parent's `grant` while the store was away answered in libpq's
    words only ("connection is bad: connection to server on socket ... failed: ...")."""
    exc = psycopg.OperationalError(
        'connection is bad: connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: '
        'No such file or directory')
    said = describe(exc)
    head, _, detail = said.partition(" (")
    assert head == ("the household store cannot be reached: "
                    "its server is not running on this computer"), said
    assert detail.startswith("connection is bad"), said


def test_where_the_store_is_never_tells_a_secret() -> None:
    """Review 17 s7 N4: `health` named the store "postgresql"."""
    assert where("postgresql://kid:hunter2@db.home:5433/shepherd") == (
        "the database shepherd on db.home:5433")
    assert where("postgresql:///shepherd?host=/run/postgresql") == (
        "the database shepherd on this computer")
    assert where("postgresql:///?service=shepherd") == "the PostgreSQL service shepherd"
    assert "hunter2" not in where("postgresql://db.home/x?password=hunter2")
    assert where("postgresql:///t?service=shepherd") == (
        "the database t of the PostgreSQL service shepherd")
