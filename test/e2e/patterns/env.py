# Alembic's environment: online migrations only, against PATTERNS_DB_URL (the migrating user's
# credentials, read by the test from its Secret), in schema PATTERNS_SCHEMA (the migrator's own
# schema: objects and Alembic's version table go there).
import os

from alembic import context
from sqlalchemy import create_engine

schema = os.environ.get("PATTERNS_SCHEMA", "public")
engine = create_engine(os.environ["PATTERNS_DB_URL"],
                       connect_args={"options": "-c search_path=" + schema})
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, version_table_schema=schema)
    with context.begin_transaction():
        context.run_migrations()
