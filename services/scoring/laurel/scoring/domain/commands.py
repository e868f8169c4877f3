"""What callers ask of scoring: each command carries who asked (`caller`).

The gRPC edge builds these from requests; handlers (`laurel.scoring.handlers`)
carry them out in one unit of work each. None acts on a stream whose version
a caller can know (the registry is one stream for every reporter, results
are scoring's own), so none carries an expected version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from laurel.envelope import Caller
from laurel.scoring.domain.eligibility import ComplianceReport

# -- the compliance registry ---------------------------------------------------


@dataclass(frozen=True)
class RecordComplaint:
    caller: Caller
    report: ComplianceReport


@dataclass(frozen=True)
class RecordPenalty:
    caller: Caller
    report: ComplianceReport


@dataclass(frozen=True)
class WithdrawComplianceEntry:
    caller: Caller
    entry_id: str
    reason: str
    withdrawn_on: date | None = None  # None: today


@dataclass(frozen=True)
class ListComplianceEntries:
    caller: Caller
    subject_id: str = ""
    kind: str = ""


# -- verdicts ------------------------------------------------------------------


@dataclass(frozen=True)
class GetEligibility:
    caller: Caller
    nomination_id: str


# -- results -------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeResults:
    caller: Caller
    campaign_id: str
    category: str
    round_id: str


@dataclass(frozen=True)
class GetRanking:
    caller: Caller
    campaign_id: str
    category: str
    round_id: str
    version: int = 0  # 0: the latest


@dataclass(frozen=True)
class GetScoreBreakdown:
    caller: Caller
    nomination_id: str
    round_id: str
    version: int = 0  # 0: the latest
