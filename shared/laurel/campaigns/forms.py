"""Checking a nomination's fields against its category's form.

Every problem is reported at once, each under `fields[<dotted key>]`, so a
nominator fixes a form in one round trip instead of one error at a time. A
draft (`partial=True`) may leave required fields empty, but what it does fill
in must already be well formed, so a bad phone number is caught when typed,
not weeks later at submission.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date

from laurel.campaigns.fields import FILLERS, TOTAL_LIKE, FormField
from laurel.campaigns.schema import Category
from laurel.errors import FieldViolation, InvalidArgument
from laurel.normalize import Unacceptable
from laurel.text import normalized

EMAIL = re.compile(
    r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
NOMINATOR = "nominator"


def path(key: str) -> str:
    return f"fields[{key}]"


def normalize_form(
    category: Category, fields: Mapping[str, str], *, partial: bool = False,
    by: str = NOMINATOR,
) -> tuple[dict[str, str], list[FieldViolation]]:
    """(the fields in canonical form, every violation of the form).

    `by` is who fills the form in (`nominator`, or `endorser` for the cells
    an endorsement fills): a filled cell that belongs to the other is a
    violation. Each value is normalized by its field's type (`laurel.normalize`)
    and then checked; the canonical dict holds the well-formed values only, a
    blank one as "" (so an amendment can clear an optional field). Intake
    stores the canonical values, never what was typed.
    """
    if by not in FILLERS:
        raise ValueError(f"a form is filled in by one of {FILLERS}, not {by!r}")
    spec = category.form_fields
    canonical: dict[str, str] = {}
    found: list[FieldViolation] = []
    for key, field in spec.items():
        value = fields.get(key)
        if value is not None and not isinstance(value, str):
            found.append(FieldViolation(path(key), "expected text"))
        elif field.filled_by != by:
            if value is not None and normalized(value).strip():
                found.append(FieldViolation(path(key), _not_theirs(field, by)))
        elif value is None or not normalized(value).strip():
            if field.required and not partial:
                found.append(FieldViolation(
                    path(key), f"{field.label_zh} ({field.label_en}) is required"))
            elif value is not None:
                canonical[key] = ""
        else:
            try:
                value = field.normalize(value)
            except Unacceptable as refused:
                found.append(FieldViolation(path(key), str(refused)))
                continue
            if message := check_value(field, value):
                found.append(FieldViolation(path(key), message))
            else:
                canonical[key] = value
    for key in sorted(set(fields) - set(spec)):
        found.append(FieldViolation(path(key), _unknown(category, key)))
    return canonical, found


def validate_form(
    category: Category, fields: Mapping[str, str], *, partial: bool = False,
    by: str = NOMINATOR,
) -> list[FieldViolation]:
    """Every violation of the category's form, in form order, unknown keys last."""
    return normalize_form(category, fields, partial=partial, by=by)[1]


def fillable_fields(category: Category, role: str) -> dict[str, FormField]:
    """The cells `role` fills in (`nominator`, `endorser`), by dotted key;
    none for any other role."""
    return {key: field for key, field in category.form_fields.items()
            if field.filled_by == role}


def endorsement_fields(category: Category) -> dict[str, str]:
    """Dotted key -> the part of the endorsement it shows (opinion, endorser, date)."""
    return {key: field.from_endorsement for key, field in category.form_fields.items()
            if field.from_endorsement}


def endorsement_opinion_field(category: Category) -> str | None:
    """The cell the endorsement's opinion fills (附件2: 所属卫生健康委意见), or None."""
    return next((key for key, part in endorsement_fields(category).items()
                 if part == "opinion"), None)


def endorsement_values(
    category: Category, *, opinion: str, endorser: str, endorsed_on: date,
) -> dict[str, str]:
    """The cells an endorsement fills, in canonical form: its opinion, the
    endorsing commission (as the seal's holder) and the day, as the form shows
    them. What the endorsement act recorded is the source; the form is a view."""
    parts = {"opinion": opinion, "endorser": endorser, "date": endorsed_on.isoformat()}
    spec = category.form_fields
    return {key: spec[key].normalize(parts[part])
            for key, part in endorsement_fields(category).items()}


def self_assessment_total(category: Category, fields: Mapping[str, str]) -> int:
    """The sum of the per-item points; an item not yet scored counts nothing.

    Points are read as normalized (`９０` is 90). Raises InvalidArgument when
    an item holds something other than whole points within its maximum: a
    total over such values would be a number nobody gave.
    """
    rubric = category.self_assessment
    if rubric is None:
        raise ValueError(f"category {category.key!r} has no self-assessment rubric")
    points = {rubric.points_key(item): fields.get(rubric.points_key(item))
              for item in rubric.items}
    given = {key: value for key, value in points.items() if value is not None}
    canonical, problems = normalize_form(category, given, partial=True)
    if problems:
        raise InvalidArgument(
            f"{len(problems)} self-assessment item(s) are not valid points", problems)
    return sum(int(value) for value in canonical.values() if value)


def check_value(field: FormField, value: str) -> str | None:
    """Why `value` (canonical, non-empty) does not fit `field`, or None."""
    if field.max_length is not None and len(value) > field.max_length:
        return f"at most {field.max_length} characters; this has {len(value)}"
    check = CHECKS.get(field.type or "")
    return check(field, value) if check else None


def _not_theirs(field: FormField, by: str) -> str:
    if field.filled_by == "endorser":
        return (f"{field.label_zh} ({field.label_en}) is filled in by the endorsing "
                "commission's endorsement, not typed by the nominator; leave it empty")
    return f"{field.label_zh} ({field.label_en}) is the nominator's to fill, not the {by}'s"


def _email(field: FormField, value: str) -> str | None:
    if len(value) <= 254 and EMAIL.match(value):
        return None
    return "expected an e-mail address such as name@example.org.cn"


def _integer(field: FormField, value: str) -> str | None:
    number = int(value)
    low, high = field.min_value, field.max_value
    if (low is not None and number < low) or (high is not None and number > high):
        return f"{number} is outside {_range(low, high)}"
    return None


def _choice(field: FormField, value: str) -> str | None:
    keys = [c.key for c in field.choices]
    return None if value in keys else f"{value!r} is not one of {', '.join(keys)}"


def _multichoice(field: FormField, value: str) -> str | None:
    keys = [c.key for c in field.choices]
    picked = [part.strip() for part in value.split(",")]
    unknown = [p for p in picked if p not in keys]
    if unknown:
        return (f"not a choice: {', '.join(repr(p) for p in unknown)}; "
                f"choose from {', '.join(keys)}")
    if len(set(picked)) != len(picked):
        return "a choice is named twice"
    low, high = field.min_choices or 0, field.max_choices or len(keys)
    if not low <= len(picked) <= high:
        return f"{len(picked)} chosen; choose {_range(low, high)}"
    return None


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low}..{high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _unknown(category: Category, key: str) -> str:
    if TOTAL_LIKE.search(key.rsplit(".", 1)[-1]):
        return "a total is computed from its items; it is not a field to fill in"
    inside = [k for k in category.form_fields if k.startswith(f"{key}.")]
    if inside:
        return f"a group, not a field; fill in {', '.join(inside)}"
    return f"not a field of the {category.key} form"


# Formats are the normalization's (`FormField.normalize`); these check what a
# well-formed value must also be: an address, within range, one of the choices.
CHECKS: dict[str, Callable[[FormField, str], str | None]] = {
    "email": _email,
    "integer": _integer,
    "choice": _choice,
    "multichoice": _multichoice,
}
