"""Lost starts: `jobs.lost_starts` counts the runs of a job that were rescued before they
started (claimed into a worker's prefetch buffer, then the worker died). Such a run does not
count an attempt; the counter only bounds how often a job can be lost that way.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("lost_starts", sa.Integer(), nullable=False,
                                    server_default="0"))


def downgrade() -> None:
    op.drop_column("jobs", "lost_starts")
