"""What callers ask of notification: one frozen value per request.

Each carries its `caller` (who asked, in answer to what): the gRPC edge reads
the verified caller once and puts it here, the delivery worker names itself.
Queries are values too, so a read and a write look the same to a handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from laurel.envelope import Caller
from laurel.notification.domain.delivery import Outcome

# -- commands --------------------------------------------------------------------


@dataclass(frozen=True)
class ApproveNotificationBatch:
    """Release a held batch (an organizer of its campaign)."""

    caller: Caller
    batch_id: str
    expected_version: int | None = None


@dataclass(frozen=True)
class StartEmailSend:
    """Record that `worker` is about to hand an e-mail to the relay."""

    caller: Caller
    notification_id: str
    worker: str
    at: datetime


@dataclass(frozen=True)
class RecordSendOutcome:
    """What the relay said to the attempt `StartEmailSend` recorded."""

    caller: Caller
    notification_id: str
    attempt: int
    outcome: Outcome
    at: datetime


@dataclass(frozen=True)
class SettleOrphanedSend:
    """A send whose worker is gone becomes uncertain (never resent)."""

    caller: Caller
    notification_id: str
    dead_worker: str
    at: datetime


# -- queries -----------------------------------------------------------------------


@dataclass(frozen=True)
class ListNotifications:
    caller: Caller
    recipient_id: str = ""  # empty: the caller's own inbox
    nomination_id: str = ""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class WatchNotifications:
    caller: Caller
    recipient_id: str = ""
    nomination_id: str = ""
    after_cursor: str = ""  # empty: from now on


@dataclass(frozen=True)
class ListPendingBatches:
    caller: Caller
    campaign_id: str = ""


@dataclass(frozen=True)
class ListEmailDeliveries:
    caller: Caller
    status: str = ""
    nomination_id: str = ""
    page_size: int = 0
