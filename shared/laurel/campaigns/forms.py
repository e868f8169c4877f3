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

from laurel.campaigns.fields import TOTAL_LIKE, FormField
from laurel.campaigns.schema import Category
from laurel.errors import FieldViolation, InvalidArgument

MOBILE = re.compile(r"^(?:\+?86[ -]?)?1[3-9]\d{9}$")
LANDLINE = re.compile(
    r"^(?:\(0\d{2,3}\)|0\d{2,3}-?)\d{7,8}(?:(?:-|转|ext\.? ?|x)\d{1,6})?$",
    re.IGNORECASE,
)
EMAIL = re.compile(
    r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTEGER = re.compile(r"^-?\d{1,9}$")


def path(key: str) -> str:
    return f"fields[{key}]"


def validate_form(
    category: Category, fields: Mapping[str, str], *, partial: bool = False
) -> list[FieldViolation]:
    """Every violation of the category's form, in form order, unknown keys last."""
    spec = category.form_fields
    found: list[FieldViolation] = []
    for key, field in spec.items():
        value = fields.get(key)
        if value is not None and not isinstance(value, str):
            found.append(FieldViolation(path(key), "expected text"))
        elif value is None or not value.strip():
            if field.required and not partial:
                found.append(FieldViolation(
                    path(key), f"{field.label_zh} ({field.label_en}) is required"))
        elif message := check_value(field, value.strip()):
            found.append(FieldViolation(path(key), message))
    for key in sorted(set(fields) - set(spec)):
        found.append(FieldViolation(path(key), _unknown(category, key)))
    return found


def self_assessment_total(category: Category, fields: Mapping[str, str]) -> int:
    """The sum of the per-item points; an item not yet scored counts nothing.

    Raises InvalidArgument when an item holds something other than whole points
    within its maximum: a total over such values would be a number nobody gave.
    """
    rubric = category.self_assessment
    if rubric is None:
        raise ValueError(f"category {category.key!r} has no self-assessment rubric")
    spec, total, problems = category.form_fields, 0, []
    for item in rubric.items:
        key = rubric.points_key(item)
        value = fields.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        message = ("expected text" if not isinstance(value, str)
                   else check_value(spec[key], value.strip()))
        if message:
            problems.append(FieldViolation(path(key), message))
        else:
            total += int(value)
    if problems:
        raise InvalidArgument(
            f"{len(problems)} self-assessment item(s) are not valid points", problems)
    return total


def check_value(field: FormField, value: str) -> str | None:
    """Why `value` (stripped, non-empty) does not fit `field`, or None."""
    if field.max_length is not None and len(value) > field.max_length:
        return f"at most {field.max_length} characters; this has {len(value)}"
    check = CHECKS.get(field.type or "")
    return check(field, value) if check else None


def _mobile(field: FormField, value: str) -> str | None:
    if MOBILE.match(value):
        return None
    return "a mainland mobile number has 11 digits starting 13-19, e.g. 13800000000"


def _landline(field: FormField, value: str) -> str | None:
    if LANDLINE.match(value):
        return None
    return ("a landline is an area code and number, e.g. 0371-85961300 or "
            "037185961300, optionally with an extension (-123)")


def _phone(field: FormField, value: str) -> str | None:
    if MOBILE.match(value) or LANDLINE.match(value):
        return None
    return "expected a mobile (13800000000) or a landline (0371-85961300) number"


def _email(field: FormField, value: str) -> str | None:
    if len(value) <= 254 and EMAIL.match(value):
        return None
    return "expected an e-mail address such as name@example.org.cn"


def _date(field: FormField, value: str) -> str | None:
    try:
        if ISO_DATE.match(value):
            date.fromisoformat(value)
            return None
    except ValueError:
        return f"{value} is not a calendar date"
    return "expected a date as YYYY-MM-DD, e.g. 2021-11-25"


def _integer(field: FormField, value: str) -> str | None:
    if not INTEGER.match(value):
        return "expected a whole number"
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


CHECKS: dict[str, Callable[[FormField, str], str | None]] = {
    "mobile": _mobile,
    "landline": _landline,
    "phone": _phone,
    "email": _email,
    "date": _date,
    "integer": _integer,
    "choice": _choice,
    "multichoice": _multichoice,
}
