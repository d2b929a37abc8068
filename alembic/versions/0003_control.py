"""Steering running work: the cancelled and held states, control requests for running jobs,
live output chunks, fleet switches and stop requests for workers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_OLD_STATES = "'pending', 'processing', 'completed', 'failed', 'dead'"
_NEW_STATES = _OLD_STATES + ", 'cancelled', 'held'"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_jobs_state"), "jobs", type_="check")
    op.create_check_constraint(op.f("ck_jobs_state"), "jobs", f"state IN ({_NEW_STATES})")
    op.create_table(
        "controls",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Text(collation="C"), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("taken_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controls")),
    )
    op.create_index("ix_controls_run_id", "controls", ["run_id"],
                    postgresql_where=sa.text("taken_at IS NULL"))
    op.create_table(
        "job_output",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Text(collation="C"), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("chunk", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_output")),
    )
    op.create_index("ix_job_output_job_id", "job_output", ["job_id", "id"])
    op.create_table(
        "switches",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_switches")),
    )
    op.add_column("jobs", sa.Column("paused_at", _TS, nullable=True))
    op.add_column("workers", sa.Column("stop_requested_at", _TS, nullable=True))
    op.add_column("workers", sa.Column("stop_grace", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("workers", "stop_grace")
    op.drop_column("workers", "stop_requested_at")
    op.drop_column("jobs", "paused_at")
    op.drop_table("switches")
    op.drop_index("ix_job_output_job_id", table_name="job_output")
    op.drop_table("job_output")
    op.drop_index("ix_controls_run_id", table_name="controls")
    op.drop_table("controls")
    op.execute("UPDATE jobs SET state = 'dead' WHERE state = 'cancelled'")
    op.execute("UPDATE jobs SET state = 'pending' WHERE state = 'held'")
    op.drop_constraint(op.f("ck_jobs_state"), "jobs", type_="check")
    op.create_check_constraint(op.f("ck_jobs_state"), "jobs", f"state IN ({_OLD_STATES})")
