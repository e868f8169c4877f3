"""Text as it may enter the system: one rule for every service.

Two layers, both here so they cannot drift apart:

- every string of every request is checked at the gRPC edge
  (`control_violations`, called by `laurel.grpcutil`): a control character
  other than newline, tab or carriage return is refused with INVALID_ARGUMENT
  naming the field. Nobody types a NUL or an escape sequence into a form, and
  PostgreSQL cannot even store a NUL, so letting one through would turn a bad
  request into a crash.
- free text people write (form fields, names, reasons, opinions, comments,
  summaries) is normalized by `clean` before it is validated and stored:
  invisible format characters (zero-width joiner and space, BOM, direction
  overrides, soft hyphen) are dropped, CRLF and lone CR become LF, and the
  result is NFC, so 'é' typed as e + U+0301 and 'é' typed precomposed are the
  same text, compare equal, and count the same characters against limits.

Identifiers are not normalized (a changed id would name something else); they
only pass the control-character check.

Free text stays NFC, never NFKC: `１２３` in a profile is what its writer typed.
Structured values typed into forms (points, phone numbers, dates, ids) go one
step further, to one canonical spelling each: `laurel.normalize`, which starts
from `normalized` here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from laurel.errors import FieldViolation, InvalidArgument

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Ids are stored in bounded columns (campaign, organization ids: 100 chars) and
# inside stream ids (200): a longer one can name nothing, and PostgreSQL would
# refuse to store it mid-transaction.
MAX_ID_CHARS = 100


# The invisible format characters (Unicode general category Cf, as of
# unicodedata 14.0.0), as one character class: a regex scans a form field in
# C, where asking `unicodedata.category` of each character in Python was 8 % of
# intake's CPU per submission. tests/security/test_text.py checks this class
# against `unicodedata` (a Python with newer Unicode data fails it until the
# class is regenerated).
_INVISIBLE_FORMAT = re.compile("["
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
    "]")


def control_problem(value: str) -> str | None:
    """Why `value` may not enter the system, or None."""
    found = _CONTROL.search(value)
    if found is None:
        return None
    return (f"contains the control character U+{ord(found.group()):04X} at position "
            f"{found.start()}; only newline and tab are allowed in text")


def normalized(value: str) -> str:
    """NFC, without invisible format characters, with LF line ends."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _INVISIBLE_FORMAT.sub("", value)
    return unicodedata.normalize("NFC", value)


def clean(field: str, value: str) -> str:
    """`value` normalized; InvalidArgument naming `field` if it holds a control
    character (the edge refuses those already: this guards other callers)."""
    problem = control_problem(value)
    if problem:
        raise InvalidArgument(f"{field} {problem}", [FieldViolation(field, problem)])
    return normalized(value)


def clean_all(field: str, values: Mapping[str, str] | Iterable[str]
              ) -> Any:
    """`clean` over a map's values (named `field[key]`) or a list's items
    (named `field[index]`); every bad entry is named in one refusal."""
    if isinstance(values, Mapping):
        named = [(f"{field}[{key}]", key, value) for key, value in values.items()]
    else:
        named = [(f"{field}[{index}]", index, value) for index, value in enumerate(values)]
    found = [FieldViolation(name, problem) for name, _, value in named
             if (problem := control_problem(value))]
    if found:
        raise InvalidArgument(f"{len(found)} text field(s) hold control characters",
                              found)
    if isinstance(values, Mapping):
        return {key: normalized(value) for _, key, value in named}
    return [normalized(value) for _, _, value in named]


# -- the edge: every string of a request -------------------------------------------


def control_violations(message: Any, prefix: str = "") -> list[FieldViolation]:
    """A violation for each string in `message` (nested messages, lists and
    maps included) holding a control character other than newline/tab/CR,
    and for each id (a field named *_id or *_ids) over MAX_ID_CHARS."""
    found: list[FieldViolation] = []
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        if _is_map(field):
            entry = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                _check(found, f"{name}[{key}]", key)
                _check_value(found, entry, f"{name}[{key}]", item)
        elif _repeated(field):
            for index, item in enumerate(value):
                _check_value(found, field, f"{name}[{index}]", item)
        else:
            _check_value(found, field, name, value)
    return found


def _check_value(found: list[FieldViolation], field: Any, name: str, value: Any) -> None:
    if field.type == FieldDescriptor.TYPE_STRING:
        _check(found, name, value)
        if field.name.endswith(("_id", "_ids")) and len(value) > MAX_ID_CHARS:
            found.append(FieldViolation(name, f"an id has at most {MAX_ID_CHARS} "
                                              f"characters; this has {len(value)}"))
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        found += control_violations(value, f"{name}.")


def _check(found: list[FieldViolation], name: str, value: Any) -> None:
    if isinstance(value, str) and (problem := control_problem(value)):
        found.append(FieldViolation(name, problem))


def _is_map(field: Any) -> bool:
    return bool(field.message_type and field.message_type.GetOptions().map_entry)


def _repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)
