"""The MFA next steps of CONTRACT §3: the ADFS sign-in page and the hardware-token route.

The original's 428 answers pointed at routes that did not exist, so a client could never
finish those logins (CONTRACT §10). Both routes feed the login machine with their
:class:`~mockapi.statemachines.login.LoginStep` and map its outcome to an answer; which checks run,
and in what order, lives in :mod:`mockapi.statemachines.login` only.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ConfigDict, Field

from mockapi.domain.errors import INVALID_CREDENTIALS, OTP_INVALID, ApiError, ErrorSpec
from mockapi.pages.headers import page_headers
from mockapi.pages.render import render_template
from mockapi.statemachines.login import LoginState, LoginStep
from mockapi.web.api.users import run_attempt, token_body
from mockapi.web.responses import fast_json_response
from mockapi.web.validation import parse_body

ADFS_TEMPLATE = "adfs.html"

#: A sign-in page must not be cached, framed or leak its URL (it may carry a username). Its
#: styles are inline, and form-action stays open: the sign-in ends in a redirect to the
#: client's own redirect_uri, which a form-action policy would block.
PAGE_HEADERS = page_headers(style_src="'unsafe-inline'", form_action=None)

# What the page says. Unknown, disabled and wrong-password users get one message, as the
# JSON login gives them one code: the page must not tell who exists.
BAD_CREDENTIALS = "Incorrect user name or password."
NOT_ADFS = "This account does not sign in with ADFS. Sign in with the client's login form."
UNREADABLE_FORM = (
    "The sign-in form could not be read: send it as application/x-www-form-urlencoded"
    " (or multipart/form-data) in UTF-8."
)

# -- redirect_uri ------------------------------------------------------------------------------
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")

#: Schemes a browser acts on by itself (scripts, inline documents, local files) or that name
#: another kind of resource: never the callback a desktop client registers.
NOT_CALLBACK_SCHEMES = frozenset(
    {
        "javascript",
        "vbscript",
        "data",
        "blob",
        "file",
        "filesystem",
        "about",
        "view-source",
        "jar",
        "ftp",
        "ws",
        "wss",
        "mailto",
        "tel",
        "sms",
    }
)


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` may not receive a token, or None when it may.

    Accepted: an absolute http(s) URL with a host, or a custom scheme a desktop client
    registers for its callback (``spaceclient://cb``, ``com.example.app:/cb``, RFC 8252 §7.1).
    The token travels in the fragment, so the URI may not have one of its own (RFC 6749
    §3.1.2). Whitespace and control characters are refused outright: browsers drop them
    inside a scheme, which turns ``java\\tscript:`` into ``javascript:``.
    """
    prefix = "redirect_uri must be an absolute http(s) URL or a client's custom scheme"
    if any(ord(ch) <= 0x20 or ord(ch) >= 0x7F for ch in uri):
        return f"{prefix}, without spaces, control or non-ASCII characters (percent-encode them)."
    if "\\" in uri:
        return f"{prefix}, without backslashes."
    if "#" in uri:
        return f"{prefix}, without a fragment (#): the token is delivered in the fragment."
    scheme, colon, rest = uri.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme) or not rest:
        return f"{prefix} (such as https://host/cb or spaceclient://cb)."
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            return f"{prefix}; this one has a malformed host or port."
        if not rest.startswith("//") or not parts.hostname:
            return f"{prefix}; an http(s) URL needs a host (https://host/cb)."
        return None
    if scheme in NOT_CALLBACK_SCHEMES:
        return f"{prefix}; {scheme}: cannot receive a token."
    return None


def token_redirect(redirect_uri: str, token: str) -> str:
    """Where a finished ADFS sign-in sends the browser: the token in the fragment."""
    return f"{redirect_uri}#access_token={token}&token_type=JWT"


# -- the page ----------------------------------------------------------------------------------
def _printable(value: str) -> str:
    # A lone surrogate (from a percent-escaped query) cannot be encoded as UTF-8; the page
    # shows "?" for it instead of failing with a 500.
    return value.encode("utf-8", errors="replace").decode("utf-8")


def _render(
    request: web.Request,
    *,
    status: int,
    username: str = "",
    redirect_uri: str | None = None,
    error: str | None = None,
    show_form: bool = True,
) -> web.Response:
    context: dict[str, Any] = {
        "action": str(request.app.router["adfs-submit"].url_for()),
        "username": _printable(username),
        "redirect_uri": _printable(redirect_uri) if redirect_uri is not None else None,
        "error": _printable(error) if error is not None else None,
        "show_form": show_form,
    }
    response = render_template(ADFS_TEMPLATE, request, context, status=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _last(values: MultiMapping[Any], key: str) -> Any:
    # Repeated fields answer their last value, as query parameters do elsewhere (Starlette).
    found = values.getall(key, [])
    return found[-1] if found else None


def _optional_uri(value: str | None) -> str | None:
    # An empty hidden field means "no redirect", as no parameter does.
    return value or None


async def adfs_page(request: web.Request) -> web.Response:
    """The sign-in page, the username prefilled; 400 with the reason for a bad redirect_uri."""
    username = _last(request.query, "username") or ""
    redirect_uri = _optional_uri(_last(request.query, "redirect_uri"))
    problem = redirect_uri_problem(redirect_uri) if redirect_uri is not None else None
    if problem is not None:
        return _render(request, status=400, username=username, error=problem, show_form=False)
    return _render(request, status=200, username=username, redirect_uri=redirect_uri)


class UnreadableForm(Exception):
    """A form body that is not form-encoded UTF-8; the page answers 400."""


class AdfsQuery(BaseModel):
    """The sign-in page's query: the username to prefill and where to send the token."""

    username: str = ""
    redirect_uri: str | None = Field(
        default=None,
        description="An absolute http(s) URL or a client's custom scheme, without a fragment.",
        examples=["spaceclient://cb"],
    )


class AdfsForm(BaseModel):
    """The sign-in form, as the page posts it (form-encoded or multipart, UTF-8)."""

    username: str | None = None
    password: str | None = None
    redirect_uri: str | None = None


#: Read by :func:`read_form`; documented by :class:`AdfsForm`.
FORM_FIELDS = tuple(AdfsForm.model_fields)


async def read_form(request: web.Request) -> dict[str, str | None]:
    """The sign-in form's fields (None when absent), decoded strictly as UTF-8.

    aiohttp's own parser decodes with replacement characters and ignores unknown content
    types, so a mangled form would be read as another user's name; here it is refused.
    """
    media = request.content_type
    if media in ("", "application/octet-stream", "application/x-www-form-urlencoded"):
        # aiohttp reports a missing content type as application/octet-stream.
        raw = await request.read()
        try:
            pairs = parse_qsl(
                raw.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=False,
                encoding="utf-8",
                errors="strict",
                max_num_fields=100,
            )
        except ValueError as exc:  # UnicodeDecodeError is one
            raise UnreadableForm(str(exc)) from None
        fields = dict(pairs)  # the last of repeated fields wins
        return {name: fields.get(name) for name in FORM_FIELDS}
    if media == "multipart/form-data":
        try:
            post = await request.post()
        except web.HTTPException:
            raise  # the body size limit: 413 like every route
        except Exception as exc:
            # aiohttp's multipart reader fails in many ways on a mangled body (ValueError,
            # RuntimeError, LookupError, its own InvalidHeader...); all of them are the
            # client's fault, and none may become a 500.
            raise UnreadableForm(str(exc)) from None
        result: dict[str, str | None] = {}
        for name in FORM_FIELDS:
            value = _last(post, name)
            if value is not None and not isinstance(value, str):
                raise UnreadableForm(f"{name} is a file, not a text field")
            result[name] = value
        return result
    raise UnreadableForm(f"unsupported content type {media}")


#: The page's message for each way the ADFS step can stop.
ADFS_MESSAGES: dict[LoginState, str] = {
    LoginState.UNKNOWN_USER: BAD_CREDENTIALS,
    LoginState.CREDENTIALS_REJECTED: BAD_CREDENTIALS,
    LoginState.WRONG_SIGN_IN_METHOD: NOT_ADFS,
}


async def adfs_submit(request: web.Request) -> web.Response:
    """Finish an ADFS login: a 302 to ``redirect_uri`` with the token, or the login's 200 body.

    Any refusal shows the page again with the reason (401 for the credentials, 400 for the
    form or its redirect_uri), so a person at the browser can try again.
    """
    try:
        form = await read_form(request)
    except UnreadableForm:
        # Only a broken client sends this; its redirect_uri is unknown, so no form to retry.
        return _render(request, status=400, error=UNREADABLE_FORM, show_form=False)
    username = form["username"] or ""
    redirect_uri = _optional_uri(form["redirect_uri"])
    problem = redirect_uri_problem(redirect_uri) if redirect_uri is not None else None
    if problem is not None:
        # Checked before the password: no token is made for a place it may not go.
        return _render(request, status=400, username=username, error=problem, show_form=False)
    outcome, user = run_attempt(request.app, username, form["password"], step=LoginStep.ADFS)
    if outcome is not LoginState.AUTHENTICATED:
        return _render(
            request,
            status=401,
            username=username,
            redirect_uri=redirect_uri,
            error=ADFS_MESSAGES.get(outcome, BAD_CREDENTIALS),
        )
    assert user is not None  # the machine authenticates known users only
    body = token_body(request, user)
    if redirect_uri is None:
        return fast_json_response(body)
    location = token_redirect(redirect_uri, body["data"]["access_token"])
    return web.Response(
        status=302,
        headers={
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


# -- hardware token ----------------------------------------------------------------------------
class HardwareTokenBody(BaseModel):
    """The hardware-token step: the login's credentials plus the code the token shows."""

    # user-3 of the default scenario: any six digits pass unless the scenario sets a code.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "user-3", "password": "Bazalt1!", "token_code": "314159"}]
        }
    )

    username: str
    password: str | None
    token_code: str


#: The answer of every way the hardware-token step can stop; a code mismatch is the OTP's
#: 401/103, anything about the user is 401/999.
HARDWARE_TOKEN_REFUSALS: dict[LoginState, ErrorSpec] = {
    LoginState.UNKNOWN_USER: INVALID_CREDENTIALS,
    LoginState.WRONG_SIGN_IN_METHOD: INVALID_CREDENTIALS,
    LoginState.TOKEN_CODE_REJECTED: OTP_INVALID,
    LoginState.CREDENTIALS_REJECTED: INVALID_CREDENTIALS,
}


async def hardware_token(request: web.Request) -> web.Response:
    """Finish a hardware-token login: the login's 200 body, or 401 (999, or 103 for the code)."""
    body = await parse_body(request, HardwareTokenBody)
    outcome, user = run_attempt(
        request.app,
        body.username,
        body.password,
        step=LoginStep.HARDWARE_TOKEN,
        token_code=body.token_code,
    )
    if outcome is not LoginState.AUTHENTICATED:
        raise ApiError(HARDWARE_TOKEN_REFUSALS.get(outcome, INVALID_CREDENTIALS))
    assert user is not None
    return fast_json_response(token_body(request, user))
