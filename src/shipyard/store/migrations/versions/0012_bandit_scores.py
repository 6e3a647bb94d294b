"""Bandit routing: each variant's sums of its predictions' calibrated P(correct), pending and labelled.

A ``routing: thompson`` deployment routes by every prediction's calibrated score as well as by the labels arrived
(``serving/thompson.py`` ``scored_counts``): the scored sums cover every prediction that carried a score, the
labelled ones those whose label has joined (their difference is what is pending), and each counted label keeps
the score it replaced.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COUNTS = ("scored", "labelled_scored")
_SUMS = ("scored_expected", "scored_squares", "labelled_expected", "labelled_scored_reward")


def upgrade() -> None:
    with op.batch_alter_table("bandit_arms") as batch:
        for name in _COUNTS:
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
        for name in _SUMS:
            batch.add_column(sa.Column(name, sa.Float, nullable=False, server_default="0"))
    with op.batch_alter_table("bandit_rewards") as batch:
        batch.add_column(sa.Column("expected", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bandit_rewards") as batch:
        batch.drop_column("expected")
    with op.batch_alter_table("bandit_arms") as batch:
        for name in (*_SUMS[::-1], *_COUNTS[::-1]):
            batch.drop_column(name)
