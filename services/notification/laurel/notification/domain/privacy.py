"""Masking personal contact details before they reach a log or a listing.

Logs are copied, shipped and kept far longer than anyone reads them, so a
full e-mail address or phone number never goes into one: enough stays to
tell two recipients apart while debugging, not enough to contact them.
"""

from __future__ import annotations

import re

_PHONE = re.compile(r"\+?\d[\d\- ]{6,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_email(address: str) -> str:
    """`yiwubu@example.org.cn` -> `y****u@e***.cn`."""
    local, at, domain = address.partition("@")
    if not at:
        return _mask_middle(address)
    host, dot, tld = domain.rpartition(".")
    masked_domain = f"{host[:1]}***{dot}{tld}" if dot else _mask_middle(domain)
    return f"{_mask_middle(local)}@{masked_domain}"


def mask_phone(number: str) -> str:
    """`13900000002` -> `139****0002`; short numbers keep only the last two."""
    digits = re.sub(r"\D", "", number)
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return f"****{digits[-2:]}"


def redact(text: str) -> str:
    """Mask every e-mail address and phone number found in free text."""
    text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    return _PHONE.sub(lambda m: mask_phone(m.group()), text)


def _mask_middle(text: str) -> str:
    if len(text) <= 2:
        return "*" * len(text)
    return f"{text[0]}****{text[-1]}"
