"""Who may call what: the one table of gRPC method -> roles, for every service.

The shared server interceptor consults `POLICY` before any handler runs, so a
role that has no business with a method never reaches the service's code.
Methods missing from the table are refused (deny by default); only health
checks and reflection are open. Rules that need data -- a nominator acts only
for their hospital, an endorser only in their jurisdiction, a reviewer only on
nominations assigned to them, blind review -- live in each service's
application layer, which answers PERMISSION_DENIED, or NOT_FOUND where
existence itself must not leak.

README.md's "Access policy" section is generated from this table
(`python -m laurel.policy --write README.md`); a test fails when it is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from laurel.auth import ROLES
from laurel.envelope import Actor
from laurel.errors import PermissionDenied

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

NOMINATOR, ENDORSER, ORGANIZER = "nominator", "endorser", "organizer"
REVIEWER, AUDITOR, SERVICE = "reviewer", "auditor", "service"
JOURNALIST = "journalist"
EVERYONE = frozenset(ROLES)
READ_NOMINATIONS = frozenset({NOMINATOR, ENDORSER, ORGANIZER, AUDITOR, SERVICE})
OPERATIONS = frozenset({ORGANIZER, AUDITOR})
# Intake's reads: a journalist reads the nominations of the campaigns their
# newspaper reports on (which ones, intake decides from the campaign's data).
READ_INTAKE = READ_NOMINATIONS | {JOURNALIST}


def _service(package: str, service: str, rules: Mapping[str, Iterable[str]]
             ) -> dict[str, frozenset[str]]:
    return {f"/{package}.{service}/{method}": frozenset(roles)
            for method, roles in rules.items()}


POLICY: dict[str, frozenset[str]] = {
    **_service("laurel.intake.v1", "IntakeService", {
        "RegisterOrganization": {ORGANIZER},
        "GetOrganization": EVERYONE,
        "DraftNomination": {NOMINATOR},
        "SaveDraft": {NOMINATOR},
        "SubmitNomination": {NOMINATOR},
        "SubmitDraft": {NOMINATOR},
        "ReturnNomination": {ENDORSER},
        "RejectNomination": {ENDORSER, ORGANIZER},
        "ResubmitNomination": {NOMINATOR},
        "EndorseNomination": {ENDORSER},
        "ForwardNomination": {ENDORSER},
        "ReceiveNomination": {ORGANIZER},
        "AmendNomination": {NOMINATOR},
        "WithdrawNomination": {NOMINATOR},
        "AttachEvidence": {NOMINATOR},
        "AttachReport": {JOURNALIST, ORGANIZER},
        "GetEvidence": READ_INTAKE,
        "GetNomination": READ_INTAKE,
        "GetNominationHistory": READ_INTAKE,
        "ListNominations": READ_INTAKE,
        "SetCampaignClock": {ORGANIZER},
        "ListCampaigns": EVERYONE,
        "GetCampaign": EVERYONE,
    }),
    **_service("laurel.scoring.v1", "ScoringService", {
        "Ping": EVERYONE,
        "RecordComplaint": {ORGANIZER, SERVICE},
        "RecordPenalty": {ORGANIZER, SERVICE},
        "WithdrawComplianceEntry": {ORGANIZER, SERVICE},
        "ListComplianceEntries": {ORGANIZER, AUDITOR, SERVICE},
        "GetEligibility": READ_NOMINATIONS,
        "ComputeResults": {ORGANIZER},
        "GetRanking": {ORGANIZER, AUDITOR, SERVICE},
        "GetScoreBreakdown": {ORGANIZER, AUDITOR, SERVICE},
    }),
    **_service("laurel.review.v1", "ReviewService", {
        "Ping": EVERYONE,
        "RegisterReviewer": {ORGANIZER},
        "DeclareConflict": {ORGANIZER, REVIEWER},
        "FormPanel": {ORGANIZER},
        "AssignReviewers": {ORGANIZER},
        "ExplainAssignment": {ORGANIZER},
        "Recuse": {ORGANIZER, REVIEWER},
        "OpenRound": {ORGANIZER},
        "GetRound": {ORGANIZER, AUDITOR, REVIEWER},
        "ListMyAssignments": {REVIEWER},
        "GetNominationForReview": {ORGANIZER, AUDITOR, REVIEWER},
        "SubmitReview": {REVIEWER},
        "GetReviews": {ORGANIZER, AUDITOR, REVIEWER},
        "CloseRound": {ORGANIZER},
        "ReopenRound": {ORGANIZER},
        "RecordDecision": {ORGANIZER},
        "PublishResults": {ORGANIZER},
        "IssueForumInvitations": {ORGANIZER},
    }),
    **_service("laurel.notification.v1", "NotificationService", {
        "ListNotifications": EVERYONE,
        "WatchNotifications": EVERYONE,
        "ListPendingBatches": OPERATIONS,
        "ApproveNotificationBatch": {ORGANIZER},
        "ListEmailDeliveries": OPERATIONS,
    }),
    # Every publishing service serves its own published log; consumers
    # catch up from it (laurel.published_log, laurel.catchup).
    **_service("laurel.eventlog.v1", "EventLogService", {
        "ReadLog": {SERVICE},
    }),
    **_service("laurel.audit.v1", "AuditService", {
        "GetNominationTimeline": {AUDITOR},
        "GetStateAsOf": {AUDITOR},
        "VerifyStores": {AUDITOR},
        "CheckCompleteness": {AUDITOR},
        "GetCheckpoint": {AUDITOR},
        "SignCheckpoint": {AUDITOR},
        "ExportNomination": {AUDITOR},
    }),
}


class PolicyDenied(PermissionDenied):
    """Refused by the access policy before the service's code ran."""


@dataclass(frozen=True)
class AccessPolicy:
    table: Mapping[str, frozenset[str]]

    def is_open(self, method: str) -> bool:
        return method.startswith(OPEN_METHOD_PREFIXES)

    def check(self, method: str, actor: Actor) -> None:
        """Raise PolicyDenied (with what would be allowed) unless permitted."""
        allowed = self.table.get(method)
        if allowed is None:
            raise PolicyDenied(
                f"{method} is not declared in the access policy, so nobody may call "
                "it; declare its roles in laurel/policy.py")
        if actor.role not in allowed:
            raise PolicyDenied(
                f"the {actor.role} role may not call {_short(method)}; it is for "
                f"{', '.join(sorted(allowed))}. Call it with a token of one of those roles")


DEFAULT_POLICY = AccessPolicy(POLICY)


def _short(method: str) -> str:
    return method.rsplit(".", 1)[-1]


# -- the README table ------------------------------------------------------------

BEGIN = "<!-- policy-table:begin (generated by `python -m laurel.policy --write README.md`) -->"
END = "<!-- policy-table:end -->"


def markdown_table(table: Mapping[str, frozenset[str]] = POLICY) -> str:
    """The allow matrix as Markdown: one row per method, one column per role."""
    head = "| method | " + " | ".join(ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [head, rule]
    for method in sorted(table):
        marks = " | ".join("✔" if role in table[method] else "·" for role in ROLES)
        rows.append(f"| `{_short(method)}` | {marks} |")
    return "\n".join(rows)


def readme_section() -> str:
    return f"{BEGIN}\n{markdown_table()}\n{END}"


def with_table(text: str) -> str:
    """`text` (a README) with its generated section replaced by the current table."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise ValueError("README has no policy-table markers")
    return text[:start] + readme_section() + text[stop + len(END):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m laurel.policy")
    parser.add_argument("--write", type=Path, help="update the table in this README")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(with_table(args.write.read_text(encoding="utf-8")),
                              encoding="utf-8")
    else:
        sys.stdout.write(markdown_table() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
