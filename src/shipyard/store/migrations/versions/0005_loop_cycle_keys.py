"""Loop cycles get an optional key, unique per loop: the tasks of one Airflow DAG run join one cycle by it.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loop_cycles") as batch:
        batch.add_column(sa.Column("cycle_key", sa.String(250), nullable=True))
        batch.create_index("ix_loop_cycles_key", ["loop", "cycle_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("loop_cycles") as batch:
        batch.drop_index("ix_loop_cycles_key")
        batch.drop_column("cycle_key")
