"""Loaded by a test's daemon (on its PYTHONPATH): a disk under the kept file that stalls.

While the file named by ``SHEPHERD_TEST_KEPT_GATE`` exists, each write of the file kept
beside the store waits (an ``fdatasync`` that does not return), at most a minute.
"""

import os
import time

GATE = os.environ.get("SHEPHERD_TEST_KEPT_GATE")
if GATE:
    from shepherd.store import kept

    written = kept.KeptFile.save

    def stalled(self: kept.KeptFile, document: dict[str, object]) -> bool:
        give_up = time.monotonic() + 60
        while os.path.exists(GATE) and time.monotonic() < give_up:
            time.sleep(0.01)
        return written(self, document)

    kept.KeptFile.save = stalled  # type: ignore[method-assign]
