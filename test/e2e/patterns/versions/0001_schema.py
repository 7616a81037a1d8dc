"""The application's first schema (in the migrator's own schema, the search_path env.py sets): what
ORMs and hand-written migrations create."""
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.execute("CREATE TYPE status AS ENUM ('new', 'done')")
    op.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, "
               "state status NOT NULL DEFAULT 'new')")
    op.execute("CREATE TABLE events (id bigserial PRIMARY KEY, order_id int REFERENCES "
               "orders (id), note text)")
    op.execute("CREATE TABLE audit (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text)")
    op.execute("CREATE INDEX orders_item ON orders (item)")
    op.execute("CREATE VIEW open_orders AS SELECT id, item FROM orders WHERE state = 'new'")
    op.execute("CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql STABLE AS "
               "'SELECT count(*) FROM orders'")
