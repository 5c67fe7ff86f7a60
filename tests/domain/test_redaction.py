"""Redaction alone: secret keys, JWT fingerprints, headers, query values, bodies by type."""

from __future__ import annotations

import hashlib
import json

from mockapi.domain.redaction import (
    MAX_BODY_BYTES,
    REDACTED,
    fingerprint,
    read_body,
    redact_headers,
    redact_query,
    redact_text,
    redact_value,
)

#: Two real-shaped HS256 tokens (header.payload.signature); only the shape matters here.
TOKEN_A = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWE"
TOKEN_B = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnbmF0dXJlLWI"


def test_a_fingerprint_is_jwt_and_12_hex_digits_of_the_sha256() -> None:
    expected = "jwt:" + hashlib.sha256(TOKEN_A.encode()).hexdigest()[:12]
    assert fingerprint(TOKEN_A) == expected
    assert fingerprint(TOKEN_A) == fingerprint(TOKEN_A)
    assert fingerprint(TOKEN_A) != fingerprint(TOKEN_B)


def test_a_jwt_is_replaced_wherever_it_is_in_a_text() -> None:
    assert redact_text(f"JWT {TOKEN_A}") == f"JWT {fingerprint(TOKEN_A)}"
    assert redact_text(f"a={TOKEN_A};b={TOKEN_B}") == (
        f"a={fingerprint(TOKEN_A)};b={fingerprint(TOKEN_B)}"
    )
    assert redact_text("no token here") == "no token here"


def test_secret_keys_are_redacted_at_any_depth_and_null_stays_null() -> None:
    body = {
        "username": "ann",
        "password": "Bazalt1!",
        "otp_code": "261125",
        "nested": [{"token_code": "123456", "Password": "x"}],
        "ldap": False,
    }
    assert redact_value(body) == {
        "username": "ann",
        "password": REDACTED,
        "otp_code": REDACTED,
        "nested": [{"token_code": REDACTED, "Password": REDACTED}],
        "ldap": False,
    }
    # A null password says something (the contract allows it) and gives nothing away.
    assert redact_value({"password": None}) == {"password": None}
    # A token under a secret name is still told apart by its fingerprint.
    assert redact_value({"access_token": TOKEN_A}) == {"access_token": fingerprint(TOKEN_A)}
    assert redact_value({"refresh_token": "opaque"}) == {"refresh_token": REDACTED}
    assert redact_value({"token": TOKEN_A}) == {"token": fingerprint(TOKEN_A)}
    # A scenario user's flags and secret, as PUT /service/scenario/ sends them.
    assert redact_value({"otp": True, "otp_secret": "AYCJPOPR", "code": 200}) == {
        "otp": True, "otp_secret": REDACTED, "code": 200,
    }  # fmt: skip


def test_headers_are_lower_case_repeated_ones_joined_secrets_redacted() -> None:
    headers = redact_headers(
        [
            ("Authorization", f"JWT {TOKEN_A}"),
            ("Accept", "a/b"),
            ("accept", "c/d"),
            ("X-Service-Token", "s3cret"),
        ]
    )
    assert headers == {
        "authorization": f"JWT {fingerprint(TOKEN_A)}",
        "accept": "a/b, c/d",
        "x-service-token": REDACTED,
    }


def test_query_values_keep_repeats_in_order_and_hide_secrets() -> None:
    query = redact_query([("a", "1"), ("a", "2"), ("a", "3"), ("otp_code", "42"), ("t", TOKEN_B)])
    assert query == {"a": ["1", "2", "3"], "otp_code": REDACTED, "t": fingerprint(TOKEN_B)}


def test_a_json_body_is_kept_parsed_and_redacted() -> None:
    raw = json.dumps({"username": "ann", "password": "p"}).encode()
    assert read_body("application/json", raw) == ({"username": "ann", "password": REDACTED}, None)
    assert read_body("application/problem+json", b"[1]") == ([1], None)


def test_a_json_body_that_does_not_parse_is_kept_as_text_with_its_secrets_hidden() -> None:
    body, omitted = read_body("application/json", b'{"username": "ann", "password": "p"')
    assert (body, omitted) == ('{"username": "ann", "password": "[redacted]"', None)


def test_a_form_is_kept_as_its_fields() -> None:
    raw = b"username=ann&password=p&redirect_uri=http%3A%2F%2Flocalhost%2F"
    body, omitted = read_body("application/x-www-form-urlencoded", raw)
    assert (body, omitted) == (
        {"username": "ann", "password": REDACTED, "redirect_uri": "http://localhost/"},
        None,
    )


def test_text_is_kept_other_types_only_by_type_and_size() -> None:
    assert read_body("text/plain", f"hi {TOKEN_A}".encode()) == (
        f"hi {fingerprint(TOKEN_A)}",
        None,
    )
    multipart = b"--b\r\nContent-Disposition: form-data; name=password\r\n\r\np\r\n--b--\r\n"
    assert read_body("multipart/form-data", multipart) == (
        None,
        {"media": "multipart/form-data", "bytes": len(multipart)},
    )
    assert read_body("", b"\x00\x01") == (None, {"media": None, "bytes": 2})
    assert read_body("application/json", b"") == (None, None)


def test_a_long_body_is_cut_and_says_so_with_its_secrets_still_hidden() -> None:
    raw = ('{"password": "p", "pad": "' + "x" * MAX_BODY_BYTES + '"}').encode()
    body, omitted = read_body("application/json", raw)
    assert omitted == {"media": "application/json", "bytes": len(raw), "kept": MAX_BODY_BYTES}
    assert body == raw[:MAX_BODY_BYTES].decode().replace('"p"', f'"{REDACTED}"', 1)


def test_a_cut_form_hides_its_secrets_by_name() -> None:
    raw = ("password=p&otp_code=1&pad=" + "x" * MAX_BODY_BYTES).encode()
    body, _ = read_body("application/x-www-form-urlencoded", raw)
    assert isinstance(body, str)
    assert body.startswith("password=[redacted]&otp_code=[redacted]&pad=x")
