"""A complete, valid form for any category, derived from its definition.

Tests, the benchmarks and the demo need many well-formed nominations; deriving
them from the definition (rather than keeping hand-written copies) means a
changed form never leaves a stale fixture behind that fails for the wrong
reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from laurel.campaigns.fields import FormField
from laurel.campaigns.forms import NOMINATOR, fillable_fields
from laurel.campaigns.schema import Category

SAMPLES = {
    "text": "示例",
    "longtext": "示例说明：按推荐表要求填写的内容。",
    "mobile": "13800000000",
    "landline": "0371-65580000",
    "phone": "13800000000",
    "email": "contact@example.org.cn",
    "date": "2021-11-20",
    "signature": "张三",
}


def specimen_fields(
    category: Category, *, self_assessment_total: int | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every field the nominator fills, with a canonical value of its type
    (cells an endorsement fills are left to it).

    The self-assessment items share `self_assessment_total` (default: full
    marks) as evenly as their maxima allow.
    """
    fields = {key: _value(field)
              for key, field in fillable_fields(category, NOMINATOR).items()}
    if category.self_assessment is not None:
        fields.update(_self_assessment(category, self_assessment_total))
    fields.update(overrides or {})
    return fields


def _value(field: FormField) -> str:
    if field.type == "integer":
        low = field.min_value if field.min_value is not None else 1
        return str(max(low, min(field.max_value or low, 10)))
    if field.type == "choice":
        return field.choices[0].key
    if field.type == "multichoice":
        count = max(field.min_choices or 1, 1)
        return ",".join(choice.key for choice in field.choices[:count])
    text = SAMPLES.get(field.type or "text", SAMPLES["text"])
    return text[: field.max_length] if field.max_length else text


def _self_assessment(category: Category, total: int | None) -> dict[str, str]:
    rubric = category.self_assessment
    assert rubric is not None
    maxima = [item.max_points for item in rubric.items]
    remaining = sum(maxima) if total is None else total
    points = []
    for index, maximum in enumerate(maxima):
        share = min(maximum, -(-remaining // (len(maxima) - index)))
        points.append(share)
        remaining -= share
    out = {}
    for item, given in zip(rubric.items, points, strict=True):
        out[rubric.points_key(item)] = str(given)
        out[rubric.evidence_key(item)] = f"{item.name_zh}：自评依据与佐证材料清单。"
    return out
