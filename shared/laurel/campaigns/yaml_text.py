"""YAML text as the campaign loader reads it: strictly (a key given twice is
an error), with the place of a mistake. Imported only when a file is read."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

from laurel.campaigns.loader import _ParseError


class _StrictLoader(yaml.SafeLoader):
    """Refuses a key given twice: PyYAML would keep the last one in silence."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False
                          ) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` may be overridden by design
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found the key {key!r} twice", key_node.start_mark)
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str) -> Any:
    """The document, or _ParseError((where, what))."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = " ".join(filter(None, (error.context, error.problem)))
        raise _ParseError((where, message)) from None
    except yaml.YAMLError as error:
        raise _ParseError(("", str(error))) from None
