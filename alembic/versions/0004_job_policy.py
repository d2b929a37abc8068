"""Job policy and run context: per-job retry_on / no_retry_on exit codes, backoff_base, the
working directory and extra environment.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("retry_on", postgresql.ARRAY(sa.Integer()), nullable=True))
    op.add_column("jobs", sa.Column("no_retry_on", postgresql.ARRAY(sa.Integer()),
                                    nullable=True))
    op.add_column("jobs", sa.Column("backoff_base", sa.Double(), nullable=True))
    op.add_column("jobs", sa.Column("cwd", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("env", postgresql.JSONB(), nullable=True))
    op.create_check_constraint(op.f("ck_jobs_one_retry_list"), "jobs",
                               "retry_on IS NULL OR no_retry_on IS NULL")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_jobs_one_retry_list"), "jobs", type_="check")
    for column in ("env", "cwd", "backoff_base", "no_retry_on", "retry_on"):
        op.drop_column("jobs", column)
