"""What each consumer applied of each upstream position (applied_positions) and
its checked watermark per upstream (upstream_watermarks), for catching up from
the upstreams' logs (laurel.catchup).

`if_not_exists`: a development database made between the commit that added
these tables (with create_all) and this chain already has them.

Revision ID: core_0002
Revises: core_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applied_positions",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("upstream", sa.String(length=100), nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("stream_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("applied_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "upstream", "position"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_applied_positions_stream",
        "applied_positions",
        ["consumer", "upstream", "stream_id", "version"],
        unique=False,
        if_not_exists=True,
    )
    op.create_table(
        "upstream_watermarks",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("upstream", sa.String(length=100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("checked_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "upstream"),
        if_not_exists=True,
    )
