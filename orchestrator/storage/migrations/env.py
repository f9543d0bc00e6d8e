"""Alembic's environment: migrate on the connection ``orchestrator.storage.migrate`` opened.

That module holds the connection in a transaction under the database's lock and commits it, so
this file only binds the connection and the tables; there is no alembic.ini and no URL here.
"""

from alembic import context

from orchestrator.storage.tables import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
