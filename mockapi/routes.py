"""Every route of the server, named, in one table that serves and documents them.

``setup_routes`` registers :data:`ROUTES`, and ``/openapi.json`` is generated from the same
table (:mod:`mockapi.apidocs.openapi`), so adding a route here documents it. An entry names the
pydantic models its handler validates with and the answers that are its own; the answers its
kind implies (403 on JWT routes, 422, 413, the service token's 403) are added by
:func:`mockapi.web.route.documented_answers`. See :class:`mockapi.web.route.Route`.
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from mockapi.apidocs import handlers as docs
from mockapi.dashboard import handlers as dashboard
from mockapi.domain.errors import (
    ADFS_REQUIRED,
    HARDWARE_TOKEN_REQUIRED,
    INSUFFICIENT_PERMISSIONS,
    INVALID_CREDENTIALS,
    NO_ELIGIBLE_MACHINE,
    NOT_FOUND,
    OTP_INVALID,
    OTP_REQUIRED,
    PERMISSION_DENIED,
    POOL_CANNOT_EXPAND,
)
from mockapi.domain.faultspec import FaultBody, FaultList, FaultSpec
from mockapi.domain.scenario import Scenario
from mockapi.domain.verify import Verification
from mockapi.web import control, original
from mockapi.web.api import meta, mfa, pools, tasks, users
from mockapi.web.api import websocket as ws
from mockapi.web.bodies import (
    AppError,
    ClientIdPath,
    ClockView,
    ConformanceBody,
    CoverageBody,
    HealthBody,
    HttpDetail,
    IssuedToken,
    JournalPage,
    MachineBody,
    NotVerified,
    PoolList,
    PoolsPage,
    ResetBody,
    ServiceTaskList,
    ServiceUserList,
    SettingsBody,
    TaskBody,
    TaskDoneBody,
    TlsView,
    TokenBody,
    Verified,
    VersionBody,
)
from mockapi.web.metrics import metrics_page
from mockapi.web.route import (
    ROUTE_TABLE,
    Answer,
    Auth,
    Route,
    body,
    documented_answers,
    empty,
    errors,
    page,
    refused,
    register,
)

API = "/api/v2"
#: The headers of an answer that a limit of the world refused (mockapi.domain.limits).
_LIMIT_HEADERS = {"www-authenticate": "Always `JWT`."}

_TASK_NOT_FOUND = errors(
    "The task does not exist or belongs to someone else (admins see every task).", NOT_FOUND
)
_TOKEN = body(TokenBody, "Logged in: a new token.")
_JSON_DOCUMENT = Answer("The document.", media={"application/json": {"type": "object"}})

ROUTES: tuple[Route, ...] = (
    # -- meta (CONTRACT §2) --------------------------------------------------------------------
    Route("GET", f"{API}/health/", meta.health, "health", "Health check", "meta",
          responses={200: body(HealthBody)}),
    Route("GET", f"{API}/version/", meta.version, "version", "Server version", "meta",
          responses={200: body(VersionBody)}),
    # -- users (CONTRACT §4) -------------------------------------------------------------------
    Route("POST", f"{API}/users/login/", users.login, "login", "Log in", "users",
          body=users.LoginBody,
          responses={
              200: _TOKEN,
              401: errors("Unknown or disabled user, empty password (999); wrong OTP (103).",
                          INVALID_CREDENTIALS, OTP_INVALID,
                          rule="The user and password are the scenario's (CONTRACT §4)."),
              428: errors("Another factor is needed: go on at next_step.",
                          OTP_REQUIRED, ADFS_REQUIRED, HARDWARE_TOKEN_REQUIRED,
                          rule="The user's MFA kind (OTP, ADFS, hardware token) asks for it."),
          }),
    Route("POST", f"{API}/users/logout/", users.logout, "logout", "Log out", "users",
          auth=Auth.JWT,
          responses={205: empty("Logged out: the token is revoked. No body (content-length 0).")}),
    Route("GET", f"{API}/users/settings/", users.user_settings, "user-settings",
          "Client settings", "users", auth=Auth.JWT, responses={200: body(SettingsBody)}),
    # -- MFA next steps (CONTRACT §3, §10) -----------------------------------------------------
    Route("GET", f"{API}/users/adfs/", mfa.adfs_page, "adfs", "ADFS sign-in page", "mfa",
          query=mfa.AdfsQuery, validated=False,
          responses={
              200: page("The sign-in page, the username prefilled."),
              400: replace(page("The page with the reason: redirect_uri cannot receive a token."),
                           rule="redirect_uri must be an absolute http(s) URL or a custom scheme."),
          }),
    Route("POST", f"{API}/users/adfs/", mfa.adfs_submit, "adfs-submit", "ADFS sign-in",
          "mfa", body=mfa.AdfsForm, validated=False,
          body_media=("application/x-www-form-urlencoded", "multipart/form-data"),
          responses={
              200: body(TokenBody, "Signed in, no redirect_uri: the login's body."),
              302: empty("Signed in: to redirect_uri#access_token=<jwt>&token_type=JWT.",
                         {"Location": "redirect_uri with the token in the fragment."}),
              400: replace(page("The page with the reason: unreadable form or bad redirect_uri."),
                           rule="redirect_uri must be an absolute http(s) URL or a custom scheme;"
                                " the form must hold username and password."),
              401: replace(page("The page again with the error: wrong credentials or not an ADFS"
                                " user."), rule="The user must be the scenario's ADFS user."),
          }),
    Route("POST", f"{API}/users/hardware_token/", mfa.hardware_token, "hardware-token",
          "Hardware-token sign-in", "mfa", body=mfa.HardwareTokenBody,
          responses={
              200: _TOKEN,
              401: errors("Wrong user or password (999); the code does not match (103).",
                          INVALID_CREDENTIALS, OTP_INVALID,
                          rule="The user, password and code are the scenario's."),
          }),
    # -- pools (CONTRACT §5, §7) ---------------------------------------------------------------
    Route("GET", f"{API}/pools/", pools.list_pools, "pools", "The caller's pools", "pools",
          auth=Auth.JWT, query=pools.PoolsQuery, responses={200: body(PoolsPage)}),
    Route("GET", f"{API}/pools/ws/{{client_id}}/", ws.websocket, "pools-ws",
          "Task updates (WebSocket)", "pools", auth=Auth.WS_COOKIE, path_params=ClientIdPath,
          validated=False,
          description=(
              "A WebSocket, described in full by the AsyncAPI document at /asyncapi.json. The"
              " handshake authenticates with the raw header `Cookie: JWT <token>` (not a"
              " name=value cookie; Authorization is ignored), and client_id must equal the"
              " token's client_id. Server frames are `{\"status\",\"id\",\"kind\"}`; any text"
              " sent is echoed as `User <username> sent: <text>` to every socket of the user."
          ),
          responses={
              101: empty("Switching Protocols: the socket is open."),
              400: errors("An Upgrade request that is not a valid WebSocket handshake.",
                          ws.BAD_HANDSHAKE),
              403: errors("Handshake refused: bad token, or client_id is not the token's "
                          "(sent with Connection: close).", PERMISSION_DENIED),
              404: Answer("A plain HTTP GET, without Upgrade: websocket (with or without the"
                          " trailing slash).", models=(HttpDetail,)),
              503: Answer("Handshake refused: the user, or the server, holds as many sockets as"
                          " its limit (max_sockets_per_user, max_sockets); msg names it (sent"
                          " with Connection: close).", models=(AppError,),
                          headers=_LIMIT_HEADERS | {"Retry-After": "Seconds: `1`."}),
          }),
    Route("GET", f"{API}/pools/{{id}}/connect/", pools.get_machine, "connect-step1",
          "Step 1: reserve a machine", "pools", auth=Auth.JWT, path_params=pools.PoolPath,
          responses={
              200: body(TaskBody, "The user has a machine here: the COMPLETED task that gave it."),
              202: body(TaskBody, "A POOL_EXPAND task: the active one, or a new PENDING one."),
              403: errors("The pool is not the user's, or does not exist (900); no machine can"
                          " be given in it (800).",
                          INSUFFICIENT_PERMISSIONS, POOL_CANNOT_EXPAND),
          }),
    Route("POST", f"{API}/pools/{{id}}/connect/", pools.connect_machine, "connect-step2",
          "Step 2: start the connection", "pools", auth=Auth.JWT, path_params=pools.PoolPath,
          body=pools.ConnectBody,
          responses={
              200: body(MachineBody, "The server runs: the machine's connection data."),
              202: body(TaskBody, "A GLINT_START task: the active one, or a new PENDING one."),
              403: errors("The pool is not the user's, or does not exist (900).",
                          INSUFFICIENT_PERMISSIONS),
              409: errors("The user has no machine in this pool yet (step 1 first).",
                          NO_ELIGIBLE_MACHINE),
              422: refused("remote_protocol 2 or 3 (RDP, NATIVE_RDP) cannot be started: only 1,"
                           " GLINTV1 (value_error, CONTRACT §7)."),
              503: Answer("Every task the world may keep (max_tasks) is still running: none"
                          " can be started; msg names the limit.", models=(AppError,),
                          headers=_LIMIT_HEADERS),
          }),
    # -- tasks (CONTRACT §6) -------------------------------------------------------------------
    Route("GET", f"{API}/tasks/{{task_id}}/", tasks.get_task, "task", "A task", "tasks",
          auth=Auth.JWT, path_params=tasks.TaskIdPath,
          responses={200: body(TaskBody), 404: _TASK_NOT_FOUND}),
    Route("GET", f"{API}/tasks/{{task_id}}/is-done/", tasks.is_done, "task-done",
          "Whether a task is done", "tasks", auth=Auth.JWT, path_params=tasks.TaskIdPath,
          responses={200: body(TaskDoneBody), 404: _TASK_NOT_FOUND}),
    # -- /service/: the original's admin endpoints (CONTRACT §9) -------------------------------
    Route("GET", "/service/all-pools/", original.all_pools, "service-all-pools", "Every pool",
          "service", responses={200: body(PoolList)}),
    Route("GET", "/service/all-users/", original.all_users, "service-all-users", "Every user",
          "service", responses={200: body(ServiceUserList)}),
    Route("GET", "/service/all-tasks/", original.all_tasks, "service-all-tasks", "Every task",
          "service", responses={200: body(ServiceTaskList)}),
    Route("POST", "/service/create-pools/", original.create_pools, "service-create-pools",
          "Create pools", "service", body=original.CreatePoolsBody,
          responses={201: body(PoolList, "The new pools."),
                     422: refused("An id in assigned_users is no user of the world; or the"
                                  " world would go over its pools, machines or assignments"
                                  " limit (limit_exceeded). Nothing is created.")}),
    # -- /service/: control ----------------------------------------------------------
    Route("GET", "/service/clock/", control.get_clock, "service-clock", "The clock", "control",
          responses={200: body(ClockView)}),
    Route("POST", "/service/clock/", control.set_clock, "service-clock-set",
          "Change the clock", "control", body=control.ClockUpdate,
          responses={200: body(ClockView, "The clock after the change.")}),
    Route("POST", "/service/reset/", control.reset, "service-reset", "Reset the world",
          "control", responses={200: body(ResetBody)}, in_fuzz_run=False),
    Route("GET", "/service/scenario/", control.get_scenario, "service-scenario",
          "The active scenario", "control",
          responses={200: body(Scenario, "The active scenario, every default filled in.")}),
    Route("PUT", "/service/scenario/", control.put_scenario, "service-scenario-put",
          "Replace the scenario", "control", body=Scenario,
          body_media=("application/json", "application/toml"),
          responses={200: body(ResetBody, "The new world."),
                     422: refused("The scenario is empty, its references do not resolve, a"
                                  " value breaks a rule of the scenario format, or the world"
                                  " would go over a limit (limit_exceeded). Nothing changes.")},
          in_fuzz_run=False),
    Route("POST", "/service/tasks/{id}/", control.force_task, "service-task-force",
          "Force a task's status", "control", path_params=control.ForcedTaskPath,
          body=control.TaskForce,
          responses={
              200: body(TaskBody, "The task after the transition (pushed to its sockets)."),
              404: errors("No such task.", NOT_FOUND),
              409: Answer("The task machine has no such transition from the current status.",
                          models=(AppError,), headers={"www-authenticate": "Always `JWT`."}),
          }),
    Route("POST", "/service/tokens/", control.issue_token, "service-tokens", "Mint a token",
          "control", body=control.TokenRequest,
          responses={200: body(IssuedToken),
                     422: refused("username is no user of the world.")}),
    Route("GET", "/service/journal/", control.get_journal, "service-journal", "The journal",
          "control", query=control.JournalQuery, responses={200: body(JournalPage)}),
    Route("DELETE", "/service/journal/", control.clear_journal, "service-journal-clear",
          "Clear the journal", "control", responses={204: empty("Cleared.")}),
    Route("GET", "/service/coverage/", control.get_coverage, "service-coverage",
          "Coverage of the contract", "control", responses={200: body(CoverageBody)}),
    Route("GET", "/service/conformance/", control.get_conformance, "service-conformance",
          "Client conformance", "control", responses={200: body(ConformanceBody)}),
    Route("POST", "/service/verify/", control.verify_requests, "service-verify",
          "Verify what the client sent", "control", body=Verification,
          responses={200: body(Verified), 409: body(NotVerified, "The expectation fails.")}),
    # -- /service/: faults -----------------------------------------------------------
    Route("GET", "/service/faults/", control.list_faults, "service-faults", "The faults",
          "control", responses={200: body(FaultList)}),
    # A fuzzed fault (drop everything, say) acts on later cases too: the fuzz run removes every
    # fault before each case (tests/e2e/test_schemathesis.py).
    Route("POST", "/service/faults/", control.add_fault, "service-faults-add", "Add a fault",
          "control", body=FaultSpec,
          responses={
              201: body(FaultBody, "The fault as added, its id generated when none was given."),
              409: Answer("A fault with this id exists already.", models=(AppError,),
                          headers={"www-authenticate": "Always `JWT`."},
                          rule="Fault ids are unique."),
              422: refused("user is no user of the world; a close code outside 1000-1003,"
                           " 1007-1014, 3000-4999; actions that exclude each other (status and"
                           " drop) or that need another key (body or headers without status);"
                           " HTTP and WebSocket keys mixed; or max_faults reached."),
          }),
    Route("DELETE", "/service/faults/", control.clear_faults, "service-faults-clear",
          "Remove every fault", "control", responses={204: empty("Removed.")}),
    Route("DELETE", "/service/faults/{id}/", control.delete_fault, "service-fault-delete",
          "Remove a fault", "control", path_params=control.FaultPath,
          responses={204: empty("Removed."), 404: errors("No such fault.", NOT_FOUND)}),
    # -- /service/: TLS ------------------------------------------------------------------------
    Route("GET", "/service/tls/", control.get_tls, "service-tls", "The certificate shown",
          "control", responses={200: body(TlsView)}),
    Route("POST", "/service/tls/", control.set_tls, "service-tls-set",
          "Choose the certificate", "control", body=control.TlsChoice, in_fuzz_run=False,
          description=(
              "Shows the named certificate to every new connection from now on (an SNI"
              " callback chooses it per handshake; open connections keep theirs): `valid`,"
              " `expired`, `not_yet_valid`, `wrong_host`, `self_signed`, `unknown_ca`,"
              " `rotated`. The change goes to the journal as `{\"kind\": \"tls\"}`."
          ),
          responses={
              200: body(TlsView, "What new connections get from now on."),
              409: Answer("The server runs without --tls.", models=(AppError,),
                          headers={"www-authenticate": "Always `JWT`."}),
          }),
    # -- documents -----------------------------------------------------------------------------
    Route("GET", "/metrics", metrics_page, "metrics", "Prometheus metrics", "meta",
          description=(
              "Requests by route, method and status; a latency histogram; open WebSockets;"
              " task frames sent, lost and delayed; faults fired by action; tasks by kind and"
              " status; the world's size. The Prometheus text format, version 0.0.4. Never"
              " journaled, never faulted."
          ),
          responses={200: Answer("The figures.", media={"text/plain": {"type": "string"}})}),
    Route("GET", "/openapi.json", docs.openapi_json, "openapi", "This document (OpenAPI 3.1)",
          "docs", responses={200: _JSON_DOCUMENT}),
    Route("GET", "/asyncapi.json", docs.asyncapi_json, "asyncapi",
          "The WebSocket (AsyncAPI 3.0)", "docs", responses={200: _JSON_DOCUMENT}),
    Route("GET", "/docs", docs.docs_page, "docs", "Swagger UI", "docs",
          responses={200: page("Swagger UI, served from the package: no external URL.")}),
    Route("GET", "/docs/static/{filename}", docs.docs_static, "docs-static",
          "Swagger UI's files", "docs", path_params=docs.AssetPath, validated=False,
          responses={200: Answer("The file.", media=docs.FILES.media)}),
    # -- the live dashboard ------------------------------------------------------------
    Route("GET", "/", dashboard.page, "dashboard", "Live dashboard", "dashboard",
          responses={200: page("The dashboard: users with their sockets and connection states,"
                               " tasks, the clock and the state diagrams, updated live over"
                               " /dashboard/feed; its controls call the /service/ routes."
                               " It loads nothing from any other origin.")}),
    Route("GET", "/dashboard/feed", dashboard.feed, "dashboard-feed",
          "Dashboard snapshots (WebSocket)", "dashboard", validated=False,
          description=(
              "A WebSocket for the dashboard page. The page sends"
              " `{\"type\":\"view\",\"view\":{\"q\",\"offset\",\"limit\",\"tasks\"},"
              "\"token\"}` (the service token when the server has one; otherwise the socket"
              " is closed with 4403) and may send it again to change its view. The server"
              " answers with a `snapshot` of the world for that view after every change, at"
              " most ten a second."
          ),
          responses={
              101: empty("Switching Protocols: the socket is open."),
              400: errors("An Upgrade request that is not a valid WebSocket handshake.",
                          ws.BAD_HANDSHAKE),
              404: Answer("A plain HTTP GET, without Upgrade: websocket."),
          }),
    Route("GET", "/dashboard/static/{filename}", dashboard.static, "dashboard-static",
          "The dashboard's files", "dashboard", path_params=dashboard.AssetPath,
          validated=False,
          responses={200: Answer("The file.", media=dashboard.FILES.media)}),
)  # fmt: skip


#: The tags of the routes the contract defines (CONTRACT §2, §9): what coverage counts.
CONTRACT_TAGS = frozenset({"meta", "users", "mfa", "pools", "tasks", "service"})


def contract_routes() -> list[tuple[str, str, list[int]]]:
    """Each route of the contract with the statuses it documents, for the coverage."""
    return [
        (route.method, route.path, list(documented_answers(route)))
        for route in ROUTES
        if route.tag in CONTRACT_TAGS
    ]


def setup_routes(app: web.Application) -> None:
    """Register every route of :data:`ROUTES`; GET routes answer HEAD with 405, as the
    original does."""
    register(app, ROUTES)
    app[ROUTE_TABLE] = ROUTES
