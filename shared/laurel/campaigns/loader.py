"""Reading campaign definitions from YAML or JSON, and naming them by digest.

A definition is written by hand, so a bad one is reported in full: every
error, each with the path of the offending value (`categories[2].fields[5].type`)
or, when the file does not even parse, its line and column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from laurel.campaigns.base import INCONSISTENT, join_path
from laurel.campaigns.rules import QUOTA_NAMES, RULE_NAMES
from laurel.campaigns.schema import CampaignDefinition
from laurel.campaigns.upcast import upcast_definition
from laurel.envelope import canonical_json
from laurel.errors import FieldViolation, InvalidArgument

SUFFIXES = (".yaml", ".yml", ".json")
UNION_TAGS = RULE_NAMES | QUOTA_NAMES
Error = tuple[str, str]


class CampaignDefinitionError(InvalidArgument):
    """`errors` lists (path, message) for every problem found, not just the first."""

    def __init__(self, source: str, errors: Sequence[Error]) -> None:
        lines = "".join(f"\n  {p or '(root)'}: {m}" for p, m in errors)
        super().__init__(
            f"{source}: {len(errors)} error(s) in the campaign definition{lines}",
            [FieldViolation(p, m) for p, m in errors])
        self.source = source
        self.errors = list(errors)


def load_campaign(path: str | Path) -> CampaignDefinition:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        problem = (f"byte {error.start}", "the file is not UTF-8 text")
        raise CampaignDefinitionError(str(path), [problem]) from None
    return parse_campaign(text, "json" if path.suffix == ".json" else "yaml", str(path))


def parse_campaign(text: str, fmt: str = "yaml", source: str = "<text>"
                   ) -> CampaignDefinition:
    """A definition from its text, as a file holds it or an API receives it."""
    try:
        data = _parse_json(text) if fmt == "json" else _parse_yaml(text)
    except _ParseError as error:
        raise CampaignDefinitionError(source, [error.args[0]]) from None
    return campaign_from_data(data, source)


def campaign_from_data(data: Any, source: str = "<data>") -> CampaignDefinition:
    """A definition from plain data: a file's, or one recorded in an event.

    A definition recorded before issue 16 (no `schema_version`) is read in the
    current shape through `laurel.campaigns.upcast`, so an old CampaignDefined
    event still parses; its digest, taken over the current shape, then differs
    from the one recorded beside it, which names the shape it was recorded in.
    """
    if not isinstance(data, Mapping):
        raise CampaignDefinitionError(
            source, [("", "a campaign definition is a mapping (id, name_zh, ...)")])
    try:
        return CampaignDefinition.model_validate(upcast_definition(data))
    except ValidationError as error:
        raise CampaignDefinitionError(source, list(_errors(error))) from None


def load_catalog(directory: str | Path) -> dict[str, CampaignDefinition]:
    """Every definition in `directory` by id; each file is named after its id."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CampaignDefinitionError(str(directory), [("", "not a directory")])
    catalog: dict[str, CampaignDefinition] = {}
    errors: list[Error] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.suffix not in SUFFIXES:
            continue  # e.g. a Kubernetes ConfigMap's ..data, an editor's backup
        try:
            definition = load_campaign(path)
        except CampaignDefinitionError as error:
            errors += [(f"{path.name}:{p}", m) for p, m in error.errors]
            continue
        if definition.id != path.stem:
            errors.append((f"{path.name}:id", f"{definition.id!r} is not the file's "
                                              f"name {path.stem!r}"))
        elif definition.id in catalog:
            errors.append((f"{path.name}:id", f"{definition.id!r} is defined twice"))
        catalog[definition.id] = definition
    if errors:
        raise CampaignDefinitionError(str(directory), errors)
    return catalog


def definition_digest(definition: CampaignDefinition) -> str:
    """SHA-256 over the canonical JSON of the whole model, defaults included:
    comments, key order, YAML anchors or omitted defaults do not change it,
    any change to a value does."""
    text = canonical_json(definition.model_dump(mode="json"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- errors ----------------------------------------------------------------


def _errors(error: ValidationError) -> Iterable[Error]:
    items = error.errors(include_url=False)
    for item in items:
        if item["type"] == "too_short" and _has_inner_errors(item["loc"], items):
            continue  # "0 items" only because every item failed: noise
        base = loc_path(item["loc"])
        if item["type"] == INCONSISTENT:
            for relative, message in item["ctx"]["problems"]:
                yield join_path(base, relative), message
        elif item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            tag = item["ctx"]["discriminator"].strip("'")
            yield join_path(base, tag), item["msg"]
        else:
            yield base, item["msg"]


def _has_inner_errors(loc: tuple[str | int, ...], items: Sequence[ErrorDetails]) -> bool:
    return any(len(i["loc"]) > len(loc) and i["loc"][:len(loc)] == loc for i in items)


def loc_path(loc: Sequence[str | int]) -> str:
    """('categories', 2, 'fields', 5, 'type') -> 'categories[2].fields[5].type'.

    A rule's name appears in pydantic's locations as the tag of the union it
    was chosen from; it is not a key of the file, so it is left out.
    """
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif index and isinstance(loc[index - 1], int) and part in UNION_TAGS:
            continue
        else:
            out = join_path(out, str(part))
    return out


# -- parsing ---------------------------------------------------------------


class _ParseError(Exception):
    pass


def _parse_yaml(text: str) -> Any:
    # YAML is read only where files are: the domains that import this
    # package for the schema never load a YAML parser.
    from laurel.campaigns.yaml_text import parse_yaml

    return parse_yaml(text)


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _ParseError((f"line {error.lineno}, column {error.colno}", error.msg)
                          ) from None
