"""Bandit routing: each variant's reward sums, shared by every server process and replica, and the labels counted.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bandit_arms",
        sa.Column("deployment", sa.String(100), primary_key=True),
        sa.Column("variant", sa.String(100), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("reward", sa.Float, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("weighted_reward", sa.Float, nullable=False),
        sa.Column("weight_squares", sa.Float, nullable=False),
        sa.Column("weight_squares_reward", sa.Float, nullable=False),
        sa.Column("weight_squares_reward_squares", sa.Float, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "bandit_rewards",
        sa.Column("deployment", sa.String(100), primary_key=True),
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("reward", sa.Float, nullable=False),
        sa.Column("propensity", sa.Float, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bandit_rewards")
    op.drop_table("bandit_arms")
