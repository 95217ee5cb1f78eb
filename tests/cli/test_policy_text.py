"""`shepherd policy show` writes the policy in force back as readable TOML."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings

from shepherd.cli.policy_text import render_policy
from shepherd.policy import Policy, load_policy, load_policy_text
from tests.engine.test_properties import policies

EXAMPLE = Path(__file__).resolve().parents[2] / "policy.example.toml"


def test_the_example_policy_reads_as_a_parent_wrote_it() -> None:
    text = "\n".join(render_policy(load_policy(EXAMPLE).model_dump(mode="json")))
    assert 'day_starts_at = "04:00"' in text
    assert 'audit_retention = "400d"' in text
    assert ('limits = { max_run = "45m", daily_quota = { weekdays = "1h", weekends = "2h30m" }, '
            'cooldown = "30m" }') in text
    assert '{ days = "weekdays", start = "15:30", end = "19:00" }' in text
    assert '{ days = ["fri"], start = "17:00", end = "00:30" }' in text
    assert "warnings = []" in text  # "no warnings" is not the same as "the defaults"
    assert "null" not in text and "2700" not in text


def test_the_text_loads_back_to_the_same_policy() -> None:
    policy = load_policy(EXAMPLE)
    text = "\n".join(render_policy(policy.model_dump(mode="json")))
    assert load_policy_text(text) == policy


@settings(max_examples=100, deadline=None)
@given(policy=policies())
def test_any_policy_round_trips(policy: Policy) -> None:
    text = "\n".join(render_policy(policy.model_dump(mode="json")))
    assert load_policy_text(text) == policy
