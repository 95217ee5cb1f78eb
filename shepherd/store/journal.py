"""This machine's local journal of accounting for a household store.

Every checkpoint and every session's end is written here first (a JSON line,
numbered), then applied to the household store, which keeps the number of the
last record of this machine it applied, in the same transaction. So:

- while the store cannot be reached, running sessions' seconds are not lost:
  they wait here (each line synced to disk), and are applied when it returns;
- whatever is replayed (after a crash between the journal and the store, or a
  restart during a partition), each record is applied exactly once;
- records are applied in the order they were written.

Records the store has applied are dropped; the file is cut back to its header
when it has grown and nothing in it waits. Blocking: call it from threads
(never the event loop); one lock makes it safe from two.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COMPACT_BYTES = 256 * 1024


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._next = 1
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        lines = text.splitlines()
        for number, line in enumerate(lines):
            try:
                record = json.loads(line)
            except ValueError:
                if number == len(lines) - 1:  # cut short by a crash: never confirmed
                    log.warning("journal %s: ignoring a last line cut short", self.path)
                    continue
                raise
            if "next" in record and "seq" not in record:
                self._next = max(self._next, int(record["next"]))
                continue
            self._records.append(record)
            self._next = max(self._next, int(record["seq"]) + 1)

    def start_after(self, mark: int) -> None:
        """The store has applied records up to ``mark``: number new ones after it, and
        forget those (a journal restored from an old copy never replays twice)."""
        with self._lock:
            self._next = max(self._next, mark + 1)
            self._records = [r for r in self._records if int(r["seq"]) > mark]

    def append(self, record: Mapping[str, Any], *, sync: bool) -> int:
        """Write one record (numbered here); ``sync``: on disk before returning."""
        with self._lock:
            numbered = {**record, "seq": self._next}
            self._next += 1
            line = json.dumps(numbered, separators=(",", ":"), default=str) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._records.append(numbered)
            return int(numbered["seq"])

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def applied(self, mark: int, *, compact: bool = False) -> None:
        """Records up to ``mark`` are in the store: drop them; cut the file back when it
        has grown (or ``compact``: at a clean stop) and nothing waits."""
        with self._lock:
            self._records = [r for r in self._records if int(r["seq"]) > mark]
            if self._records:
                return
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                return
            if size < (1 if compact else COMPACT_BYTES):
                return
            temporary = self.path.with_name(self.path.name + ".new")
            temporary.write_text(json.dumps({"next": self._next}) + "\n")
            fd = os.open(temporary, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)

    def sync(self) -> None:
        """Everything written so far is on disk (the store went away with records waiting)."""
        with self._lock:
            if not self.path.exists():
                return
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
