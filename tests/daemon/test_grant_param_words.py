"""Review 9-s10 L4, over the socket: a grant's bad ``until`` or ``duration`` is answered
in a plain sentence about the parameter as the caller sent it (not the CLI's flag, and a
negative whole number is out of range, not "not a whole number"); nothing is granted."""

from __future__ import annotations

from typing import Any

from tests.daemon.conftest import ME, policy, refused_params

GAME = """
[[entries]]
id = "game"
command = ["sleep", "600"]
limits = { daily_quota = "1h" }
"""

SAID = [
    ({"duration": "10m", "until": "garbage"}, "until",
     "the until must be a time of day (HH:MM, as 17:00), today, week or an ISO 8601 time "
     "with its offset (got 'garbage')"),
    ({"duration": -5}, "duration", "the duration must be more than 0s (got -5)"),
    ({"duration": "-5"}, "duration",
     "the duration must be more than 0s (got '-5')"),
    ({"duration": "-10m", "mode": "set"}, "duration",
     "the duration must be 0s or more (got '-10m')"),
    ({"duration": "soon"}, "duration",
     "the duration must be written like 90s, 15m, 1h30m or 2d, or a whole number of seconds "
     "(got 'soon')"),
]


def test_a_bad_until_or_duration_is_said_as_the_parameter_it_is(daemon_factory: Any) -> None:
    d = daemon_factory(policy(GAME), env={"TZ": "UTC"})
    for params, name, said in SAID:
        error = refused_params(d, "grant", user=ME, target="game", **params)
        assert error.message == said, (params, error)
        assert error.data == {"method": "grant", "parameter": name}, (params, error.data)
        assert "--" not in error.message, error.message  # no command-line flag
    status = d.call("status")["users"][0]["entries"][0]
    assert status["remaining_today_s"] == 3600  # nothing was granted
    assert "time_granted" not in d.audit_types()
