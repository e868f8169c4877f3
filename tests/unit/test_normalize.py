"""The input normalization policy (`laurel.normalize`), over mixed-width,
padded and prefixed input: every value comes out canonical or is refused with
a message showing the expected form."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from laurel import normalize
from laurel.errors import InvalidArgument
from laurel.normalize import Unacceptable
from laurel.text import normalized

CANONICAL_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
CANONICAL_LANDLINE = re.compile(r"^0(?:10|2[0-9]|[3-9][0-9]{2})-[2-9][0-9]{6,7}(?:-[0-9]{1,6})?$")
PADDING = st.text(st.sampled_from([" ", "\u3000", "\t", "\u00a0", "\u200b"]), max_size=3)
# Decimal digits of other scripts: `\d` matches them, NFKC leaves them alone.
FOREIGN_DIGITS = st.sampled_from(["\u0663", "\u0969", "\u09e9", "\u0e53", "\u1813"])


def wide(char: str) -> str:
    """The full-width form of a printable ASCII character (space: U+3000)."""
    if char == " ":
        return "\u3000"
    return chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char


@st.composite
def mixed_width(draw: st.DrawFn, text: str) -> str:
    """`text` with any of its characters full-width."""
    return "".join(wide(c) if draw(st.booleans()) else c for c in text)


@st.composite
def padded(draw: st.DrawFn, text: str) -> str:
    return draw(PADDING) + draw(mixed_width(text)) + draw(PADDING)


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
areas = st.from_regex(r"0(?:10|2[0-9]|[3-9][0-9]{2})", fullmatch=True)
locals_ = st.from_regex(r"[2-9][0-9]{6,7}", fullmatch=True)
extensions = st.none() | st.from_regex(r"[0-9]{1,6}", fullmatch=True)


@st.composite
def typed_mobile(draw: st.DrawFn, digits: str) -> str:
    """A mobile as people type it: grouped 3-4-4 or not, maybe with +86."""
    sep = draw(st.sampled_from(["", " ", "-"]))
    body = f"{digits[:3]}{sep}{digits[3:7]}{sep}{digits[7:]}"
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "0086 ", "86",
                                   "86 "]))
    return draw(padded(prefix + body))


@st.composite
def typed_landline(draw: st.DrawFn, area: str, local: str, ext: str | None) -> str:
    if draw(st.booleans()):  # international: +86 371 85961300
        head = draw(st.sampled_from(["+86 ", "0086 ", "+86-"])) + area[1:] + " "
    else:
        head = draw(st.sampled_from([area, f"{area}-", f"{area} ", f"({area})"]))
    split = draw(st.sampled_from(["", " ", "-"]))
    body = f"{local[:-4]}{split}{local[-4:]}"
    tail = ""
    if ext is not None:
        tail = draw(st.sampled_from(["-", "转", "分机", "ext", "ext. ", " ext ", "x",
                                     "#"])) + ext
    return draw(padded(head + body + tail))


# -- phone numbers -------------------------------------------------------------


@given(st.data(), mobiles)
@example(None, "13800138000")
def test_a_mobile_however_typed_is_stored_as_its_eleven_digits(data, digits):  # noqa: ANN001
    typed = "13800138000" if data is None else data.draw(typed_mobile(digits))
    assert normalize.mobile(typed) == digits
    assert normalize.phone(typed) == digits


@given(st.data(), areas, locals_, extensions)
def test_a_landline_however_typed_is_stored_as_area_hyphen_number(  # noqa: ANN001
        data, area, local, ext):
    typed = data.draw(typed_landline(area, local, ext))
    expected = f"{area}-{local}" + (f"-{ext}" if ext else "")
    assert normalize.landline(typed) == expected
    assert normalize.phone(typed) == expected
    with pytest.raises(Unacceptable, match="13800138000"):
        normalize.mobile(typed)


@pytest.mark.parametrize("typed,stored", [
    ("13８００１３８０００", "13800138000"),  # full-width after two ASCII digits
    (" 13800138000 ", "13800138000"),
    ("13800138000\u3000", "13800138000"),
    ("+86 13800138000", "13800138000"),
    ("0371-８５９６１３００", "0371-85961300"),
    ("037185961300", "0371-85961300"),
    ("(0371)85961300", "0371-85961300"),
    ("0371-85961300转8001", "0371-85961300-8001"),
    ("+86 10 8596 1300", "010-85961300"),
    ("01085961300", "010-85961300"),
])
def test_the_issues_examples_are_stored_canonical(typed: str, stored: str) -> None:
    assert normalize.phone(typed) == stored


@given(st.data(), mobiles, FOREIGN_DIGITS)
def test_digits_of_other_scripts_are_refused(data, digits, foreign):  # noqa: ANN001
    at = data.draw(st.integers(0, len(digits) - 1))
    typed = digits[:at] + foreign + digits[at + 1:]
    for rule in (normalize.mobile, normalize.phone, normalize.integer):
        with pytest.raises(Unacceptable):
            rule(typed)


@given(st.text(alphabet=st.sampled_from("0123456789１３８８６０+-() \u3000x转#a٣"),
               max_size=20) | st.text(max_size=20))
def test_any_phone_input_comes_out_canonical_or_refused_with_the_form(text: str) -> None:
    try:
        stored = normalize.phone(text)
    except Unacceptable as refused:
        assert "13800138000" in str(refused) and "0371-85961300" in str(refused)
    else:
        assert CANONICAL_MOBILE.match(stored) or CANONICAL_LANDLINE.match(stored)
        assert normalize.phone(stored) == stored


@pytest.mark.parametrize("typed", [
    "12800000000", "1380000000", "138000000011", "0371-85961300", "+1 2025550123",
    "13800138000x", "",
])
def test_what_is_not_a_mobile_is_refused_showing_the_form(typed: str) -> None:
    with pytest.raises(Unacceptable, match=r"11 digits starting 13-19, e\.g\. 13800138000"):
        normalize.mobile(typed)


@pytest.mark.parametrize("typed", [
    "85961300", "371-85961300", "0371-859", "0371 8596 1300x", "(0371 85961300",
    "0371)85961300", "0371-05961300", "0371-85961300-1234567",
])
def test_what_is_not_a_landline_is_refused_showing_the_form(typed: str) -> None:
    with pytest.raises(Unacceptable, match="0371-85961300"):
        normalize.landline(typed)


# -- numbers, dates, ids ---------------------------------------------------------


@given(st.data(), st.integers(-99_999_999, 999_999_999), st.integers(0, 3))
def test_a_whole_number_is_stored_in_ascii_without_padding(data, number, zeros):  # noqa: ANN001
    text = str(number) if number < 0 else "0" * zeros + str(number)
    text = text[-9:] if number >= 0 and len(text) > 9 else text
    assert normalize.integer(data.draw(padded(text))) == str(int(text))


@pytest.mark.parametrize("typed", ["九十", "95.5", "1e3", "1,000", "+", "", "1234567890"])
def test_what_is_not_a_whole_number_is_refused(typed: str) -> None:
    with pytest.raises(Unacceptable, match="whole number, e.g. 95"):
        normalize.integer(typed)


@given(st.data(), st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
def test_a_date_however_written_is_stored_iso(data, day):  # noqa: ANN001
    shape = data.draw(st.sampled_from([
        "{y:04d}-{m:02d}-{d:02d}", "{y:04d}-{m}-{d}", "{y:04d}/{m}/{d}",
        "{y:04d}.{m:02d}.{d:02d}", "{y:04d}年{m}月{d}日", "{y:04d}年{m:02d}月{d:02d}"]))
    typed = shape.format(y=day.year, m=day.month, d=day.day)
    assert normalize.iso_date(data.draw(padded(typed))) == day.isoformat()


@pytest.mark.parametrize("typed,message", [
    ("2021-02-30", "not a calendar date"), ("2021-11", "YYYY-MM-DD"),
    ("25/11/2021", "YYYY-MM-DD"), ("2021-11/25", "YYYY-MM-DD"),
])
def test_what_is_not_a_date_is_refused(typed: str, message: str) -> None:
    with pytest.raises(Unacceptable, match=message):
        normalize.iso_date(typed)


@given(st.data())
def test_ids_and_choice_lists_become_ascii_and_trimmed(data) -> None:  # noqa: ANN001
    assert normalize.identifier(data.draw(padded("name@example.org.cn"))) == (
        "name@example.org.cn")
    keys = data.draw(st.lists(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
                              min_size=1, max_size=4))
    sep = data.draw(st.sampled_from([",", ", ", "，", "、", " , "]))
    assert normalize.key_list(data.draw(padded(sep.join(keys)))) == ",".join(keys)


# -- free text -------------------------------------------------------------------


@given(st.text())
def test_paragraphs_keep_their_characters(text: str) -> None:
    assert normalize.free_text(text) == normalized(text)
    assert normalize.free_text("\u3000\u3000段落") == "\u3000\u3000段落"  # the indent
    assert normalize.free_text("１２３") == "１２３"  # NFC, not NFKC


@given(st.data(), st.text(min_size=1).map(str.strip).filter(bool))
def test_one_line_text_is_trimmed_and_nothing_else(data, text) -> None:  # noqa: ANN001
    padding = data.draw(PADDING)
    assert normalize.one_line(padding + text + padding) == normalized(text).strip()


@given(st.sampled_from(sorted(normalize.POLICY)), st.text(max_size=30))
def test_every_kind_is_idempotent(kind: str, text: str) -> None:
    try:
        once = normalize.canonical(kind, text)
    except Unacceptable:
        return
    assert normalize.canonical(kind, once) == once


def test_require_canonical_names_the_field() -> None:
    assert normalize.require_canonical("mobile", "１３８００１３８０００", "phone") == (
        "13800138000")
    with pytest.raises(InvalidArgument) as raised:
        normalize.require_canonical("mobile", "138", "contact.mobile")
    [violation] = raised.value.violations
    assert violation.field == "contact.mobile"
    assert "13800138000" in violation.description
    with pytest.raises(ValueError, match="no normalization policy"):
        normalize.canonical("colour", "red")
