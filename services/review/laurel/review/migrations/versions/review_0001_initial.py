"""Review's tables: review_assignments, review_nominations, review_rounds, review_verdicts,
as the release before migrations (e96f14f) created them with create_all.

Revision ID: review_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "review_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_assignments",
        sa.Column("round_id", sa.String(length=200), nullable=False),
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("reviewer_id", sa.String(length=200), nullable=False),
        sa.Column("group", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("submitted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("round_id", "nomination_id", "reviewer_id"),
    )
    op.create_index(
        op.f("ix_review_assignments_reviewer_id"),
        "review_assignments",
        ["reviewer_id"],
        unique=False,
    )
    op.create_table(
        "review_nominations",
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("nomination", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("nomination_id"),
    )
    op.create_table(
        "review_rounds",
        sa.Column("round_id", sa.String(length=200), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("result_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("round_id"),
    )
    op.create_table(
        "review_verdicts",
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("nomination_id", "rule"),
    )
