"""Review 12 (s8) L10: `health --json` gives the store as a code, with a sentence beside
it; the household's "cut off at start" sentence says a program still running was
adopted, not "taken back" (the grants' word)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shepherd.cli.remote import health_words
from shepherd.daemon.household import HouseholdLink
from tests.daemon.conftest import FAR_DAY_START, policy


def test_health_gives_the_store_as_a_code_and_a_sentence(daemon_factory: Any) -> None:
    d = daemon_factory(policy('[[entries]]\nid = "nap"\ncommand = ["sleep", "60"]\n',
                              FAR_DAY_START))
    health = d.call("health")
    assert (health["ok"], health["store"], health["store_text"]) == (True, "ok", None)
    down = {"ok": False, "store": "unavailable", "store_text": "the disk is full"}
    assert health_words(down)[0] == ("Shepherd cannot record time right now, so nothing can "
                                     "start: the disk is full.")


def test_the_cut_off_sentence_does_not_say_taken_back(tmp_path: Path) -> None:
    link = HouseholdLink("postgresql:///nowhere", "laptop", tmp_path, host=None)  # type: ignore[arg-type]
    try:
        said = link.status(local_books=True)["local_books"]
    finally:
        link._exec.shutdown()
    assert said is not None and "took back" not in said and "taken back" not in said
    assert "a program still running from before the restart keeps the deadline" in said
