"""Out of descriptors, ``/proc`` reads are errors, never "the process is gone" (review 14 s9 H1).

The test process itself runs short: its soft ``RLIMIT_NOFILE`` is lowered below the
descriptors it holds (they stay open; no new one can be had), then given back.
"""

from __future__ import annotations

import errno
import resource
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shepherd.detect.facts import Needs, read_facts, start_time
from shepherd.supervisor.proctree import real_uid


@contextmanager
def no_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def attempt(read: Callable[[], Any]) -> Any:
    with no_descriptors():
        try:
            return read()
        except OSError as exc:
            return exc


@pytest.fixture
def other() -> Iterator[int]:
    process = subprocess.Popen(["sleep", "60"])
    yield process.pid
    process.kill()
    process.wait()


def test_reads_of_a_running_process_fail_loudly_when_out_of_descriptors(other: int) -> None:
    needs = Needs(cmdline=True, exe=True)
    assert read_facts(other, needs) is not None  # it runs
    for read in (lambda: read_facts(other, needs), lambda: real_uid(other),
                 lambda: start_time(other)):
        outcome = attempt(read)
        assert isinstance(outcome, OSError) and outcome.errno == errno.EMFILE, outcome
    assert read_facts(other, needs) is not None  # and, descriptors back, it is read

