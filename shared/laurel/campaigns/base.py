"""Building blocks shared by the campaign models.

A definition is reviewed by people and replayed by auditors, so every model is
frozen (a loaded definition never drifts from its digest) and refuses unknown
keys (a misspelt key would otherwise be dropped without a word).

Checks that relate several attributes of one model are written as `problems()`
yielding (relative path, message) pairs instead of raising on the first one:
`Checked` turns them into a single pydantic error whose context carries every
pair, and the loader spreads them back out, each under its full path. That way
a definition with five mistakes is reported with five paths in one go.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

INCONSISTENT = "inconsistent"

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
DottedKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=200),
]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Problem = tuple[str, str]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Checked(Frozen):
    """A model with cross-field checks; see the module docstring."""

    def problems(self) -> Iterable[Problem]:
        return ()

    @model_validator(mode="after")
    def _check(self) -> Checked:
        found = list(self.problems())
        if found:
            summary = "; ".join(f"{path or '.'}: {message}" for path, message in found)
            raise PydanticCustomError(INCONSISTENT, "{summary}",
                                      {"summary": summary, "problems": found})
        return self


def join_path(base: str, relative: str) -> str:
    """`categories[1]` + `fields[2].key` -> `categories[1].fields[2].key`."""
    if not base or not relative:
        return base or relative
    return base + relative if relative.startswith("[") else f"{base}.{relative}"


def duplicates(
    keys: Iterable[str], where: str, attribute: str = ".key"
) -> Iterable[Problem]:
    """One problem per repeated key, at the index of each later appearance."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            yield f"{where}[{index}]{attribute}", f"duplicate key {key!r}"
        seen.add(key)
