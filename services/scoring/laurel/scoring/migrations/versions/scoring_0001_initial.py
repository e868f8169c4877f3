"""Scoring's tables: scoring_compliance_entries, scoring_nominations, scoring_rounds,
scoring_verdicts, as the release before migrations (e96f14f) created them with create_all.

Revision ID: scoring_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "scoring_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scoring_compliance_entries",
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_on", sa.String(length=10), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index(
        op.f("ix_scoring_compliance_entries_subject_id"),
        "scoring_compliance_entries",
        ["subject_id"],
        unique=False,
    )
    op.create_table(
        "scoring_nominations",
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("hospital_id", sa.String(length=100), nullable=False),
        sa.Column("evaluable", sa.Boolean(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("nomination_id"),
    )
    op.create_index(
        op.f("ix_scoring_nominations_hospital_id"),
        "scoring_nominations",
        ["hospital_id"],
        unique=False,
    )
    op.create_table(
        "scoring_rounds",
        sa.Column("round_id", sa.String(length=200), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("nomination_ids", sa.Text(), nullable=False),
        sa.Column("results_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("round_id"),
    )
    op.create_table(
        "scoring_verdicts",
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("nomination_id", "rule"),
    )
