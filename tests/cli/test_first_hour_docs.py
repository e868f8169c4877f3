"""What a newcomer reads resolves inside the repository and names real commands."""

from __future__ import annotations

import re
from pathlib import Path

from laurel.cli import application
from laurel.config import PROJECT_ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md")),
             *sorted((PROJECT_ROOT / "services").glob("*/README.md"))]


def test_every_relative_link_resolves_inside_the_repository() -> None:
    broken = []
    for document in DOCUMENTS:
        text = document.read_text("utf-8")
        assert "../shared/" not in text, f"{document} points outside the clone"
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (document.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(PROJECT_ROOT) or not path.exists():
                broken.append(f"{document.relative_to(PROJECT_ROOT)}: {target}")
    assert not broken, broken


def test_the_readme_names_only_commands_laurel_has() -> None:
    root = application()
    known = set(root.list_commands(None))
    readme = (PROJECT_ROOT / "README.md").read_text("utf-8")
    named = set(re.findall(r"\blaurel (?:--as \S+ )?([a-z][a-z-]+)\b", readme))
    named -= {"up", "command"}  # "laurel up" is known; prose like "the laurel command"
    assert named <= known, named - known
    for group, subcommands in (("audit", {"verify", "export", "checkpoint", "timeline",
                                          "replay", "keygen", "serve"}),
                               ("topics", {"tail", "create"})):
        command = root.get_command(None, group)
        assert set(command.list_commands(None)) >= subcommands


def test_the_docs_copied_into_the_repository_are_there() -> None:
    docs = PROJECT_ROOT / "docs"
    assert (docs / "product.md").read_text("utf-8").count("## ") >= 6
    assert "Tansu" in (docs / "platform.md").read_text("utf-8")
    assert {p.name for p in (docs / "seeds").iterdir()} >= {
        "henan-2021-nomination-notice.txt", "hospital-innovation-year-plan.txt"}
    assert Path(docs / "README.md").exists()
