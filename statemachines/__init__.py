"""The state machines mockapi runs: login, per-(user, pool) connection, task lifecycle.

Pure ``transitions`` code: no aiohttp import here. Handlers translate HTTP into triggers.
"""
