"""A process that writes through a StoreWriter while the test harms its files.

    python -m tests.store.writer_worker DB

Reads commands on stdin, one a line, and answers each with one JSON line:
``write N`` queues N kept audit rows (answers at once), ``admin`` tries one change
that must not wait, ``state`` reports availability, ``flush`` waits until everything
queued is written, ``quit`` closes the writer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shepherd.store import StoreError
from shepherd.store.writer import StoreWriter


async def main(path: Path) -> None:
    loop = asyncio.get_running_loop()
    writer = StoreWriter(path, lambda: datetime.now(UTC))
    await writer.start()
    written = 0
    pending: list[asyncio.Future[Any]] = []

    def answer(**data: Any) -> None:
        print(json.dumps(data), flush=True)

    answer(ready=writer.available)
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        if line[0] == "write":
            for _ in range(int(line[1])):
                written += 1
                pending.append(writer.submit(
                    lambda s, n=written: s.audit(datetime.now(UTC), "launch_denied", {"n": n}),
                    keep=True))
            answer(queued=written)
        elif line[0] == "admin":
            try:
                await writer.submit(lambda s: s.set_meta("admin", "yes"))
                answer(admin="written")
            except StoreError as exc:
                answer(admin="refused", problem=str(exc))
        elif line[0] == "state":
            await asyncio.sleep(0)
            answer(available=writer.available, problem=writer.problem)
        elif line[0] == "flush":
            await asyncio.gather(*pending)
            pending.clear()
            answer(flushed=written, available=writer.available)
    await writer.close()
    answer(closed=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
