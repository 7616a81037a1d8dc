# Alembic's environment: online migrations only, against PATTERNS_DB_URL (the migrating user's
# credentials, read by the test from its Secret).
import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["PATTERNS_DB_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
