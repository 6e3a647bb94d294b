"""Runs get a creation sequence (ties within one millisecond); pipelines get a stat cache.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("seq", sa.Integer, nullable=True))
        batch.create_index("ix_runs_seq", ["seq"])
    op.create_table(
        "stat_cache",
        sa.Column("path", sa.String(4000), primary_key=True),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("ctime_ns", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("stat_cache")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_seq")
        batch.drop_column("seq")
