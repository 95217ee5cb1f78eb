"""Review-9-s13 L4: while the store's files cannot be written (``chattr +i``: read-only or
immutable), ``audit.verify``, ``store.backup`` and ``usage.history`` answered "The store
cannot be read just now: … cannot be written …", though it could be read (``audit.query``
answered from it). A store that can be read is read during such a fault, and backed up
(a backup is most wanted then); what cannot be done is said as what it is."""

from __future__ import annotations

import contextlib
import io
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shepherd.cli.review import print_usage_report
from shepherd.ipc.protocol import RpcError
from shepherd.store import Store
from tests.daemon.conftest import ME
from tests.daemon.test_store_faults import GAME, Run, store_files, wait_until


def test_reads_verify_and_a_backup_go_on_while_the_store_cannot_be_written(
        far_daemon_factory: Any, immutable: Any, tmp_path: Path) -> None:
    d = far_daemon_factory(GAME)
    done = d.call("launch", entry="other")["session_id"]
    time.sleep(0.3)
    d.call("stop", session_id=done)
    run = Run(d)
    time.sleep(0.5)
    immutable(store_files(d), True)
    health = wait_until(lambda: (h := d.call("health"))["store"] != "ok" and h,
                        what="health to say the store is unavailable")
    assert "cannot be written" in str(health), health

    # Each asked first on its own connection, before any other read of the fault.
    usage = d.call("usage.history", user=ME, days=1)
    assert usage["days"], usage
    # ... saying that its figures leave out the time since the fault began, which `status`
    # counts (review-9-s15e M-1e: read as the day's use)
    since = datetime.fromisoformat(usage["store_away"]["since"])
    assert 0 <= (datetime.now(UTC) - since).total_seconds() < 30, usage["store_away"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        print_usage_report(usage)
    assert printed.getvalue().startswith("The store cannot be written just now, so these "
                                         "figures leave out the time used since "), printed
    verified = d.call("audit.verify")
    assert verified["ok"] and verified["checked"] > 3, verified
    copy = tmp_path / "during-the-fault.db"
    backed = d.call("store.backup", path=str(copy))
    assert backed["ok"] and backed["checked"] >= verified["checked"], backed
    kept = Store.open_readonly(copy)
    try:
        types = [str(r[0]) for r in kept.db.conn.execute("SELECT type FROM audit ORDER BY id")]
    finally:
        kept.close()
    assert types[:2] == ["service_started", "policy_loaded"] and "session_ended" in types
    closed = tmp_path / "closed"  # a backup that cannot be written says so, as a backup
    closed.mkdir()
    immutable([closed], True)
    with pytest.raises(RpcError) as caught:
        d.call("store.backup", path=str(closed / "b.db"))
    assert caught.value.message == (f"No backup was made: {closed / 'b.db'} could not be "
                                    "written (unable to open database file)"), (
        caught.value.message)
    page = d.call("audit.query", limit=1000, types=["session_started"])
    assert len(page["events"]) == 2, page

    immutable(store_files(d), False)
    wait_until(lambda: d.call("health")["ok"], what="health ok again")
    assert "store_away" not in d.call("usage.history", user=ME, days=1)
    run.stop()
