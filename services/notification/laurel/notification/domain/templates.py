"""Templates as versioned data: checked once when parsed, rendered many times.

The data (templates.yaml, read by `adapters.templates` at start-up) says
which placeholders each kind provides; a template that names any other
placeholder, a kind missing a language, or two texts under one version stop
`parse_catalog` with a `TemplateError`. So a broken template keeps the service
from starting instead of failing a send at night. Rendering records kind,
language, version and a digest of the text, so every notification event says
exactly which words went out.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


class TemplateError(ValueError):
    """The template data is unusable; the message names the template."""


@dataclass(frozen=True)
class Template:
    kind: str
    language: str
    version: int
    subject: str
    body: str

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.language}/v{self.version}"

    @property
    def digest(self) -> str:
        text = f"{self.subject}\n\n{self.body}".encode()
        return hashlib.sha256(text).hexdigest()


@dataclass(frozen=True)
class Rendered:
    kind: str
    language: str
    version: int
    digest: str
    subject: str
    body: str

    def template_ref(self) -> dict[str, Any]:
        """What a notification event records about its text's origin."""
        return {
            "kind": self.kind,
            "language": self.language,
            "version": self.version,
            "digest": self.digest,
        }


class Catalog:
    """Every template, and the words for the codes events carry."""

    def __init__(
        self,
        languages: tuple[str, ...],
        default_language: str,
        placeholders: Mapping[str, tuple[str, ...]],
        templates: list[Template],
        terms: Mapping[str, Mapping[str, str]],
    ) -> None:
        self.languages = languages
        self.default_language = default_language
        self.placeholders = dict(placeholders)
        self._terms = terms
        self._by_key = {(t.kind, t.language, t.version): t for t in templates}
        self._current: dict[tuple[str, str], Template] = {}
        for t in sorted(templates, key=lambda t: t.version):
            self._current[(t.kind, t.language)] = t

    @property
    def kinds(self) -> list[str]:
        return list(self.placeholders)

    def language_for(self, wanted: str) -> str:
        return wanted if wanted in self.languages else self.default_language

    def current(self, kind: str, language: str) -> Template:
        return self._current[(kind, self.language_for(language))]

    def version(self, kind: str, language: str, version: int) -> Template:
        return self._by_key[(kind, language, version)]

    def term(self, language: str, key: str) -> str:
        """The words for a code (`outcome.award`), or the code when none."""
        words = self._terms.get(self.language_for(language), {})
        return words.get(key, key.partition(".")[2] or key)

    def time(self, language: str, moment: datetime) -> str:
        pattern = self._terms.get(self.language_for(language), {}).get(
            "time_format", "%Y-%m-%d %H:%M"
        )
        return moment.astimezone(BEIJING).strftime(pattern)

    def bullets(self, language: str, items: list[str]) -> str:
        bullet = self._terms.get(self.language_for(language), {}).get(
            "list_bullet", "- "
        )
        return "\n".join(f"{bullet}{item}" for item in items)

    def render(
        self,
        kind: str,
        language: str,
        values: Mapping[str, Any],
        version: int | None = None,
    ) -> Rendered:
        """Fill the current (or a given) version; every declared value is needed."""
        language = self.language_for(language)
        template = (
            self.current(kind, language)
            if version is None
            else self.version(kind, language, version)
        )
        missing = [p for p in self.placeholders[kind] if p not in values]
        if missing:
            raise KeyError(f"{template.label} needs values for {', '.join(missing)}")
        text = {name: str(values[name]) for name in self.placeholders[kind]}
        return Rendered(
            kind,
            language,
            template.version,
            template.digest,
            template.subject.format_map(text).strip(),
            template.body.format_map(text).strip(),
        )


def parse_catalog(data: Mapping[str, Any], source: str = "templates") -> Catalog:
    try:
        languages = tuple(data["languages"])
        default = data.get("default_language", languages[0])
        kinds = {str(k): tuple(v["placeholders"]) for k, v in data["kinds"].items()}
        raw_templates = list(data["templates"])
    except (KeyError, TypeError, IndexError) as error:
        raise TemplateError(f"{source}: missing or malformed section {error}") from None
    if default not in languages:
        raise TemplateError(f"{source}: default language {default!r} is not listed")
    for kind, names in kinds.items():
        bad = [n for n in names if not str(n).isidentifier()]
        if bad:
            raise TemplateError(
                f"{source}: kind {kind} declares bad placeholders {bad}"
            )
    templates = [_template(entry, kinds, languages, source) for entry in raw_templates]
    _check_unique_and_complete(templates, kinds, languages, source)
    terms = {
        lang: {str(k): str(v) for k, v in (words or {}).items()}
        for lang, words in (data.get("terms") or {}).items()
    }
    return Catalog(languages, default, kinds, templates, terms)


def _template(
    entry: Mapping[str, Any],
    kinds: Mapping[str, tuple[str, ...]],
    languages: tuple[str, ...],
    source: str,
) -> Template:
    try:
        template = Template(
            str(entry["kind"]),
            str(entry["language"]),
            int(entry["version"]),
            str(entry["subject"]),
            str(entry["body"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise TemplateError(
            f"{source}: template {dict(entry)!r} lacks {error}"
        ) from None
    if template.kind not in kinds:
        raise TemplateError(f"{source}: {template.label}: unknown kind")
    if template.language not in languages:
        raise TemplateError(f"{source}: {template.label}: unknown language")
    for part in (template.subject, template.body):
        for name in _placeholders(part, template.label, source):
            if name not in kinds[template.kind]:
                raise TemplateError(
                    f"{source}: {template.label} uses {{{name}}}, which kind "
                    f"{template.kind} does not provide (it provides "
                    f"{', '.join(kinds[template.kind])})"
                )
    return template


def _placeholders(text: str, label: str, source: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise TemplateError(f"{source}: {label}: {error}") from None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise TemplateError(
                f"{source}: {label}: placeholder {{{name}}} must be a plain name "
                "(no index, attribute, conversion or format spec)"
            )
        names.append(name)
    return names


def _check_unique_and_complete(
    templates: list[Template],
    kinds: Mapping[str, tuple[str, ...]],
    languages: tuple[str, ...],
    source: str,
) -> None:
    seen: set[tuple[str, str, int]] = set()
    for t in templates:
        key = (t.kind, t.language, t.version)
        if key in seen:
            raise TemplateError(f"{source}: {t.label} is defined twice")
        seen.add(key)
    covered = {(kind, language) for kind, language, _ in seen}
    gaps = [
        f"{k}/{lang}" for k in kinds for lang in languages if (k, lang) not in covered
    ]
    if gaps:
        raise TemplateError(f"{source}: no template for {', '.join(gaps)}")
