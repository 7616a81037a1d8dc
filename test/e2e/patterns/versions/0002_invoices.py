"""A later migration: a new table, used at once by the application without the operator."""
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.execute("CREATE TABLE invoices (id bigserial PRIMARY KEY, order_id int, amount numeric)")
