"""Eligibility rules and quotas: a closed set of names, each with its parameters.

The set is closed on purpose. A rule means something only if a service
enforces it, and a name no service knows would be ignored in silence, letting
an ineligible nomination through; so a definition naming an unknown rule, or
giving a known one the wrong parameters, is refused when it is loaded.

Each rule is its own model, told apart by `name`, so that its parameters are
checked with precise paths (`eligibility[1].params.years`). Checks that need
the rest of the category or campaign (does the named category exist?) are in
`schema`.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, PositiveInt

from laurel.campaigns.base import DottedKey, Frozen, Key

# A nominator's cases, photos and documents; stage 2's interview articles and
# reports (made by journalists, see `schema.Reporting`).
EvidenceKind = Literal["case", "photo", "document", "article", "report"]
EVIDENCE_KINDS: tuple[str, ...] = get_args(EvidenceKind)

Years = Annotated[int, Field(ge=1, le=50)]


class ThresholdParams(Frozen):
    min_total: PositiveInt


class YearsParams(Frozen):
    years: Years


class LiveNominationParams(Frozen):
    categories: tuple[Key, ...] = Field(min_length=1)
    same_hospital: bool = True


class MeasuresParams(Frozen):
    min: PositiveInt = 1
    field: DottedKey = "measures"


class EvidenceParams(Frozen):
    kind: EvidenceKind
    min: PositiveInt = 1


class SelfAssessmentThreshold(Frozen):
    """The self-assessment under the category's rubric reaches `min_total`."""

    name: Literal["self_assessment_threshold"]
    params: ThresholdParams


class NoComplaintWithin(Frozen):
    """No patient complaint or report in the compliance registry for `years`."""

    name: Literal["no_complaint_within"]
    params: YearsParams


class NoPenaltyWithin(Frozen):
    """No penalty record in the compliance registry for `years`."""

    name: Literal["no_penalty_within"]
    params: YearsParams


class RequiresLiveNomination(Frozen):
    """Another live nomination, in one of `categories`, must exist first."""

    name: Literal["requires_live_nomination"]
    params: LiveNominationParams


class NamesTenMeasures(Frozen):
    """The multichoice `field` names at least `min` of the ten measures."""

    name: Literal["names_ten_measures"]
    params: MeasuresParams = MeasuresParams()


class RequiresEvidence(Frozen):
    """At least `min` evidence files of `kind` are attached (e.g. cases)."""

    name: Literal["requires_evidence"]
    params: EvidenceParams


EligibilityRule = Annotated[
    SelfAssessmentThreshold
    | NoComplaintWithin
    | NoPenaltyWithin
    | RequiresLiveNomination
    | NamesTenMeasures
    | RequiresEvidence,
    Field(discriminator="name"),
]


class QuotaParams(Frozen):
    max: PositiveInt


class PerHospitalAlive(Frozen):
    """At most `max` live (submitted, not withdrawn or rejected) per hospital."""

    name: Literal["per_hospital_alive"]
    params: QuotaParams


Quota = Annotated[PerHospitalAlive, Field(discriminator="name")]



def _names(union: object) -> frozenset[str]:
    members = get_args(get_args(union)[0]) or (get_args(union)[0],)
    return frozenset(get_args(m.model_fields["name"].annotation)[0] for m in members)


RULE_NAMES = _names(EligibilityRule)
QUOTA_NAMES = _names(Quota)
