"""The private HS256 encode (mockapi.domain._jwt) writes exactly what PyJWT writes."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from mockapi.domain._jwt import sign
from tests.answers import USER_IDS
from tests.conftest import SECRET


@pytest.mark.parametrize(
    "claims",
    [
        {
            "sub": USER_IDS["astravdi"],
            "username": "astravdi",
            "exp": 1_800_086_400.25,
            "roles": ["admin", "user"],
            "client_id": USER_IDS["astravdi"],
            "domain": None,
            "iat": 1_800_000_000.25,
            "jti": "0f" * 16,
        },
        {
            "sub": USER_IDS["user-2"],
            "username": 'Zoë «x» "q" \\ \u2028',
            "exp": 1e300,
            "roles": [],
            "client_id": "other",
            "domain": "d",
            "iat": 0.1,
            "jti": "",
        },
        {"exp": 17, "nested": {"a": [1, 2.5, True, None]}},
    ],
)
@pytest.mark.parametrize("secret", [SECRET.encode(), bytes(range(32)), b"\xff" * 64])
def test_tokens_are_signed_exactly_as_pyjwt_signs_them(
    claims: dict[str, Any], secret: bytes
) -> None:
    assert sign(claims, secret) == jwt.encode(claims, secret, algorithm="HS256")
