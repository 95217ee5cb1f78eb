"""Commands answered by the running daemon (until the daemon exists: not reachable)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any, NoReturn

from shepherd.cli.common import EXIT_UNREACHABLE, CommandError
from shepherd.store import AuditEvent, AuditFilter


def require_daemon(args: argparse.Namespace) -> NoReturn:
    raise CommandError("the daemon is not reachable; pass --db PATH to read a store file",
                       EXIT_UNREACHABLE)


def remote_audit(args: argparse.Namespace, flt: AuditFilter) -> Iterator[AuditEvent]:
    require_daemon(args)


def remote_verify(args: argparse.Namespace) -> tuple[bool, int, str]:
    require_daemon(args)


def remote_usage(args: argparse.Namespace) -> dict[str, Any]:
    require_daemon(args)


def remote_backup(args: argparse.Namespace) -> int:
    require_daemon(args)
