"""The transport faults' keys and how they combine: validated as the other faults are."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mockapi.domain.faultspec import FaultSpec


@pytest.mark.parametrize(
    "spec",
    [
        {"reset": True},
        {"reset": True, "delay_s": 2},
        {"hang": True},
        {"hang": True, "delay_s": 30},
        {"truncate": 0},
        {"truncate": 10, "status": 503},
        {"trickle_bps": 100},
        {"trickle_bps": 100, "truncate": 50},
        {"trickle_bps": 10, "proxy_error": 504, "delay_s": 60},
        {"proxy_error": 502},
        {"abort": True},
        {"abort": True, "lose_frames": 1},
        {"abort": True, "delay_frames_s": 5, "frame_status": "RUNNING"},
        {"deaf": True},
        {"deaf": True, "delay_s": 30, "user": "ann"},
    ],
)
def test_transport_faults_that_make_sense_are_accepted(spec: dict[str, Any]) -> None:
    FaultSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"reset": True, "drop": True}, "drop and reset: a connection ends only one way"),
        ({"hang": True, "reset": True}, "reset and hang: a connection ends only one way"),
        ({"reset": True, "status": 503}, "reset and status: after reset nothing is sent"),
        ({"hang": True, "truncate": 3}, "hang and truncate: after hang nothing is sent"),
        ({"drop": True, "trickle_bps": 3}, "drop and trickle_bps: after drop nothing is sent"),
        ({"status": 503, "proxy_error": 502}, "status and proxy_error: give one answer"),
        ({"proxy_error": 502, "body": "x"}, "body and headers are the answer of status"),
        ({"abort": True, "close": 1011}, "abort and close: an aborted socket sends no close"),
        ({"deaf": True, "lose_frames": 1}, "deaf and lose_frames: a deaf socket sends nothing"),
        ({"deaf": True, "abort": True}, "deaf and abort: a deaf socket sends nothing"),
        ({"reset": True, "abort": True}, "reset acts on HTTP and abort on WebSockets"),
        ({"abort": True, "path": "/api/v2/"}, "method and path match requests"),
        ({"hang": True, "frame_kind": "GLINT_START"}, "frame_status and frame_kind match frames"),
        ({"delay_s": 1, "abort": True}, "delay_s acts on HTTP and abort on WebSockets"),
    ],
)
def test_combinations_that_contradict_are_refused_saying_why(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        FaultSpec.model_validate(spec)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"truncate": -1}, "truncate"),
        ({"trickle_bps": 0}, "trickle_bps"),
        ({"trickle_bps": 2**40}, "trickle_bps"),
        ({"proxy_error": 503}, "proxy_error"),
        ({"reset": "maybe"}, "reset"),
    ],
)
def test_bad_values_are_refused_naming_the_key(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FaultSpec.model_validate(spec)
    assert caught.value.errors()[0]["loc"][0] == field


def test_deafs_delay_is_a_websocket_key() -> None:
    assert not FaultSpec(deaf=True, delay_s=5).on_http
    assert FaultSpec(hang=True, delay_s=5).on_http
