"""Loops: one row per cycle (steps and their results as JSON) and a lock per loop that survives crashes.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loop_cycles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("loop", sa.String(250), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("steps", sa.Text, nullable=False),
        sa.Column("host", sa.String(250), nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.UniqueConstraint("loop", "number", name="uq_loop_cycles_number"),
    )
    op.create_index("ix_loop_cycles_loop", "loop_cycles", ["loop", "started_at"])
    op.create_table(
        "loop_locks",
        sa.Column("loop", sa.String(250), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("host", sa.String(250), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("loop_locks")
    op.drop_index("ix_loop_cycles_loop", table_name="loop_cycles")
    op.drop_table("loop_cycles")
