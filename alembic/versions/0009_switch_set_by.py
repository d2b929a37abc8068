"""Who set a fleet-wide switch: `switches.set_by`, the database login and the client it
reported (OS user@host, or the dashboard), so `status` can say who paused claiming.

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
    op.add_column("switches", sa.Column("set_by", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("switches", "set_by")
