"""The campaign clock: which stages are open, and what each permits.

Every service asks the same question before an act that belongs to a stage:
`require_stage(definition, "attach_report", now)`. The answer comes from the
definition alone (each stage's dates and `permits`), so intake, review,
scoring and notification cannot disagree about whether interviews are still
running.

Pure: `now` is the campaign's clock, which intake records as events (tests
and the demo move it); nothing here reads a clock. It must be aware: a naive
time has no day to fall in. Dates are whole days in the campaign's zone, and
refusals show them in that zone.
"""

from __future__ import annotations

from datetime import date, datetime

from laurel.campaigns.schema import CampaignDefinition, Stage
from laurel.campaigns.vocabulary import ACTION_NAMES, ACTIONS
from laurel.errors import FailedPrecondition

RULE_STAGE = "stage_window"


def local(definition: CampaignDefinition, now: datetime) -> datetime:
    """`now` in the campaign's zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(definition.zone)


def stages_at(definition: CampaignDefinition, now: datetime) -> tuple[Stage, ...]:
    """The stages whose days include `now`, in the definition's order."""
    today = local(definition, now).date()
    return tuple(s for s in definition.stages if s.start <= today <= s.end)


def permitted_at(definition: CampaignDefinition, now: datetime) -> frozenset[str]:
    """Every act some stage open at `now` permits."""
    return frozenset(a for s in stages_at(definition, now) for a in s.permits)


def require_stage(definition: CampaignDefinition, stage_key_or_action: str,
                  now: datetime, subject: str = "") -> Stage:
    """The open stage `stage_key_or_action` names, or that permits it.

    A stage's key asks for that stage; an act (`vocabulary.ACTIONS`) for any
    stage that permits it. Outside, FailedPrecondition (rule `stage_window`)
    names the stage or stages and their dates in the campaign's zone, and
    what the campaign clock says. ValueError for a name that is neither: that
    is a caller's mistake, not a user's.
    """
    stage = definition.stage(stage_key_or_action)
    candidates: tuple[Stage, ...]
    if stage is not None:
        candidates, what = (stage,), f"the {_named(stage)} stage of {definition.id}"
    elif stage_key_or_action in ACTIONS:
        candidates = definition.stages_permitting(stage_key_or_action)
        what = f"{ACTION_NAMES[stage_key_or_action]} in {definition.id}"
        if not candidates:
            raise FailedPrecondition(RULE_STAGE, (
                f"{what}: no stage of this campaign permits it (its stages: "
                f"{', '.join(s.key for s in definition.stages)})"), subject)
    else:
        raise ValueError(f"{stage_key_or_action!r} is neither a stage of "
                         f"{definition.id} nor an act of {ACTIONS}")
    today = local(definition, now)
    for candidate in candidates:
        if candidate.start <= today.date() <= candidate.end:
            return candidate
    spans = " or ".join(f"{_named(c)}, {c.start} to {c.end}" for c in candidates)
    verb = "runs" if stage is not None else "is open in"
    raise FailedPrecondition(RULE_STAGE, (
        f"{what} {verb} {spans} ({definition.timezone}); the campaign clock says "
        f"{today:%Y-%m-%d %H:%M} ({definition.timezone})"), subject)


def lookback_as_of(definition: CampaignDefinition, campaign_now: datetime) -> date:
    """The day a look-back window ("no complaint within three years") ends on,
    inclusive: the definition's `lookback_reference` day, or the campaign
    clock's day if that is earlier (a verdict given before the reference day
    cannot count complaints dated after the campaign's "now").

    Scoring counts an entry when window_start(as_of, years) <= occurred_on <=
    as_of. ValueError if the definition declares no reference (the schema
    requires one wherever a category looks back).
    """
    reference = definition.lookback_reference_date()
    if reference is None:
        raise ValueError(f"{definition.id} declares no lookback_reference")
    return min(reference, local(definition, campaign_now).date())


def _named(stage: Stage) -> str:
    return f"{stage.name_zh} ({stage.name_en})"
