"""Who to tell, and where: a small directory kept from other services' events.

Results name a nomination, not a person; a reminder names a reviewer, not an
address. So notification keeps what it learned about each nomination
(nominator, nominee, contact e-mail from the form's `contact.email`) and each
reviewer, as its own events (`NominationContactRecorded`,
`ReviewerContactRecorded`, full snapshots) folded into a projection: the
directory is rebuildable from notification's log alone, and an auditor sees
which address a message went to and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, select

from laurel.envelope import NewEvent, RecordedEvent

NOMINATION_CONTACT_RECORDED = "NominationContactRecorded"
REVIEWER_CONTACT_RECORDED = "ReviewerContactRecorded"
EMAIL_FIELDS = ("contact.email", "email", "contact_email")
LANGUAGE_FIELDS = ("contact.language", "notification_language", "language")
CHANGE_EVENTS = ("NominationResubmitted", "NominationAmended", "NominationDraftSaved")


@dataclass(frozen=True)
class NominationContact:
    nomination_id: str
    campaign_id: str = ""
    category: str = ""
    nominee_name: str = ""
    nominator_id: str = ""
    email: str = ""
    language: str = ""
    commission_id: str = ""


@dataclass(frozen=True)
class ReviewerContact:
    reviewer_id: str
    name: str = ""
    email: str = ""
    language: str = ""


def contact_stream(nomination_id: str) -> str:
    return f"contact-nomination-{nomination_id}"


def reviewer_stream(reviewer_id: str) -> str:
    return f"contact-reviewer-{reviewer_id}"


def nomination_contact_from(
    event: RecordedEvent, current: NominationContact | None
) -> NominationContact | None:
    """The contact as it stands after `event`, or None when it is unchanged."""
    p = event.payload
    if event.type == "NominationSubmitted":
        fields = p.get("fields", {})
        route = p.get("route", {})
        updated = NominationContact(
            nomination_id=p["nomination_id"],
            campaign_id=p.get("campaign_id", ""),
            category=p.get("category", ""),
            nominee_name=p.get("nominee", {}).get("name", ""),
            nominator_id=event.actor.id,
            email=_first(fields, EMAIL_FIELDS, _looks_like_email),
            language=_first(fields, LANGUAGE_FIELDS, bool),
            commission_id=(
                route.get("organization_id", "")
                if route.get("to") == "commission"
                else ""
            ),
        )
    elif event.type in CHANGE_EVENTS and current is not None:
        after = {
            k: (c or {}).get("after") or "" for k, c in p.get("changes", {}).items()
        }
        updated = current
        if any(k in after for k in EMAIL_FIELDS):
            updated = replace(
                updated, email=_first(after, EMAIL_FIELDS, _looks_like_email)
            )
        if any(k in after for k in LANGUAGE_FIELDS):
            updated = replace(updated, language=_first(after, LANGUAGE_FIELDS, bool))
    else:
        return None
    return None if updated == current else updated


def reviewer_contact_from(
    event: RecordedEvent, current: ReviewerContact | None
) -> ReviewerContact | None:
    """Review's ReviewerRegistered, when it carries what we need (tolerantly)."""
    if event.type != "ReviewerRegistered":
        return None
    p = event.payload
    updated = ReviewerContact(
        reviewer_id=p["reviewer_id"],
        name=p.get("name", ""),
        email=p.get("email", "") if _looks_like_email(p.get("email", "")) else "",
        language=p.get("language", ""),
    )
    return None if updated == current else updated


def recorded(contact: NominationContact | ReviewerContact) -> NewEvent:
    kind = (
        NOMINATION_CONTACT_RECORDED
        if isinstance(contact, NominationContact)
        else REVIEWER_CONTACT_RECORDED
    )
    return NewEvent(kind, asdict(contact))


def _first(values: Mapping[str, Any], keys: tuple[str, ...], accept: Any) -> str:
    for key in keys:
        value = str(values.get(key) or "").strip()
        if value and accept(value):
            return value
    return ""


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(local and at and "." in domain and " " not in value)


class DirectoryProjection:
    """The latest contact per nomination and per reviewer."""

    name = "notification_directory"

    def __init__(self) -> None:
        self.metadata = MetaData()
        self.nominations = Table(
            "notification_nomination_contacts",
            self.metadata,
            Column("nomination_id", String(36), primary_key=True),
            *(
                Column(f, String(320), nullable=False)
                for f in (
                    "campaign_id",
                    "category",
                    "nominee_name",
                    "nominator_id",
                    "email",
                    "language",
                    "commission_id",
                )
            ),
        )
        self.reviewers = Table(
            "notification_reviewer_contacts",
            self.metadata,
            Column("reviewer_id", String(200), primary_key=True),
            *(
                Column(f, String(320), nullable=False)
                for f in ("name", "email", "language")
            ),
        )

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type == NOMINATION_CONTACT_RECORDED:
            table, key = self.nominations, "nomination_id"
        elif event.type == REVIEWER_CONTACT_RECORDED:
            table, key = self.reviewers, "reviewer_id"
        else:
            return
        row = {c.name: str(event.payload.get(c.name) or "") for c in table.columns}
        conn.execute(table.delete().where(table.c[key] == row[key]))
        conn.execute(table.insert(), row)

    def nomination(
        self, conn: Connection, nomination_id: str
    ) -> NominationContact | None:
        row = (
            conn.execute(
                select(self.nominations).where(
                    self.nominations.c.nomination_id == nomination_id
                )
            )
            .mappings()
            .first()
        )
        return NominationContact(**row) if row else None

    def reviewer(self, conn: Connection, reviewer_id: str) -> ReviewerContact | None:
        row = (
            conn.execute(
                select(self.reviewers).where(
                    self.reviewers.c.reviewer_id == reviewer_id
                )
            )
            .mappings()
            .first()
        )
        return ReviewerContact(**row) if row else None
