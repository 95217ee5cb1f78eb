"""Review 9-s9 L4: a bad duration's error says once what is expected, and what it got."""

from __future__ import annotations

from typing import Any

import pytest

from shepherd.daemon.methods import Params
from shepherd.ipc.protocol import RpcError


@pytest.mark.parametrize("value", ["１m", "soon", True, "9x" * 300])
def test_a_bad_duration_is_explained_once(value: Any) -> None:
    with pytest.raises(RpcError) as caught:
        Params("grant", {"duration": value}).duration("duration")
    message = str(caught.value)
    assert message.startswith("the duration must be written like 90s, 15m, 1h30m or 2d"), message
    assert message.count("90s") == 1, message  # not the explanation twice
    assert "expected" not in message, message
    assert len(message) < 200, message  # a long value is cut short


def test_a_negative_whole_number_is_said_to_be_out_of_range() -> None:
    """Review 9-s10 L4: -5 is a whole number; what is wrong with it is its range."""
    with pytest.raises(RpcError) as caught:
        Params("grant", {"duration": -5}).duration("duration", most=86400)
    assert str(caught.value) == "the duration must be more than 0s (got -5)", caught.value
    with pytest.raises(RpcError) as caught:  # and too long, the other bound only
        Params("grant", {"duration": "2d"}).duration("duration", most=86400)
    assert str(caught.value) == "the duration must be at most 1d (got '2d')", caught.value
