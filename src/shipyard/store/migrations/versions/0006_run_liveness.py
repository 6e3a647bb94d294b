"""Runs and loop locks say which process owns them and when it was last alive: dead owners' runs end KILLED.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("process_start", sa.String(100), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.BigInteger, nullable=True))
        batch.create_index("ix_runs_status", ["status"])
    with op.batch_alter_table("loop_locks") as batch:
        batch.add_column(sa.Column("process_start", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loop_locks") as batch:
        batch.drop_column("process_start")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_status")
        batch.drop_column("heartbeat_at")
        batch.drop_column("process_start")
