"""What the proxy's journal keeps of secrets: nothing but a token's fingerprint."""

from __future__ import annotations

import jwt

from mockapi.proxy.redaction import REDACTED, fingerprint, redact_for_journal, redact_headers

TOKEN = jwt.encode({"sub": "x", "username": "alice"}, "k" * 32, algorithm="HS256")
OTHER = jwt.encode({"sub": "y", "username": "bob"}, "k" * 32, algorithm="HS256")


def test_passwords_and_codes_are_redacted_wherever_they_are() -> None:
    body = {
        "username": "alice",
        "password": "hunter2",
        "otp_code": "261125",
        "nested": [{"token_code": 123456, "hardware_token_code": "0000"}],
    }
    assert redact_for_journal(body) == {
        "username": "alice",
        "password": REDACTED,
        "otp_code": REDACTED,
        "nested": [{"token_code": REDACTED, "hardware_token_code": REDACTED}],
    }


def test_an_absent_or_empty_secret_stays_what_it_was() -> None:
    # A null or "" password is what a 401 answers: the journal must still show it.
    assert redact_for_journal({"password": None, "otp_code": ""}) == {
        "password": None,
        "otp_code": "",
    }


def test_a_token_becomes_a_stable_fingerprint_anywhere_in_the_text() -> None:
    answer = {"data": {"access_token": TOKEN, "refresh_token": "", "token_type": "JWT"}}
    kept = redact_for_journal(answer)
    assert kept["data"]["access_token"] == fingerprint(TOKEN)
    assert kept["data"]["refresh_token"] == ""
    assert redact_for_journal(f"User {TOKEN} said") == f"User {fingerprint(TOKEN)} said"
    assert fingerprint(TOKEN) == fingerprint(TOKEN) != fingerprint(OTHER)
    assert TOKEN not in str(kept)


def test_credential_headers_keep_their_scheme_and_lose_their_secret() -> None:
    headers = {
        "Authorization": f"JWT {TOKEN}",
        "Cookie": "session=abc",
        "X-Service-Token": "s3cret",
        "Accept": "application/json",
    }
    assert redact_headers(headers) == {
        "authorization": f"JWT {fingerprint(TOKEN)}",
        "cookie": REDACTED,
        "x-service-token": REDACTED,
        "accept": "application/json",
    }
