"""Who to tell, and where: a small directory kept from other services' events.

Results name a nomination, not a person; a reminder names a reviewer, not an
address. So notification keeps what it learned about each nomination
(nominator, nominee, contact e-mail from the form's `contact.email`) and each
reviewer, as its own events (`NominationContactRecorded`,
`ReviewerContactRecorded`, full snapshots) folded into a projection: the
directory is rebuildable from notification's log alone, and an auditor sees
which address a message went to and why. The rows live in
`read_models.DirectoryProjection`; this module only decides what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent
from laurel.notification.domain.events import (
    NOMINATION_CONTACT_RECORDED,
    REVIEWER_CONTACT_RECORDED,
)

EMAIL_FIELDS = ("contact.email", "email", "contact_email")
LANGUAGE_FIELDS = ("contact.language", "notification_language", "language")
CHANGE_EVENTS = ("NominationResubmitted", "NominationAmended", "NominationDraftSaved")
REVIEWER_REGISTERED = "ReviewerRegistered"
# Every upstream event type the directory learns from.
TYPES = frozenset({"NominationSubmitted", *CHANGE_EVENTS, REVIEWER_REGISTERED})


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
    if event.type != REVIEWER_REGISTERED:
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


def _first(values: Mapping[str, Any], keys: tuple[str, ...],
           accept: Callable[[str], bool]) -> str:
    for key in keys:
        value = str(values.get(key) or "").strip()
        if value and accept(value):
            return value
    return ""


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(local and at and "." in domain and " " not in value)
