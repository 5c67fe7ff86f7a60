"""The security headers of the tool's own HTML pages, defined once.

Every page (the dashboard, the Swagger UI, the ADFS sign-in) loads nothing from anywhere
else, leaks no URL and cannot be framed. What differs from page to page is only what its
Content-Security-Policy has to allow (Mermaid's inline SVG styles, Swagger UI's data: icons,
a form that posts back), so a page names just those allowances.
"""

from __future__ import annotations

#: Every page starts from nothing allowed; a page's own directives replace these.
BASE_POLICY = {
    "default-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}
#: The headers every page sends, whatever its policy.
PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: The files a page loads (scripts, styles): cacheable, their URLs carry a content hash.
ASSET_HEADERS = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}


def page_headers(**allow: str | None) -> dict[str, str]:
    """The headers of a page whose policy allows ``allow`` (``script_src="'self'"`` ...).

    ``None`` leaves a base directive out (the policy then does not restrict it at all).
    """
    directives = {**BASE_POLICY, **{name.replace("_", "-"): value for name, value in allow.items()}}
    policy = "; ".join(f"{name} {value}" for name, value in directives.items() if value)
    return {"Content-Security-Policy": policy, **PAGE_HEADERS}
