"""Alembic environment: migrations run on the connection ``service.db.migrate`` hands in."""

from __future__ import annotations

from alembic import context

from service.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through service.db.migrate (or `verirag serve`), which passes the "
        "connection of the configured database"
    )
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
