"""Templates are data, checked when loaded: every kind renders in both languages,
and a template naming a placeholder its kind does not provide is refused."""

from __future__ import annotations

import copy

import pytest
import yaml

from laurel.notification.adapters.templates import DEFAULT_PATH, load_catalog
from laurel.notification.domain.templates import TemplateError, parse_catalog

DATA = yaml.safe_load(DEFAULT_PATH.read_text("utf-8"))
KINDS = list(DATA["kinds"])
ISSUE_KINDS = {
    "receipt",
    "returned",
    "endorsed",
    "eligibility",
    "reviewer_assigned",
    "deadline_reminder",
    "results",
    "forum_invitation_region",
    "forum_invitation_theme",
}


def catalog(data: dict | None = None):
    return parse_catalog(copy.deepcopy(data or DATA))


def test_the_catalog_covers_every_kind_the_issue_names() -> None:
    assert set(catalog().kinds) == ISSUE_KINDS
    assert load_catalog().kinds == catalog().kinds  # what the service loads


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_every_language(kind: str, language: str) -> None:
    templates = catalog()
    values = {name: f"<{name}>" for name in templates.placeholders[kind]}

    rendered = templates.render(kind, language, values)

    assert rendered.language == language and rendered.kind == kind
    assert rendered.subject and rendered.body
    assert "{" not in rendered.subject + rendered.body
    used = [v for v in values.values() if v in rendered.subject + rendered.body]
    assert used, "a template that uses none of its values says nothing specific"
    assert len(rendered.digest) == 64


def test_the_highest_version_renders_and_older_ones_stay_addressable() -> None:
    templates = catalog()
    values = {name: "x" for name in templates.placeholders["receipt"]}

    assert templates.render("receipt", "zh-CN", values).version == 3
    old = templates.render("receipt", "zh-CN", values, version=1)
    assert (
        old.version == 1
        and old.digest != templates.render("receipt", "zh-CN", values).digest
    )
    assert old.template_ref() == {
        "kind": "receipt",
        "language": "zh-CN",
        "version": 1,
        "digest": old.digest,
    }


def test_an_unknown_language_falls_back_to_the_default() -> None:
    templates = catalog()
    values = {name: "x" for name in templates.placeholders["endorsed"]}

    assert templates.render("endorsed", "fr", values).language == "zh-CN"


def test_a_placeholder_the_kind_does_not_provide_is_refused_at_load() -> None:
    data = copy.deepcopy(DATA)
    data["templates"][0]["body"] += " {nominee_phone}"

    with pytest.raises(TemplateError, match=r"\{nominee_phone\}.*does not provide"):
        parse_catalog(data)


@pytest.mark.parametrize(
    "bad",
    ["{nominee_name!r}", "{nominee_name:>10}", "{nominee.name}", "{0}", "{unclosed"],
)
def test_placeholders_must_be_plain_names(bad: str) -> None:
    data = copy.deepcopy(DATA)
    data["templates"][0]["subject"] = bad

    with pytest.raises(TemplateError):
        parse_catalog(data)


def test_a_kind_without_a_template_in_some_language_is_refused() -> None:
    data = copy.deepcopy(DATA)
    data["templates"] = [
        t
        for t in data["templates"]
        if not (t["kind"] == "results" and t["language"] == "en")
    ]

    with pytest.raises(TemplateError, match="results/en"):
        parse_catalog(data)


def test_the_same_version_twice_is_refused() -> None:
    data = copy.deepcopy(DATA)
    data["templates"].append(dict(data["templates"][-1]))

    with pytest.raises(TemplateError, match="defined twice"):
        parse_catalog(data)


def test_rendering_without_a_declared_value_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="received_at"):
        catalog().render(
            "receipt",
            "en",
            {"nominee_name": "x", "category": "c", "nomination_id": "n"},
        )


def test_terms_turn_codes_into_words_and_unknown_codes_show_as_they_are() -> None:
    templates = catalog()

    assert templates.term("zh-CN", "tier.first") == "获一等奖"
    assert templates.term("en", "category.warm_service_post") == "warm service post"
    assert templates.term("en", "category.brand_new") == "brand_new"


def test_literal_braces_are_written_doubled() -> None:
    data = copy.deepcopy(DATA)
    data["templates"][0]["subject"] = "{{draft}} {nominee_name}"
    templates = parse_catalog(data)
    first = data["templates"][0]
    values = {name: "N" for name in templates.placeholders[first["kind"]]}

    rendered = templates.render(
        first["kind"], first["language"], values, version=first["version"]
    )

    assert rendered.subject == "{draft} N"
