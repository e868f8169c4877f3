"""Notification's tables: email_deliveries, inbox_notifications_v2, notification_batch_items,
notification_batches, notification_nomination_contacts, notification_reviewer_contacts, as
the release before migrations (e96f14f) created them with create_all.

Revision ID: notification_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "notification_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=200), nullable=False),
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("to_masked", sa.String(length=320), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(length=32), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index(
        "ix_deliveries_due", "email_deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "inbox_notifications_v2",
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("source_event_id", sa.String(length=36), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("position", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index(
        "ix_inbox_v2_recipient",
        "inbox_notifications_v2",
        ["recipient_id", "position"],
        unique=False,
    )
    op.create_table(
        "notification_batch_items",
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=200), nullable=False),
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index("ix_batch_items_batch", "notification_batch_items", ["batch_id"], unique=False)
    op.create_table(
        "notification_batches",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("source_event_id", sa.String(length=36), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", sa.String(length=32), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("approved_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_index(
        "ix_batches_status", "notification_batches", ["status", "opened_at"], unique=False
    )
    op.create_table(
        "notification_nomination_contacts",
        sa.Column("nomination_id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=320), nullable=False),
        sa.Column("category", sa.String(length=320), nullable=False),
        sa.Column("nominee_name", sa.String(length=320), nullable=False),
        sa.Column("nominator_id", sa.String(length=320), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=320), nullable=False),
        sa.Column("commission_id", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("nomination_id"),
    )
    op.create_table(
        "notification_reviewer_contacts",
        sa.Column("reviewer_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=320), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("reviewer_id"),
    )
