"""Which paths are the mocked API and which are mockapi's own: the one home of that rule.

The journal, the fault engine, the service-token guard and the OpenAPI document all ask these
questions; each asks here, so a new page or control route is classified in one place.
"""

from __future__ import annotations

#: The original's admin routes and our control routes. Never faulted: a test must always be
#: able to reach the control API (and remove the fault that is making everything else fail).
#: With ``--service-token`` they need ``X-Service-Token``.
SERVICE_PREFIX = "/service/"
#: Reading the journal must not write to it, or every poll would grow what it polls.
JOURNAL_PATH = "/service/journal/"
#: The routes that read the journal or what is counted from it: never journaled either, so a
#: verification never finds the verifications before it.
JOURNAL_READERS = (JOURNAL_PATH, "/service/verify/", "/service/coverage/", "/service/conformance/")
#: The tool's own pages and documents: not the API under test. Never journaled (they would
#: bury the traffic a test inspects) and never faulted (a catch-all fault must not take down
#: the page a person uses to remove it).
TOOL_PREFIXES = ("/dashboard/", "/docs")
TOOL_PATHS = frozenset({"/", "/openapi.json", "/asyncapi.json", "/metrics"})


def is_service_path(path: str) -> bool:
    """A ``/service/`` route: the original's admin routes or our control routes."""
    return path.startswith(SERVICE_PREFIX)


def is_tool_path(path: str) -> bool:
    """A path of mockapi's own pages and documents rather than of the mocked API."""
    return path in TOOL_PATHS or path.startswith(TOOL_PREFIXES)


def is_journaled(path: str) -> bool:
    """Whether an answer on ``path`` goes to the journal."""
    return not (path.startswith(JOURNAL_READERS) or is_tool_path(path))


def is_faultable(path: str) -> bool:
    """Whether a fault may act on a request for ``path``."""
    return not (is_service_path(path) or is_tool_path(path))
