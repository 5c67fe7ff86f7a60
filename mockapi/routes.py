"""Every route of the server, named, in one table."""

from __future__ import annotations

from aiohttp import web

from mockapi import control, meta, mfa, pools, service, tasks, users, ws

API = "/api/v2"


def setup_routes(app: web.Application) -> None:
    """Register every route; GET routes answer HEAD with 405, as the original does."""
    r = app.router
    r.add_get(f"{API}/health/", meta.health, name="health", allow_head=False)
    r.add_get(f"{API}/version/", meta.version, name="version", allow_head=False)

    r.add_post(f"{API}/users/login/", users.login, name="login")
    r.add_post(f"{API}/users/logout/", users.logout, name="logout")
    r.add_get(f"{API}/users/settings/", users.user_settings, name="user-settings", allow_head=False)
    # The next_step targets of the MFA answers (CONTRACT §3, §10).
    r.add_get(f"{API}/users/adfs/", mfa.adfs_page, name="adfs", allow_head=False)
    r.add_post(f"{API}/users/adfs/", mfa.adfs_submit, name="adfs-submit")
    r.add_post(f"{API}/users/hardware_token/", mfa.hardware_token, name="hardware-token")

    r.add_get(f"{API}/pools/", pools.list_pools, name="pools", allow_head=False)
    r.add_get(f"{API}/pools/ws/{{client_id}}/", ws.websocket, name="pools-ws", allow_head=False)
    r.add_get(
        f"{API}/pools/{{id}}/connect/", pools.get_machine, name="connect-step1", allow_head=False
    )
    r.add_post(f"{API}/pools/{{id}}/connect/", pools.connect_machine, name="connect-step2")

    r.add_get(f"{API}/tasks/{{task_id}}/", tasks.get_task, name="task", allow_head=False)
    r.add_get(
        f"{API}/tasks/{{task_id}}/is-done/", tasks.is_done, name="task-done", allow_head=False
    )

    r.add_get("/service/all-pools/", service.all_pools, name="service-all-pools", allow_head=False)
    r.add_get("/service/all-users/", service.all_users, name="service-all-users", allow_head=False)
    r.add_get("/service/all-tasks/", service.all_tasks, name="service-all-tasks", allow_head=False)
    r.add_post("/service/create-pools/", service.create_pools, name="service-create-pools")

    r.add_get("/service/clock/", control.get_clock, name="service-clock", allow_head=False)
    r.add_post("/service/clock/", control.set_clock, name="service-clock-set")
    r.add_post("/service/reset/", control.reset, name="service-reset")
    r.add_get("/service/scenario/", control.get_scenario, name="service-scenario", allow_head=False)
    r.add_put("/service/scenario/", control.put_scenario, name="service-scenario-put")
    r.add_post("/service/tasks/{id}/", control.force_task, name="service-task-force")
    r.add_post("/service/tokens/", control.issue_token, name="service-tokens")
    r.add_get("/service/journal/", control.get_journal, name="service-journal", allow_head=False)
    r.add_delete("/service/journal/", control.clear_journal, name="service-journal-clear")
