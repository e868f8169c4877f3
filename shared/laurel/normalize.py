"""Input normalization: the one policy for values people type into forms.

`laurel.text` keeps control characters out and makes free text NFC; this
module says what a *structured* value (a number, a phone number, a date, an
id) is stored as, so that one fact has one spelling: `１３８００１３８０００`,
` 13800138000　` and `+86 138-0013-8000` are the same mobile number and are
stored as `13800138000`.

The policy:

- Free text keeps its characters: `laurel.text.normalized` (NFC, invisible
  format characters dropped, LF line ends). One-line text (`text`,
  `signature`) is also trimmed; paragraphs (`longtext`) are not, since a
  leading ideographic indent (`　　`) is part of how Chinese prose is written.
- Every structured value is first cleaned as free text, then NFKC-normalized,
  so full-width digits and ASCII-compatible forms (`１２３`, `－`, `＋`, `（）`,
  `＠`, U+3000) become their ASCII selves, then trimmed at both ends. What
  remains must match the canonical form of its kind with ASCII digits only:
  `[0-9]`, never `\\d`, which would let in digits of other scripts (`٣`, `३`)
  that NFKC leaves alone and nothing downstream reads as numbers.
- Phone numbers have one form each:
    mobile    `13800138000`: 11 digits, 1 then 3-9
    landline  `0371-85961300`: area code, hyphen, a 7-8 digit number that
              does not start with 0 or 1; an extension as `-8001`
  The area code is 3 digits for 010 and 02x and 4 digits otherwise, which is
  how mainland codes are allotted, so `037185961300` splits unambiguously. A
  `+86`, `0086` or `86` prefix is accepted and stripped (a landline written
  internationally, `+86 371 85961300`, gets its trunk 0 back). Spaces and
  hyphens between digit groups, parentheses around the area code, and an
  extension marked `转`, `分机`, `ext`, `x` or `#` are accepted.
- Anything else is refused: `Unacceptable`, whose message shows the expected
  form; `canonical_field` turns it into a FieldViolation naming the field.

Why not libphonenumber: the policy is narrower (mainland numbers only, in the
one hyphenated form above), and its metadata-driven validity would make what
is accepted depend on the library's release, while a stored value must stay
canonical across upgrades. The two patterns below are the whole rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date

from laurel.errors import FieldViolation, InvalidArgument
from laurel.text import normalized

MOBILE_FORM = "a mainland mobile number: 11 digits starting 13-19, e.g. 13800138000"
LANDLINE_FORM = ("a landline with its area code, e.g. 0371-85961300, with an "
                 "extension as 0371-85961300-8001")
PHONE_FORM = "a mobile (13800138000) or a landline with its area code (0371-85961300)"
INTEGER_FORM = "a whole number, e.g. 95"
DATE_FORM = "a date as YYYY-MM-DD, e.g. 2021-11-25"

_COUNTRY = re.compile(r"^(?:\+|00)?86(?=[ -]?[0-9(])[ -]?")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(
    r"^\(?(?P<area>0(?:10|2[0-9]|[3-9][0-9]{2}))\)?[ -]?"
    r"(?P<local>[2-9][0-9]{2,3}[ -]?[0-9]{4})"
    r"(?:(?:-|[ ]?(?:转|分机|ext\.?|x|#)[ ]?)(?P<ext>[0-9]{1,6}))?$",
    re.IGNORECASE,
)
_AREA_ABROAD = re.compile(r"^(?:10|[2-9])")
_SEPARATORS = re.compile(r"[ -]")
_INTEGER = re.compile(r"^-?[0-9]{1,9}$")
_DATES = (
    re.compile(r"^(?P<y>[0-9]{4})(?P<s>[-/.])(?P<m>[0-9]{1,2})(?P=s)(?P<d>[0-9]{1,2})$"),
    re.compile(r"^(?P<y>[0-9]{4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})日?$"),
)
_LIST_SEPARATORS = re.compile(r"[,、]")


class Unacceptable(ValueError):
    """A value with no canonical form; the message says which form is expected."""


def free_text(value: str) -> str:
    """Paragraphs: every character kept, as `laurel.text.normalized` has it."""
    return normalized(value)


def one_line(value: str) -> str:
    """A name, a title, a signature: free text without surrounding whitespace."""
    return normalized(value).strip()


def ascii_compatible(value: str) -> str:
    """Cleaned, NFKC (full-width forms to ASCII), trimmed: step one of every
    structured value."""
    return unicodedata.normalize("NFKC", normalized(value)).strip()


def mobile(value: str) -> str:
    found = _national(value)
    if found is None or not _MOBILE.match(found):
        raise Unacceptable(f"expected {MOBILE_FORM}")
    return found


def landline(value: str) -> str:
    found = _landline(value)
    if found is None:
        raise Unacceptable(f"expected {LANDLINE_FORM}")
    return found


def phone(value: str) -> str:
    for rule in (mobile, landline):
        try:
            return rule(value)
        except Unacceptable:
            continue
    raise Unacceptable(f"expected {PHONE_FORM}")


def integer(value: str) -> str:
    """`０９５` -> `95`: ASCII digits without leading zeros; `-0` is `0`."""
    found = ascii_compatible(value)
    if not _INTEGER.match(found):
        raise Unacceptable(f"expected {INTEGER_FORM}")
    return str(int(found))


def iso_date(value: str) -> str:
    """`2021/11/5`, `2021.11.05`, `2021年11月5日` -> `2021-11-05`."""
    found = ascii_compatible(value)
    for pattern in _DATES:
        if match := pattern.match(found):
            try:
                day = date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                raise Unacceptable(f"{found} is not a calendar date") from None
            return day.isoformat()
    raise Unacceptable(f"expected {DATE_FORM}")


def identifier(value: str) -> str:
    """An id, a choice's key, an e-mail address: ASCII-compatible and trimmed.
    Whether it names anything is the caller's question."""
    return ascii_compatible(value)


def key_list(value: str) -> str:
    """Several keys, `a, b、c` -> `a,b,c` (order kept: it may mean something)."""
    return ",".join(part.strip() for part in _LIST_SEPARATORS.split(
        ascii_compatible(value)))


POLICY: dict[str, Callable[[str], str]] = {
    "text": one_line,
    "signature": one_line,
    "longtext": free_text,
    "mobile": mobile,
    "landline": landline,
    "phone": phone,
    "integer": integer,
    "date": iso_date,
    "email": identifier,
    "id": identifier,
    "choice": identifier,
    "multichoice": key_list,
}


def canonical(kind: str, value: str) -> str:
    """`value` in the canonical form of `kind` (a key of POLICY); Unacceptable
    if it has none."""
    try:
        rule = POLICY[kind]
    except KeyError:
        raise ValueError(f"no normalization policy for {kind!r}") from None
    return rule(value)


def canonical_field(kind: str, value: str, field: str
                    ) -> tuple[str | None, FieldViolation | None]:
    """(canonical value, None), or (None, a violation naming `field`)."""
    try:
        return canonical(kind, value), None
    except Unacceptable as refused:
        return None, FieldViolation(field, str(refused))


def require_canonical(kind: str, value: str, field: str) -> str:
    """`canonical`, or InvalidArgument naming `field` with the expected form."""
    found, violation = canonical_field(kind, value, field)
    if violation is not None:
        raise InvalidArgument(f"{field}: {violation.description}", [violation])
    assert found is not None
    return found


def _national(value: str) -> str | None:
    """The digits of a number without country prefix or separators, or None
    if it holds anything else."""
    found = _COUNTRY.sub("", ascii_compatible(value), count=1)
    digits = _SEPARATORS.sub("", found)
    return digits if digits.isascii() and digits.isdigit() else None


def _landline(value: str) -> str | None:
    text = ascii_compatible(value)
    international = _COUNTRY.match(text)
    if international:  # +86 371 85961300: the trunk 0 is dropped abroad
        text = text[international.end():]
        text = "0" + text if _AREA_ABROAD.match(text) else text
    match = _LANDLINE.match(text)
    if match is None or text.startswith("(") != (")" in text[:6]):
        return None  # a parenthesis without its pair
    number = f"{match['area']}-{_SEPARATORS.sub('', match['local'])}"
    return f"{number}-{match['ext']}" if match["ext"] else number
