"""docs/api/ is what `make api-docs` makes from the protos today, and what the
comments say about who may call each method is what the policy enforces."""

from __future__ import annotations

import re

from laurel.auth import ROLES
from laurel.policy import POLICY

from .conftest import ROOT, load_tool

DOCS = ROOT / "docs" / "api"


def test_the_committed_reference_is_what_the_protos_make() -> None:
    pages = load_tool("apidocs").render()
    committed = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    assert set(committed) == set(pages), "run `make api-docs`"
    stale = [name for name, text in pages.items() if committed[name] != text]
    assert stale == [], f"stale: {stale}; run `make api-docs`"


def test_every_method_comment_names_exactly_the_roles_the_policy_allows() -> None:
    """The 'Roles:' line of each RPC's comment (up to its full stop, remarks
    in parentheses aside) lists the roles laurel.policy lets call it."""
    tool = load_tool("apidocs")
    files = tool.descriptor_set(tool.laurel_files())
    found: dict[str, frozenset[str]] = {}
    for file in files.file:
        comments = tool.Comments.of(file)
        for s, service in enumerate(file.service):
            for m, method in enumerate(service.method):
                text = comments(tool.SERVICE, s, tool.METHOD, m)
                [line] = [x for x in text.splitlines() if x.startswith("Roles:")] or [""]
                roles = re.sub(r"\([^)]*\)", "", line.removeprefix("Roles:")).split(".")[0]
                named = re.findall(r"[a-z]+", roles)
                found[f"/{file.package}.{service.name}/{method.name}"] = frozenset(named)
    assert set(found) == set(POLICY)
    wrong = {path: (sorted(found[path]), sorted(allowed))
             for path, allowed in POLICY.items() if found[path] != allowed}
    assert wrong == {}
    assert all(set(roles) <= set(ROLES) for roles in found.values())
