"""Intake's tables: intake_evidence, nominations, organizations, as the release before
migrations (e96f14f) created them with create_all.

Revision ID: intake_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_evidence",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "nominations",
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("hospital_id", sa.String(length=100), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=100), nullable=False),
        sa.Column("route_to", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("nominee_name", sa.Text(), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("ineligible_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("nomination_id"),
    )
    op.create_index(
        "ix_nominations_campaign",
        "nominations",
        ["campaign_id", "category", "status"],
        unique=False,
    )
    op.create_index(
        "ix_nominations_hospital",
        "nominations",
        ["hospital_id", "category", "status"],
        unique=False,
    )
    op.create_index(
        "ix_nominations_jurisdiction", "nominations", ["jurisdiction_id", "status"], unique=False
    )
    op.create_table(
        "organizations",
        sa.Column("organization_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.String(length=100), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=100), nullable=False),
        sa.Column("provincial_level", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id"),
    )
