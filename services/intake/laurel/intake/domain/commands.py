"""What callers ask intake to do, and what they ask it to show.

Every command and query carries its `Caller` (who asked, in answer to what):
the gRPC edge builds it from the verified token, once, and the handlers read
the actor from here and nowhere else. A command on an existing nomination
may carry the `expected_version` the caller saw; the unit of work refuses it
(ABORTED) when the nomination has moved on since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from laurel.envelope import Caller
from laurel.intake.domain.organizations import Organization


@dataclass(frozen=True)
class Nominee:
    kind: str
    name: str
    organization_id: str


@dataclass(frozen=True)
class NominationForm:
    """What a nominator states: used to draft, or to submit in one step."""

    nomination_id: str
    campaign_id: str
    category: str
    nominee: Nominee
    fields: Mapping[str, str]


# -- commands -----------------------------------------------------------------


@dataclass(frozen=True)
class RegisterOrganization:
    caller: Caller
    organization: Organization


@dataclass(frozen=True)
class DraftNomination:
    caller: Caller
    form: NominationForm


@dataclass(frozen=True)
class SaveDraft:
    caller: Caller
    nomination_id: str
    fields: Mapping[str, str]
    expected_version: int | None = None


@dataclass(frozen=True)
class SubmitNomination:
    """Submit a whole nomination in one step."""

    caller: Caller
    form: NominationForm


@dataclass(frozen=True)
class SubmitDraft:
    caller: Caller
    nomination_id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ReturnNomination:
    caller: Caller
    nomination_id: str
    reasons: tuple[str, ...]
    expected_version: int | None = None


@dataclass(frozen=True)
class ResubmitNomination:
    caller: Caller
    nomination_id: str
    fields: Mapping[str, str]
    expected_version: int | None = None


@dataclass(frozen=True)
class EndorseNomination:
    caller: Caller
    nomination_id: str
    opinion: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ForwardNomination:
    caller: Caller
    nomination_id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ReceiveNomination:
    caller: Caller
    nomination_id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class RejectNomination:
    caller: Caller
    nomination_id: str
    reasons: tuple[str, ...]
    expected_version: int | None = None


@dataclass(frozen=True)
class AmendNomination:
    caller: Caller
    nomination_id: str
    fields: Mapping[str, str]
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class WithdrawNomination:
    caller: Caller
    nomination_id: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class AttachEvidence:
    """A file as uploaded; the handler checks it before any event names it."""

    caller: Caller
    nomination_id: str
    content: bytes
    filename: str
    media_type: str
    kind: str
    expected_version: int | None = None


@dataclass(frozen=True)
class AttachReport:
    """Stage-2 evidence: a journalist's article or report about a nomination
    of a campaign their newspaper reports on."""

    caller: Caller
    nomination_id: str
    content: bytes
    filename: str
    media_type: str
    kind: str
    title: str
    expected_version: int | None = None


@dataclass(frozen=True)
class SetCampaignClock:
    """Move a campaign's clock (development only), as an audited event."""

    caller: Caller
    campaign_id: str
    now: datetime


@dataclass(frozen=True)
class RecordCampaignDefinitions:
    """At start: append CampaignDefined/Amended where the files differ from the log."""

    caller: Caller


# -- queries -------------------------------------------------------------------


@dataclass(frozen=True)
class GetOrganization:
    caller: Caller
    organization_id: str


@dataclass(frozen=True)
class GetNomination:
    """As it stands; as of a campaign time (`as_of`: the events that count by
    then); or as recorded by a wall-clock time (`recorded_as_of`)."""

    caller: Caller
    nomination_id: str
    as_of: datetime | None = None
    recorded_as_of: datetime | None = None


@dataclass(frozen=True)
class GetNominationHistory:
    caller: Caller
    nomination_id: str


@dataclass(frozen=True)
class ListNominations:
    caller: Caller
    campaign_id: str = ""
    category: str = ""
    jurisdiction_id: str = ""
    status: str = ""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ListCampaigns:
    caller: Caller


@dataclass(frozen=True)
class GetCampaign:
    """The definition now; in force at a campaign time (`as_of`); or as
    recorded by a wall-clock time (`recorded_as_of`)."""

    caller: Caller
    campaign_id: str
    as_of: datetime | None = None
    recorded_as_of: datetime | None = None


@dataclass(frozen=True)
class GetEvidence:
    caller: Caller
    nomination_id: str
    sha256: str
