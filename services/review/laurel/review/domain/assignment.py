"""Review's assignment: who scores which nomination, and why.

Reviewers are registered once with their organization, jurisdiction, panel
group and declared conflicts. A panel serves one campaign category round and
requires a mix of groups per nomination (henan: {hospital_manager: 2,
industry_expert: 2, media: 1}; innovation-year: the professional group that
fits the project). Assignment is pure and deterministic: the same state and
nominees give the same reviewers, whatever order the nominees come in,
because every choice is made by (current load, seeded hash, reviewer id) and
the seed is recorded with the panel. No clock, no random module.

A reviewer is never assigned a nomination they conflict with: same hospital
as the nominee, the nominated department or ward itself (a hospital's own
campaign), same local health commission (jurisdiction), or a conflict
they declared (naming the nomination, the hospital or a related id). A recusal
records the reason and brings in a replacement from the same group.

The mix is all or nothing: if any nominee cannot get its required reviewers,
`FailedPrecondition("panel_mix")` names every shortfall and nothing is
assigned.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from laurel.envelope import NewEvent, RecordedEvent
from laurel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from laurel.review.domain.events import (
    CONFLICT_DECLARED,
    PANEL_FORMED,
    PANEL_MEMBERS_ADDED,
    REVIEWER_ASSIGNED,
    REVIEWER_RECUSED,
    REVIEWER_REGISTERED,
)
from laurel.unit_of_work import Aggregate

RULE_PANEL_MIX = "panel_mix"
RULE_NOT_ASSIGNED = "not_assigned"

HENAN_MIX = {"hospital_manager": 2, "industry_expert": 2, "media": 1}


@dataclass(frozen=True)
class Reviewer:
    reviewer_id: str
    name: str
    organization_id: str
    jurisdiction_id: str
    group: str
    declared_conflicts: frozenset[str] = frozenset()

    def to_payload(self) -> dict[str, Any]:
        return {"reviewer_id": self.reviewer_id, "name": self.name,
                "organization_id": self.organization_id,
                "jurisdiction_id": self.jurisdiction_id, "group": self.group,
                "declared_conflicts": sorted(self.declared_conflicts)}


@dataclass(frozen=True)
class Nominee:
    """The facts about a nomination that conflicts are checked against.

    `related_ids` are further ids a reviewer may declare a conflict with: the
    nominated manager, the department or ward, the nominee organization.
    """

    nomination_id: str
    hospital_id: str
    jurisdiction_id: str
    related_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PanelSpec:
    panel_id: str
    campaign_id: str
    category: str
    round_id: str
    mix: Mapping[str, int]
    members: tuple[str, ...]
    seed: str = ""


@dataclass(frozen=True)
class Assignment:
    nomination_id: str
    reviewer_id: str
    group: str
    reason: str
    replaces: str = ""


@dataclass(frozen=True)
class Recusal:
    nomination_id: str
    reviewer_id: str
    group: str
    reason: str


@dataclass(frozen=True)
class Panel:
    panel_id: str
    campaign_id: str
    category: str
    round_id: str
    mix: Mapping[str, int]
    members: tuple[str, ...]
    seed: str
    assignments: Mapping[str, tuple[Assignment, ...]] = field(default_factory=dict)
    recusals: Mapping[str, tuple[Recusal, ...]] = field(default_factory=dict)

    def assigned(self, nomination_id: str) -> tuple[Assignment, ...]:
        return self.assignments.get(nomination_id, ())

    def recused_ids(self, nomination_id: str) -> set[str]:
        return {r.reviewer_id for r in self.recusals.get(nomination_id, ())}

    def loads(self) -> Counter[str]:
        """Current assignments per member; recused ones no longer count."""
        counts: Counter[str] = Counter({rid: 0 for rid in self.members})
        for current in self.assignments.values():
            counts.update(a.reviewer_id for a in current)
        return counts


@dataclass(frozen=True)
class AssignmentState:
    reviewers: Mapping[str, Reviewer] = field(default_factory=dict)
    panels: Mapping[str, Panel] = field(default_factory=dict)

    def panel(self, panel_id: str) -> Panel:
        if panel_id not in self.panels:
            raise NotFound(f"no panel {panel_id}", field="panel_id")
        return self.panels[panel_id]

    def panel_of_round(self, round_id: str) -> Panel | None:
        return next((p for p in self.panels.values() if p.round_id == round_id), None)

    def round_panel(self, round_id: str) -> Panel:
        """The panel formed for a round, or NOT_FOUND."""
        found = self.panel_of_round(round_id)
        if found is None:
            raise NotFound(f"no panel was formed for round {round_id!r}", field="round_id")
        return found


@dataclass(frozen=True)
class ReviewerExplanation:
    reviewer_id: str
    group: str
    status: str  # assigned | conflict | recused | not_chosen
    reason: str


# -- conflicts -----------------------------------------------------------------


def conflict(reviewer: Reviewer, nominee: Nominee) -> str:
    """Why this reviewer may not score this nominee, or '' when they may."""
    if reviewer.organization_id and reviewer.organization_id == nominee.hospital_id:
        return f"same hospital as the nominee ({nominee.hospital_id})"
    if reviewer.organization_id and reviewer.organization_id in nominee.related_ids:
        # a hospital's own campaign (innovation-year): its departments review
        # each other's projects, never their own
        return f"same organization as the nominee ({reviewer.organization_id})"
    if reviewer.jurisdiction_id and reviewer.jurisdiction_id == nominee.jurisdiction_id:
        return (f"same local health commission / jurisdiction as the nominee "
                f"({nominee.jurisdiction_id})")
    named = {nominee.nomination_id, nominee.hospital_id, *nominee.related_ids}
    declared = sorted(reviewer.declared_conflicts & named)
    if declared:
        return f"declared a conflict with {', '.join(declared)}"
    return ""


# -- deciding: reviewers and panels ----------------------------------------------


def register_reviewer(state: AssignmentState, reviewer: Reviewer,
                      contact: Mapping[str, str] | None = None) -> list[NewEvent]:
    """Registering the same reviewer again is a no-op; other details are refused.

    `contact` (email, language) rides along for the notification service;
    review itself keeps no address."""
    _check_reviewer(reviewer)
    known = state.reviewers.get(reviewer.reviewer_id)
    if known == reviewer:
        return []
    if known is not None:
        raise AlreadyExists(f"reviewer {reviewer.reviewer_id} is registered with "
                            "other details")
    extra = {k: v for k, v in (contact or {}).items() if v}
    return [NewEvent(REVIEWER_REGISTERED, {**reviewer.to_payload(), **extra})]


def declare_conflict(
    state: AssignmentState, reviewer_id: str, subject_id: str, reason: str
) -> list[NewEvent]:
    reviewer = _reviewer(state, reviewer_id)
    if not subject_id.strip() or not reason.strip():
        raise InvalidArgument("a declared conflict names its subject and reason", [
            FieldViolation(name, "required") for name, value in
            (("subject_id", subject_id), ("reason", reason)) if not value.strip()])
    if subject_id in reviewer.declared_conflicts:
        return []
    return [NewEvent(CONFLICT_DECLARED, {"reviewer_id": reviewer_id,
                                         "subject_id": subject_id,
                                         "reason": reason.strip()})]


def form_panel(state: AssignmentState, spec: PanelSpec) -> list[NewEvent]:
    if spec.panel_id in state.panels:
        raise AlreadyExists(f"panel {spec.panel_id} already exists")
    members = sorted(set(spec.members))
    _check_panel(state, spec.mix, members)
    _check_mix_coverage(state, spec.mix, members, spec.panel_id)
    return [NewEvent(PANEL_FORMED, {
        "panel_id": spec.panel_id, "campaign_id": spec.campaign_id,
        "category": spec.category, "round_id": spec.round_id,
        "mix": dict(sorted(spec.mix.items())), "members": members,
        "seed": spec.seed or spec.panel_id,
    })]


def add_panel_members(
    state: AssignmentState, panel_id: str, reviewer_ids: Iterable[str]
) -> list[NewEvent]:
    """Widen a panel, e.g. so that a recusal can find a replacement."""
    panel = state.panel(panel_id)
    new = sorted(set(reviewer_ids) - set(panel.members))
    if not new:
        return []
    _check_panel(state, panel.mix, new)
    return [NewEvent(PANEL_MEMBERS_ADDED, {"panel_id": panel_id,
                                           "round_id": panel.round_id,
                                           "members": new})]


# -- deciding: assignment -----------------------------------------------------------


def assign_reviewers(
    state: AssignmentState, panel_id: str, nominees: Iterable[Nominee]
) -> list[NewEvent]:
    """Fill every nominee's mix; those already complete are left as they are.

    Group by group, the nominees with the fewest spare eligible reviewers *in
    that group* go first, and the least loaded reviewers win, then the seeded
    hash. Judging the slack per group matters: a nominee that conflicts with
    one expert must get the other experts before they are spent elsewhere,
    whatever its slack among managers or media. With no conflicts this keeps
    each group's loads within one of each other.
    """
    panel = state.panel(panel_id)
    unique = {n.nomination_id: n for n in nominees}
    ordered = [unique[k] for k in sorted(unique)]
    _check_feasible(state, panel, ordered)
    loads = panel.loads()
    events: list[NewEvent] = []
    for group, need in sorted(panel.mix.items()):
        for nominee in sorted(ordered, key=lambda n: (
                _group_slack(state, panel, n, group, need), n.nomination_id)):
            events += _fill_group(state, panel, nominee, group, need, loads)
    return events


def recuse(
    state: AssignmentState, panel_id: str, nominee: Nominee, reviewer_id: str,
    reason: str,
) -> list[NewEvent]:
    """The reviewer steps out with a reason; a same-group replacement steps in."""
    panel = state.panel(panel_id)
    if not reason.strip():
        raise InvalidArgument("a recusal states its reason",
                              [FieldViolation("reason", "required")])
    current = {a.reviewer_id: a for a in panel.assigned(nominee.nomination_id)}
    if reviewer_id not in current:
        raise FailedPrecondition(
            RULE_NOT_ASSIGNED, f"{reviewer_id} is not assigned to "
            f"{nominee.nomination_id} on panel {panel_id}", nominee.nomination_id)
    group = current[reviewer_id].group
    recused = NewEvent(REVIEWER_RECUSED, {
        "panel_id": panel_id, "round_id": panel.round_id,
        "nomination_id": nominee.nomination_id, "reviewer_id": reviewer_id,
        "group": group, "reason": reason.strip(),
    })
    after = _recused(panel, Recusal(nominee.nomination_id, reviewer_id, group,
                                    reason.strip()))
    candidates = _eligible(state, after, nominee, group)
    if not candidates:
        raise FailedPrecondition(
            RULE_PANEL_MIX, f"no other {group} reviewer on panel {panel_id} may "
            f"score {nominee.nomination_id}; add one to the panel, then recuse "
            "again", nominee.nomination_id)
    [replacement] = _fill_group(state, after, nominee, group, panel.mix[group],
                                after.loads(), replaces=reviewer_id)
    return [recused, replacement]


def explain_assignment(
    state: AssignmentState, panel_id: str, nominee: Nominee
) -> tuple[ReviewerExplanation, ...]:
    """For every panel member: why they score this nominee, or why not."""
    panel = state.panel(panel_id)
    assigned = {a.reviewer_id: a for a in panel.assigned(nominee.nomination_id)}
    recused = {r.reviewer_id: r for r in panel.recusals.get(nominee.nomination_id, ())}
    loads = panel.loads()
    lines = []
    for rid in sorted(panel.members):
        reviewer = state.reviewers[rid]
        status, reason = _explain_one(reviewer, nominee, assigned, recused, loads)
        lines.append(ReviewerExplanation(rid, reviewer.group, status, reason))
    return tuple(lines)


def seeded_rank(seed: str, nomination_id: str, reviewer_id: str) -> str:
    """A stable pseudo-random order: the same on every machine and every run."""
    text = f"{seed}\x1f{nomination_id}\x1f{reviewer_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fill_group(
    state: AssignmentState, panel: Panel, nominee: Nominee, group: str, need: int,
    loads: Counter[str], replaces: str = "",
) -> list[NewEvent]:
    have = [a for a in panel.assigned(nominee.nomination_id) if a.group == group]
    missing = need - len(have)
    if missing <= 0:
        return []
    candidates = _eligible(state, panel, nominee, group)
    order = sorted(candidates, key=lambda rid: (
        loads[rid], seeded_rank(panel.seed, nominee.nomination_id, rid), rid))
    events = []
    for position, rid in enumerate(order[:missing]):
        reason = (f"{group} needs {need} for this nominee; {len(candidates)} eligible "
                  f"without conflict; chosen #{position + 1} by lowest load "
                  f"({loads[rid]}), then seeded order")
        events.append(NewEvent(REVIEWER_ASSIGNED, {
            "panel_id": panel.panel_id, "round_id": panel.round_id,
            "campaign_id": panel.campaign_id, "category": panel.category,
            "nomination_id": nominee.nomination_id, "reviewer_id": rid,
            "group": group, "load_before": loads[rid], "reason": reason,
            "replaces": replaces,
        }))
        loads[rid] += 1
    return events


def _eligible(
    state: AssignmentState, panel: Panel, nominee: Nominee, group: str
) -> list[str]:
    """Members of the group free of conflict, not recused, not yet assigned."""
    taken = {a.reviewer_id for a in panel.assigned(nominee.nomination_id)}
    out = panel.recused_ids(nominee.nomination_id) | taken
    return [rid for rid in sorted(panel.members)
            if state.reviewers[rid].group == group and rid not in out
            and not conflict(state.reviewers[rid], nominee)]


def _group_slack(state: AssignmentState, panel: Panel, nominee: Nominee,
                 group: str, need: int) -> int:
    """Spare eligible reviewers of `group` once the nominee's places are filled."""
    have = sum(1 for a in panel.assigned(nominee.nomination_id) if a.group == group)
    return len(_eligible(state, panel, nominee, group)) - (need - have)


def _check_feasible(
    state: AssignmentState, panel: Panel, nominees: Sequence[Nominee]
) -> None:
    short = []
    for nominee in nominees:
        for group, need in sorted(panel.mix.items()):
            have = sum(1 for a in panel.assigned(nominee.nomination_id)
                       if a.group == group)
            free = len(_eligible(state, panel, nominee, group))
            if have + free < need:
                short.append(f"{nominee.nomination_id} needs {need} {group}, "
                             f"{have + free} may score it")
    if short:
        raise FailedPrecondition(
            RULE_PANEL_MIX, f"panel {panel.panel_id} cannot meet its mix "
            f"{dict(sorted(panel.mix.items()))}: " + "; ".join(short) +
            ". Add reviewers of those groups to the panel.", panel.panel_id)


def _explain_one(
    reviewer: Reviewer, nominee: Nominee, assigned: Mapping[str, Assignment],
    recused: Mapping[str, Recusal], loads: Counter[str],
) -> tuple[str, str]:
    rid = reviewer.reviewer_id
    if rid in assigned:
        return "assigned", assigned[rid].reason
    if rid in recused:
        return "recused", f"recused: {recused[rid].reason}"
    reason = conflict(reviewer, nominee)
    if reason:
        return "conflict", reason
    return "not_chosen", (
        f"eligible, but the {reviewer.group} places went to reviewers with a "
        f"lower load or earlier in the seeded order (current load {loads[rid]})")


def _reviewer(state: AssignmentState, reviewer_id: str) -> Reviewer:
    if reviewer_id not in state.reviewers:
        raise NotFound(f"no reviewer {reviewer_id}", field="reviewer_id")
    return state.reviewers[reviewer_id]


def _check_reviewer(reviewer: Reviewer) -> None:
    found = [FieldViolation(name, "required") for name, value in (
        ("reviewer_id", reviewer.reviewer_id), ("group", reviewer.group),
        ("organization_id", reviewer.organization_id)) if not value.strip()]
    if found:
        raise InvalidArgument("the reviewer is incomplete", found)


def _check_panel(
    state: AssignmentState, mix: Mapping[str, int], members: Sequence[str]
) -> None:
    found = [FieldViolation(f"mix[{g}]", "at least 1")
             for g, n in sorted(mix.items()) if n < 1]
    if not mix:
        found.append(FieldViolation("mix", "at least one group"))
    for rid in members:
        reviewer = state.reviewers.get(rid)
        if reviewer is None:
            found.append(FieldViolation(f"members[{rid}]", "not a registered reviewer"))
        elif reviewer.group not in mix:
            found.append(FieldViolation(
                f"members[{rid}]", f"group {reviewer.group!r} is not in the mix"))
    if found:
        raise InvalidArgument(f"the panel has {len(found)} problem(s)", found)


def _check_mix_coverage(
    state: AssignmentState, mix: Mapping[str, int], members: Sequence[str],
    panel_id: str,
) -> None:
    sizes = Counter(state.reviewers[rid].group for rid in members)
    short = [f"{group}: {sizes[group]} of {need}"
             for group, need in sorted(mix.items()) if sizes[group] < need]
    if short:
        raise FailedPrecondition(
            RULE_PANEL_MIX, "the panel has fewer members than one nominee needs "
            f"({'; '.join(short)})", panel_id)


# -- folding -------------------------------------------------------------------


def fold(events: Iterable[RecordedEvent]) -> AssignmentState:
    state = AssignmentState()
    for event in events:
        state = apply(state, event)
    return state


def evolve(state: AssignmentState | None, event: RecordedEvent) -> AssignmentState:
    return apply(state or AssignmentState(), event)


# Folds the reviewers' stream (who) and a round's stream (its panel) alike;
# `combined` puts the two together.
ASSIGNMENT = Aggregate("review-assignment", evolve)


def combined(reviewers: AssignmentState | None, panels: AssignmentState | None
             ) -> AssignmentState:
    """The reviewers of one fold with the panels of another."""
    return AssignmentState((reviewers or AssignmentState()).reviewers,
                           (panels or AssignmentState()).panels)


def apply(state: AssignmentState, event: RecordedEvent) -> AssignmentState:
    p = event.payload
    if event.type == REVIEWER_REGISTERED:
        reviewer = Reviewer(p["reviewer_id"], p["name"], p["organization_id"],
                            p["jurisdiction_id"], p["group"],
                            frozenset(p["declared_conflicts"]))
        return replace(state, reviewers={**state.reviewers, reviewer.reviewer_id:
                                         reviewer})
    if event.type == CONFLICT_DECLARED:
        known = state.reviewers[p["reviewer_id"]]
        updated = replace(known, declared_conflicts=known.declared_conflicts
                          | {p["subject_id"]})
        return replace(state, reviewers={**state.reviewers, known.reviewer_id:
                                         updated})
    if event.type == PANEL_FORMED:
        panel = Panel(p["panel_id"], p["campaign_id"], p["category"], p["round_id"],
                      dict(p["mix"]), tuple(p["members"]), p["seed"])
        return _with_panel(state, panel)
    if event.type in (PANEL_MEMBERS_ADDED, REVIEWER_ASSIGNED, REVIEWER_RECUSED):
        return _with_panel(state, _apply_panel(state.panels[p["panel_id"]], event))
    return state


def _apply_panel(panel: Panel, event: RecordedEvent) -> Panel:
    p = event.payload
    if event.type == PANEL_MEMBERS_ADDED:
        return replace(panel, members=tuple(sorted({*panel.members, *p["members"]})))
    if event.type == REVIEWER_ASSIGNED:
        assignment = Assignment(p["nomination_id"], p["reviewer_id"], p["group"],
                                p["reason"], p.get("replaces", ""))
        current = (*panel.assigned(assignment.nomination_id), assignment)
        return replace(panel, assignments={**panel.assignments,
                                           assignment.nomination_id: current})
    return _recused(panel, Recusal(p["nomination_id"], p["reviewer_id"], p["group"],
                                   p["reason"]))


def _recused(panel: Panel, recusal: Recusal) -> Panel:
    nid = recusal.nomination_id
    current = tuple(a for a in panel.assigned(nid)
                    if a.reviewer_id != recusal.reviewer_id)
    return replace(
        panel, assignments={**panel.assignments, nid: current},
        recusals={**panel.recusals, nid: (*panel.recusals.get(nid, ()), recusal)})


def _with_panel(state: AssignmentState, panel: Panel) -> AssignmentState:
    return replace(state, panels={**state.panels, panel.panel_id: panel})
