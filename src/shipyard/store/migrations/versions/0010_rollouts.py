"""Canary rollouts: the candidate's weight and the judge's state, shared by every server process and replica.

Revision ID: 0010
Revises: 0007 (the lead re-points this at 0009 when the branches adding 0008 and 0009 merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("alias", sa.String(250), nullable=False),
        sa.Column("candidate", sa.String(250), nullable=False),
        sa.Column("primary_version", sa.Integer, nullable=False),
        sa.Column("candidate_version", sa.Integer, nullable=False),
        sa.Column("steps", sa.Text, nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("step_started_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("last_verdict", sa.Text, nullable=True),
    )
    op.create_index("ix_rollouts_name", "rollouts", ["name", "status"])


def downgrade() -> None:
    op.drop_index("ix_rollouts_name", table_name="rollouts")
    op.drop_table("rollouts")
