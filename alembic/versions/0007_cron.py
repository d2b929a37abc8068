"""Cron schedules: the `cron` table, and `jobs.cron_name` for the jobs they enqueue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cron",
        sa.Column("name", sa.Text(collation="C"), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False, server_default="UTC"),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("done_until", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("last_run_at", _TS, nullable=True),
        sa.Column("last_job_id", sa.Text(collation="C"), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cron")),
    )
    op.add_column("jobs", sa.Column("cron_name", sa.Text(collation="C"), nullable=True))
    op.create_index("ix_jobs_cron_name", "jobs", ["cron_name", "created_at"],
                    postgresql_where=sa.text("cron_name IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_jobs_cron_name", table_name="jobs")
    op.drop_column("jobs", "cron_name")
    op.drop_table("cron")
