"""Named queues: jobs.queue, and the queues table with per-queue limits and the pause flag.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("jobs", sa.Column("queue", sa.Text(collation="C"),
                                    server_default="default", nullable=False))
    op.create_index("ix_jobs_queue_claimable", "jobs",
                    ["queue", sa.text("priority DESC"), "run_at", "id"],
                    postgresql_where=sa.text("state IN ('pending', 'failed')"))
    op.create_index("ix_jobs_queue_due", "jobs", ["queue", "run_at"],
                    postgresql_where=sa.text("state IN ('pending', 'failed')"))
    op.create_table(
        "queues",
        sa.Column("name", sa.Text(collation="C"), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("rate_count", sa.Integer(), nullable=True),
        sa.Column("rate_period", sa.Integer(), nullable=True),
        sa.Column("rate_next_at", _TS, nullable=True),
        sa.Column("paused", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("concurrency IS NULL OR concurrency >= 1",
                           name=op.f("ck_queues_concurrency")),
        sa.CheckConstraint("(rate_count IS NULL) = (rate_period IS NULL) AND "
                           "(rate_count IS NULL OR (rate_count >= 1 AND rate_period >= 1))",
                           name=op.f("ck_queues_rate")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queues")),
    )


def downgrade() -> None:
    op.drop_table("queues")
    op.drop_index("ix_jobs_queue_due", table_name="jobs")
    op.drop_index("ix_jobs_queue_claimable", table_name="jobs")
    op.drop_column("jobs", "queue")
