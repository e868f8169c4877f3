"""The nomination form of a category: its cells, groups of cells, and the
self-assessment rubric whose per-item points the form records.

Keys are English; labels keep the wording of the paper form (附件1–4), so a
nomination can be printed back in the layout the notice prescribes. A group
(院长: 姓名, 座机, 手机) nests fields; the API and the events use the flattened,
dotted keys (`president.mobile`).

Each field's type names its normalization (`laurel.normalize`): what a
nominator types is stored in the type's canonical form, so `１３８００１３８０００`
and `+86 138 0013 8000` are one mobile number.

A field may belong to an authority rather than to the nominator:
`filled_by: endorser` marks the cells of 附件2's 所属卫生健康委意见, which the
commission fills by endorsing (`from_endorsement` says which part of the
endorsement each shows: its opinion, the endorsing commission as the seal's
holder, the day). The nominator cannot type them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from laurel.campaigns.base import Checked, Frozen, Key, Label, Problem, duplicates
from laurel.normalize import canonical

FieldType = Literal[
    "text",  # one line
    "longtext",  # paragraphs: profiles, achievements, descriptions
    "mobile",  # mainland mobile number
    "landline",  # area code + number, optional extension (also fax)
    "phone",  # either of the two
    "email",
    "date",  # ISO 8601, YYYY-MM-DD
    "integer",
    "choice",  # one key of `choices`
    "multichoice",  # comma-separated keys of `choices`
    "signature",  # a signer's name or a seal's holder, as signed on paper
]
CHOICE_TYPES = ("choice", "multichoice")
Filler = Literal["nominator", "endorser"]
FILLERS: tuple[str, ...] = ("nominator", "endorser")
# The parts of an endorsement a form may show (see `forms.endorsement_values`).
EndorsementPart = Literal["opinion", "endorser", "date"]
ENDORSEMENT_TYPES = {"opinion": ("longtext", "text"), "endorser": ("signature", "text"),
                     "date": ("date",)}
TOTAL_LIKE = re.compile(r"(^|_)(total|sum)(_|$)")


class Choice(Frozen):
    key: Key
    label_zh: Label
    label_en: Label


class FormField(Checked):
    """A cell of the form (`type` set) or a group of cells (`fields` set)."""

    key: Key
    label_zh: Label
    label_en: Label
    type: FieldType | None = None
    required: bool = True
    filled_by: Filler = "nominator"
    from_endorsement: EndorsementPart | None = None
    max_length: PositiveInt | None = None
    min_value: int | None = None
    max_value: int | None = None
    choices: tuple[Choice, ...] = ()
    min_choices: NonNegativeInt | None = None
    max_choices: PositiveInt | None = None
    fields: tuple[FormField, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.fields)

    def normalize(self, value: str) -> str:
        """`value` in this field's canonical form (`laurel.normalize`); raises
        `laurel.normalize.Unacceptable`, saying the form expected, if it has none."""
        return canonical(self.type or "text", value)

    def problems(self) -> Iterable[Problem]:
        if TOTAL_LIKE.search(self.key):
            yield "key", ("a total is computed from its items, never typed in; "
                          "this field must not exist")
        if self.is_group:
            yield from self._group_problems()
        else:
            yield from self._leaf_problems()

    def _group_problems(self) -> Iterable[Problem]:
        if self.type is not None:
            yield "type", "a group has no type of its own, only its fields do"
        leaf_only = ("required", "filled_by", "from_endorsement", "max_length",
                     "min_value", "max_value", "choices", "min_choices", "max_choices")
        for name in leaf_only:
            if name in self.model_fields_set:
                yield name, "applies to each field of a group, not to the group"
        yield from duplicates((f.key for f in self.fields), "fields")

    def _leaf_problems(self) -> Iterable[Problem]:
        if self.type is None:
            yield "type", "a field needs a type (only a group, with fields, has none)"
            return
        if self.required and self.filled_by == "endorser":
            yield "required", ("the endorser fills this field after submission, so "
                               "the nominator cannot be required to")
        if self.from_endorsement and self.filled_by != "endorser":
            yield "from_endorsement", "only a field the endorser fills shows its endorsement"
        fits = ENDORSEMENT_TYPES.get(self.from_endorsement or "", (self.type,))
        if self.type not in fits:
            yield "type", (f"the endorsement's {self.from_endorsement} goes into a "
                           f"{' or '.join(fits)} field")
        if self.type != "integer" and (self.min_value, self.max_value) != (None, None):
            yield "min_value", "only integer fields have a range"
        if (self.min_value is not None and self.max_value is not None
                and self.min_value > self.max_value):
            yield "max_value", f"is below min_value {self.min_value}"
        yield from self._choice_problems()

    def _choice_problems(self) -> Iterable[Problem]:
        if self.type not in CHOICE_TYPES:
            if self.choices:
                yield "choices", f"a {self.type} field has no choices"
            if (self.min_choices, self.max_choices) != (None, None):
                yield "min_choices", "only multichoice fields count choices"
            return
        if not self.choices:
            yield "choices", f"a {self.type} field needs at least one choice"
        yield from duplicates((c.key for c in self.choices), "choices")
        if self.type == "choice" and (self.min_choices, self.max_choices) != (
                None, None):
            yield "min_choices", "a choice field takes exactly one choice"
        low, high = self.min_choices or 0, self.max_choices or len(self.choices)
        if high > len(self.choices) or low > high:
            yield "max_choices", (f"{low}..{high} choices cannot be made from "
                                  f"{len(self.choices)}")


class SelfAssessmentItem(Frozen):
    """One item of the evaluation rubric, scored by the hospital itself."""

    key: Key
    name_zh: Label
    name_en: Label
    max_points: PositiveInt
    measure: Key | None = None


class SelfAssessment(Checked):
    """The rubric a hospital scores itself on before it may be nominated.

    The form records each item's points and evidence under
    `<field_prefix>.<item>.points` / `.evidence`; the total is always computed
    from those items, so no total field can exist in the form.
    """

    name_zh: Label
    name_en: Label
    field_prefix: Key = "self_assessment"
    total: PositiveInt
    threshold: PositiveInt
    evidence_max_length: PositiveInt = 2000
    items: tuple[SelfAssessmentItem, ...] = Field(min_length=1)

    def problems(self) -> Iterable[Problem]:
        yield from duplicates((i.key for i in self.items), "items")
        points = sum(i.max_points for i in self.items)
        if points != self.total:
            yield "items", (f"the items' max_points add up to {points}, not to the "
                            f"declared total {self.total}")
        if self.threshold > self.total:
            yield "threshold", f"{self.threshold} is above the total {self.total}"

    def points_key(self, item: SelfAssessmentItem) -> str:
        return f"{self.field_prefix}.{item.key}.points"

    def evidence_key(self, item: SelfAssessmentItem) -> str:
        return f"{self.field_prefix}.{item.key}.evidence"

    def form_fields(self) -> dict[str, FormField]:
        """The two fields per item the form gains from this rubric."""
        out: dict[str, FormField] = {}
        for item in self.items:
            out[self.points_key(item)] = FormField.model_construct(
                key=self.points_key(item), label_zh=f"{item.name_zh}（自评得分）",
                label_en=f"{item.name_en}: self-assessed points", type="integer",
                min_value=0, max_value=item.max_points)
            out[self.evidence_key(item)] = FormField.model_construct(
                key=self.evidence_key(item), label_zh=f"{item.name_zh}（佐证材料）",
                label_en=f"{item.name_en}: evidence", type="longtext",
                max_length=self.evidence_max_length)
        return out


def flatten(fields: Iterable[FormField], prefix: str = "") -> dict[str, FormField]:
    """Leaf fields by dotted key, each a copy whose `key` is the dotted key."""
    flat: dict[str, FormField] = {}
    for field in fields:
        key = f"{prefix}{field.key}"
        if field.is_group:
            flat.update(flatten(field.fields, f"{key}."))
        else:
            flat[key] = field.model_copy(update={"key": key})
    return flat
