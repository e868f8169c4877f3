"""Which event tells whom what: one `Intent` per person to notify.

Other services' events are read by type name and payload keys only (no
imports across services), and tolerantly: an event this service does not know
yet, or one without the keys it needs, tells nobody anything. Placeholder
values are built here in the recipient's language, because codes such as an
outcome or a category become words that differ by language.

Pure: the facts (contacts from the directory) are passed in, and an event
that lacks what its kind needs raises `MalformedEvent` for the caller to log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from laurel.envelope import RecordedEvent, parse_time
from laurel.notification.domain.directory import NominationContact, ReviewerContact
from laurel.notification.domain.templates import Catalog

FORUM_INVITATIONS = "ForumInvitationsIssued"
Values = dict[str, Any]


class MalformedEvent(ValueError):
    """An event of a known type without the keys its kind needs: nobody is
    told, and the reaction logs why."""


@dataclass(frozen=True)
class Facts:
    """What the directory knows about the people an event concerns."""

    nominations: Mapping[str, NominationContact] = field(default_factory=dict)
    reviewers: Mapping[str, ReviewerContact] = field(default_factory=dict)
    default_language: str = "zh-CN"


@dataclass(frozen=True)
class Intent:
    kind: str
    recipient_id: str
    language: str
    values: Mapping[str, Any]
    nomination_id: str = ""
    campaign_id: str = ""
    email: str = ""
    dedupe_key: str = ""  # same key, recipient and kind: the same notification
    stream_key: str = ""  # which notification stream records it


@dataclass(frozen=True)
class Unaddressed:
    """Someone should hear of this, but the directory does not know who."""

    kind: str
    nomination_id: str
    reason: str


Result = list[Intent | Unaddressed]
Builder = Callable[[RecordedEvent, Facts, Catalog], Result]


def referenced_ids(event: RecordedEvent) -> tuple[set[str], set[str]]:
    """The nomination and reviewer ids whose contacts the decision needs."""
    p = event.payload
    nominations = {p.get("nomination_id", "")}
    nominations |= {
        d.get("nomination_id", "")
        for d in p.get("decisions", ())
        if isinstance(d, Mapping)
    }
    nominations |= set(p.get("nomination_ids", ()) or ())
    reviewers = {p.get("reviewer_id", "")}
    return {n for n in nominations if n}, {r for r in reviewers if r}


def intents_for(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
    """Who must hear what of `event`; [] for a type nobody hears about."""
    builder = BUILDERS.get(event.type)
    if builder is None:
        return []
    try:
        return builder(event, facts, catalog)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MalformedEvent(
            f"{event.type} {event.event_id} lacks what notification needs ({error!r})"
        ) from error


# -- intake ------------------------------------------------------------------


def _to_nominator(
    kind: str,
    values: Callable[[NominationContact, str], Values],
) -> Builder:
    def build(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
        nid = event.payload["nomination_id"]
        contact = facts.nominations.get(nid)
        if contact is None or not contact.nominator_id:
            return [Unaddressed(kind, nid, "no contact known for this nomination")]
        language = catalog.language_for(contact.language or facts.default_language)
        common = {
            "nominee_name": contact.nominee_name or nid,
            "nomination_id": nid,
            "category": catalog.term(language, f"category.{contact.category}"),
        }
        return [
            Intent(
                kind,
                contact.nominator_id,
                language,
                {**common, **values(contact, language)},
                nid,
                contact.campaign_id,
                contact.email,
                event.event_id,
                nid,
            )
        ]

    build.__name__ = f"build_{kind}"
    return build


def _receipt(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
    moment = event.recorded_at_time
    route = (event.payload.get("route") or {}).get("to", "commission")
    return _to_nominator(
        "receipt", lambda _c, lang: {
            "received_at": catalog.time(lang, moment),
            "next_step": catalog.term(lang, f"next_step.{route}"),
        }
    )(event, facts, catalog)


def _from_payload(kind: str, values: Callable[[Mapping[str, Any], Catalog, str], Values]
                  ) -> Builder:
    """A nominator's notification whose values come from the event's payload."""

    def build(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
        p = event.payload
        return _to_nominator(kind, lambda _c, lang: values(p, catalog, lang))(
            event, facts, catalog)

    return build


_returned = _from_payload("returned", lambda p, catalog, lang: {
    "commission": _commission(p, catalog, lang),
    "reasons": catalog.bullets(lang, list(p["reasons"])),
})
_endorsed = _from_payload("endorsed", lambda p, catalog, lang: {
    "commission": _commission(p, catalog, lang),
    "opinion": p["opinion"],
})


def _commission(p: Mapping[str, Any], catalog: Catalog, lang: str) -> str:
    """The commission's name as intake recorded it (events since it does), else
    a term for its id, else the id."""
    name = p.get("commission_name")
    return str(name) if name else catalog.term(lang, f"organization.{p['commission_id']}")


def _ineligible(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
    """Intake's mark and scoring's verdict tell of one fact: one notification."""
    p = event.payload
    if event.type == "EligibilityVerdictRecorded" and p["decision"] != "ineligible":
        return []
    built = _to_nominator(
        "eligibility",
        lambda _c, lang: {
            "rule": catalog.term(lang, f"rule.{p['rule']}"),
            "reason": p["reason"],
        },
    )(event, facts, catalog)
    key = f"eligibility:{p['nomination_id']}:{p['rule']}"
    return [_rekeyed(i, key) for i in built]


# -- review ------------------------------------------------------------------


def _reviewer(
    event: RecordedEvent,
    facts: Facts,
    catalog: Catalog,
    kind: str,
    values: Callable[[str], Values],
    stream_key: str,
) -> Result:
    rid = event.payload["reviewer_id"]
    contact = facts.reviewers.get(rid) or ReviewerContact(rid)
    language = catalog.language_for(contact.language or facts.default_language)
    nid = event.payload.get("nomination_id", "")
    return [
        Intent(
            kind,
            rid,
            language,
            {"reviewer_name": contact.name or rid, **values(language)},
            nid,
            event.payload.get("campaign_id", ""),
            contact.email,
            event.event_id,
            stream_key,
        )
    ]


def _assigned(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
    p = event.payload
    nid = p["nomination_id"]
    nominee = facts.nominations.get(nid)
    return _reviewer(
        event,
        facts,
        catalog,
        "reviewer_assigned",
        lambda lang: {
            "nominee_name": nominee.nominee_name if nominee else nid,
            "category": catalog.term(lang, f"category.{p['category']}"),
            "nomination_id": nid,
            "round_id": p["round_id"],
            "group": catalog.term(lang, f"group.{p['group']}"),
        },
        nid,
    )


def _reminder(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
    p = event.payload
    pending = list(p["nomination_ids"])
    return _reviewer(
        event,
        facts,
        catalog,
        "deadline_reminder",
        lambda lang: {
            "category": catalog.term(lang, f"category.{p['category']}"),
            "round_id": p["round_id"],
            "pending_count": len(pending),
            "nomination_ids": catalog.bullets(lang, pending),
            "deadline": _time(catalog, lang, p["deadline"]),
        },
        f"round-{p['round_id']}",
    )


def _results(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
    p = event.payload
    found: Result = []
    for decision in p["decisions"]:
        outcome, tier = decision["outcome"], decision.get("tier", "")
        code = f"tier.{tier}" if outcome == "tier" and tier else f"outcome.{outcome}"

        def values(_c: NominationContact, lang: str, code: str = code) -> Values:
            return {"outcome": catalog.term(lang, code),
                    "campaign_id": p["campaign_id"], "round_id": p["round_id"]}

        copy = _as_if(event, decision["nomination_id"])
        built = _to_nominator("results", values)(copy, facts, catalog)
        found += [
            _rekeyed(i, f"{event.event_id}:{decision['nomination_id']}") for i in built
        ]
    return found


def _forum(event: RecordedEvent, facts: Facts, catalog: Catalog) -> Result:
    p = event.payload
    grouping = p["grouping"]
    if grouping not in ("region", "theme"):
        return []
    kind = f"forum_invitation_{grouping}"
    found: Result = []
    for nid in p["nomination_ids"]:
        built = _to_nominator(
            kind,
            lambda _c, lang: {
                "forum_title": p["title"],
                grouping: p[grouping],
                "starts_at": _time(catalog, lang, p["starts_at"]),
                "venue": p["venue"],
            },
        )(_as_if(event, nid), facts, catalog)
        found += [_rekeyed(i, f"{event.event_id}:{nid}") for i in built]
    return found


# -- helpers -----------------------------------------------------------------


def _as_if(event: RecordedEvent, nomination_id: str) -> RecordedEvent:
    """The event seen from one of the nominations it names."""
    payload: dict[str, Any] = {**event.payload, "nomination_id": nomination_id}
    return replace(event, payload=payload)


def _rekeyed(item: Intent | Unaddressed, key: str) -> Intent | Unaddressed:
    return item if isinstance(item, Unaddressed) else replace(item, dedupe_key=key)


def _time(catalog: Catalog, language: str, text: str) -> str:
    try:
        return catalog.time(language, parse_time(text))
    except ValueError:
        return text


BUILDERS: dict[str, Builder] = {
    "NominationSubmitted": _receipt,
    "NominationResubmitted": _receipt,
    "NominationReturned": _returned,
    "NominationEndorsed": _endorsed,
    "NominationMarkedIneligible": _ineligible,
    "EligibilityVerdictRecorded": _ineligible,
    "ReviewerAssigned": _assigned,
    "ReviewDeadlineReminderDue": _reminder,
    "ResultsPublished": _results,
    FORUM_INVITATIONS: _forum,
}
