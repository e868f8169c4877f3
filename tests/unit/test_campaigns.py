"""Campaign definitions as data: the shipped files, the schema's checks, forms."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from laurel.campaigns import (
    SHIPPED_DIR,
    CampaignDefinition,
    CampaignDefinitionError,
    Category,
    FormField,
    campaign_from_data,
    definition_digest,
    load_campaign,
    load_catalog,
    parse_campaign,
    self_assessment_total,
    validate_form,
)
from laurel.errors import InvalidArgument

HENAN_FILE = SHIPPED_DIR / "henan-2021.yaml"

# Every label of 附件1–4 of the Henan notice, whitespace inside cells removed.
SEED_LABELS = {
    "ten_measures_benchmark": [
        "医院名称", "院长", "座机", "手机", "联系人", "所在部门", "邮箱", "医院简介",
        "管理层介绍", "主要成绩", "所获荣誉（近两年）", "医院意见", "领导签字",
        "医院盖章", "日期",
    ],
    "single_measure_benchmark": [
        "推荐单位（公章）", "年月日", "创新举措名称", "实施范围", "单位联系人",
        "联系方式", "创新措施及成效简述", "所属卫生健康委意见", "单位盖章",
    ],
    "warm_service_post": [
        "医院名称", "科室、病区名称", "负责人", "座机", "手机", "联系人", "传真",
        "电子邮箱", "岗位简介", "主要工作业绩", "所获荣誉（近三年）", "院方意见",
        "领导签字", "医院盖章", "日期",
    ],
    "quality_service_leader": [
        "医院名称", "管理者", "座机", "手机", "联系人", "传真", "电子邮箱",
        "管理者简介", "主要工作业绩", "所获荣誉（近三年）", "医院意见", "领导签字",
        "医院盖章", "日期",
    ],
}
TEN_MEASURES = [
    "预约服务精准化", "支付方式多样化", "门诊取药便捷化", "综合服务集中化",
    "多学科诊疗高效化", "远程医疗常态化", "用血费用报销简约化", "病案复印便民化",
    "膳食服务科学化", "公共厕所洁净化",
]


@functools.cache
def shipped() -> dict[str, CampaignDefinition]:
    return load_catalog(SHIPPED_DIR)


@pytest.fixture(scope="module")
def catalog() -> dict[str, CampaignDefinition]:
    return shipped()


@pytest.fixture(scope="module")
def henan(catalog: dict[str, CampaignDefinition]) -> CampaignDefinition:
    return catalog["henan-2021"]


@pytest.fixture(scope="module")
def ten(henan: CampaignDefinition) -> Category:
    return henan.category("ten_measures_benchmark")


def henan_data() -> dict[str, Any]:
    """The shipped file as plain data, without YAML's shared (aliased) objects."""
    data = yaml.safe_load(HENAN_FILE.read_text(encoding="utf-8"))
    return json.loads(json.dumps(data, default=str))


def labels(fields: tuple[FormField, ...]) -> list[str]:
    out = []
    for field in fields:
        out.append(field.label_zh)
        out += labels(field.fields)
    return out


def rejected(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(CampaignDefinitionError) as caught:
        campaign_from_data(data)
    return dict(caught.value.errors)


# -- the shipped definitions ---------------------------------------------------


def test_both_shipped_definitions_load(catalog: dict[str, CampaignDefinition]):
    assert set(catalog) == {"henan-2021", "innovation-year"}
    henan, year = catalog["henan-2021"], catalog["innovation-year"]
    assert [(c.key, c.nominee_kind) for c in henan.categories] == [
        ("ten_measures_benchmark", "hospital"),
        ("single_measure_benchmark", "measure"),
        ("warm_service_post", "department"),
        ("quality_service_leader", "manager"),
    ]
    assert [g.key for g in henan.panel_groups] == [
        "hospital_manager", "industry_expert", "media"]
    assert [g.key for g in year.panel_groups] == [
        "medical", "nursing", "medical_technology", "management"]
    assert "results" in henan.approval_required
    assert henan.routing.mode == "via_local_commission"
    assert year.routing.mode == "direct_to_organizer"


def test_the_ten_measures_rubric_totals_1000_with_threshold_900(ten: Category):
    rubric = ten.self_assessment
    assert rubric.total == 1000 and rubric.threshold == 900
    assert len(rubric.items) == 10
    assert sum(item.max_points for item in rubric.items) == 1000
    assert [item.name_zh for item in rubric.items] == TEN_MEASURES
    assert ten.rule("self_assessment_threshold").params.min_total == 900
    assert not any("total" in key for key in ten.form_fields)


@pytest.mark.parametrize("category", sorted(SEED_LABELS))
def test_every_seed_attachment_label_is_on_the_form(
    henan: CampaignDefinition, category: str
):
    on_form = labels(henan.category(category).fields)
    assert [label for label in SEED_LABELS[category] if label not in on_form] == []


def test_single_measure_form_offers_exactly_the_ten_measures(henan):
    category = henan.category("single_measure_benchmark")
    field = category.form_fields["measures"]
    assert field.type == "multichoice" and field.min_choices == 1
    assert [c.label_zh for c in field.choices] == TEN_MEASURES
    assert category.rule("names_ten_measures").params.min == 1


def test_henan_rules_and_quotas_follow_the_notice(henan: CampaignDefinition):
    post = henan.category("warm_service_post")
    assert post.rule("no_complaint_within").params.years == 3
    assert post.rule("requires_evidence").params.kind == "case"
    assert post.quota("per_hospital_alive").params.max == 2
    leader = henan.category("quality_service_leader")
    assert leader.rule("no_penalty_within").params.years == 3
    live = leader.rule("requires_live_nomination").params
    assert live.categories == ("ten_measures_benchmark", "single_measure_benchmark")
    assert live.same_hospital
    assert leader.quota("per_hospital_alive").params.max == 1


def test_henan_stages_are_whole_days_in_china(henan: CampaignDefinition):
    dates = {s.key: (s.start.isoformat(), s.end.isoformat()) for s in henan.stages}
    assert dates == {
        "nomination": ("2021-11-01", "2021-12-31"),
        "interviews": ("2021-11-01", "2021-12-31"),
        "evaluation": ("2021-12-01", "2021-12-31"),
        "forums": ("2022-01-01", "2022-01-31"),
    }
    # 2021-12-31 23:59 in Zhengzhou is 15:59 UTC; midnight there is 16:00 UTC.
    assert henan.stage_open("nomination", datetime(2021, 12, 31, 15, 59, tzinfo=UTC))
    assert not henan.stage_open("nomination", datetime(2021, 12, 31, 16, tzinfo=UTC))
    assert henan.stage_open("nomination", datetime(2021, 10, 31, 16, tzinfo=UTC))
    assert not henan.stage_open("nomination", datetime(2021, 10, 31, 15, tzinfo=UTC))
    assert henan.stage_window("no-such-stage") is None


def test_innovation_year_awards_criteria_and_report(catalog):
    year = catalog["innovation-year"]
    names = [c.name_zh for c in year.categories]
    assert names == ["管理创新奖", "技术创新奖", "服务创新奖"]
    for category in year.categories:
        assert [c.key for c in category.scoring.criteria] == [
            "novelty", "difficulty", "benefit"]
        assert [(t.key, t.count) for t in category.prize_tiers] == [
            ("first", 1), ("second", 2), ("third", 3)]
        assert {"title", "implementation_period.start", "implementation_period.end",
                "process_and_methods", "results", "participants"} <= set(
            category.form_fields)
    assert year.stage("nomination").end.isoformat() == "2012-11-30"


def test_json_and_yaml_give_the_same_definition_and_digest(tmp_path: Path, henan):
    path = tmp_path / "henan-2021.json"
    path.write_text(json.dumps(henan_data(), ensure_ascii=False), encoding="utf-8")
    assert load_campaign(path) == henan
    assert definition_digest(load_campaign(path)) == definition_digest(henan)


def test_the_digest_names_the_rules_in_force(henan: CampaignDefinition):
    digest = definition_digest(henan)
    assert len(digest) == 64 and digest == definition_digest(load_campaign(HENAN_FILE))
    data = henan_data()
    data["categories"][2]["quotas"][0]["params"]["max"] = 3
    assert definition_digest(campaign_from_data(data)) != digest


# -- malformed definitions -------------------------------------------------------


def test_a_malformed_definition_is_rejected_with_every_error_path():
    data = henan_data()
    cats = data["categories"]
    cats[2]["fields"][5]["type"] = "telephone"
    cats[0]["fields"][1]["fields"][2].pop("type")
    cats[1]["fields"][1]["colour"] = "red"
    cats[0]["self_assessment"]["items"][3]["max_points"] = 90
    cats[0]["self_assessment"]["threshold"] = 1200
    cats[2]["eligibility"][1]["name"] = "no_complaints"
    cats[3]["eligibility"][0]["params"]["years"] = 0
    cats[3]["quotas"][0]["params"]["max"] = -1
    cats[1]["scoring"]["criteria"][0]["weight"] = 0.5
    data["stages"][1]["end"] = "2021-10-01"
    errors = rejected(data)
    assert set(errors) == {
        "categories[2].fields[5].type",
        "categories[0].fields[1].fields[2].type",
        "categories[1].fields[1].colour",
        "categories[0].self_assessment.items",
        "categories[0].self_assessment.threshold",
        "categories[2].eligibility[1].name",
        "categories[3].eligibility[0].params.years",
        "categories[3].quotas[0].params.max",
        "categories[1].scoring.criteria",
        "stages[1].end",
    }
    assert "990" in errors["categories[0].self_assessment.items"]
    assert "no_complaint_within" in errors["categories[2].eligibility[1].name"]


def test_references_within_a_category_are_checked():
    data = henan_data()
    cats = data["categories"]
    cats[1]["eligibility"][0]["params"]["field"] = "description"
    cats[0]["eligibility"][0]["params"]["min_total"] = 800
    cats[0]["fields"][3]["key"] = "self_assessment"
    assert set(rejected(data)) == {
        "categories[1].eligibility[0].params.field",
        "categories[0].eligibility[0].params.min_total",
        "categories[0].fields[3].key",
    }


def test_references_across_the_campaign_are_checked_once_each_part_is_valid():
    data = henan_data()
    cats = data["categories"]
    cats[3]["eligibility"][1]["params"]["categories"] = [
        "ten_measures", "single_measure_benchmark"]
    cats[2]["scoring"]["by_group"] = {"nurses": cats[2]["scoring"]["criteria"]}
    cats[0]["self_assessment"]["items"][0]["measure"] = "appointments"
    cats[0]["self_assessment"]["items"][1]["name_zh"] = "支付多样化"
    cats[2]["key"] = "warm_service"
    cats[3]["key"] = "warm_service"
    data["stages"][0]["key"] = "submission"
    data["approval_required"] = ["results", "results"]
    assert set(rejected(data)) == {
        "categories[3].eligibility[1].params.categories[0]",
        "categories[2].scoring.by_group.nurses",
        "categories[0].self_assessment.items[0].measure",
        "categories[0].self_assessment.items[1].name_zh",
        "categories[3].key",
        "stages",
        "approval_required[1]",
    }


def test_a_typed_in_total_cannot_be_a_field():
    data = henan_data()
    data["categories"][0]["fields"].append({
        "key": "self_assessment_total", "label_zh": "自评总分",
        "label_en": "Self-assessment total", "type": "integer"})
    assert set(rejected(data)) == {"categories[0].fields[8].key"}


def test_yaml_errors_name_their_line():
    with pytest.raises(CampaignDefinitionError) as caught:
        parse_campaign("id: x\nversion: 1\n  name_zh: [unclosed\n", source="bad.yaml")
    [(where, _)] = caught.value.errors
    assert where.startswith("line 3")
    with pytest.raises(CampaignDefinitionError) as caught:
        parse_campaign("id: x\nversion: 1\nid: y\n")
    [(where, message)] = caught.value.errors
    assert where == "line 3, column 1" and "twice" in message


def test_the_catalog_reports_every_bad_file(tmp_path: Path):
    (tmp_path / "henan-2021.yaml").write_text(HENAN_FILE.read_text(encoding="utf-8"))
    (tmp_path / "renamed.yaml").write_text(HENAN_FILE.read_text(encoding="utf-8"))
    (tmp_path / "broken.json").write_text('{"id": ', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a definition", encoding="utf-8")
    with pytest.raises(CampaignDefinitionError) as caught:
        load_catalog(tmp_path)
    assert [p for p, _ in caught.value.errors] == [
        "broken.json:line 1, column 8", "renamed.yaml:id"]
    assert isinstance(caught.value, InvalidArgument)


# -- forms -----------------------------------------------------------------------


def full_ten_measures_form(points: list[int] | None = None) -> dict[str, str]:
    fields = {
        "hospital_name": "河南省人民医院",
        "president.name": "张伟",
        "president.landline": "0371-65580000",
        "president.mobile": "13800000001",
        "contact.name": "李娜",
        "contact.department": "医务部",
        "contact.landline": "037165580011",
        "contact.mobile": "13900000002",
        "contact.email": "yiwubu@example.org.cn",
        "hospital_profile": "集医疗、教学、科研为一体的三级甲等综合医院。",
        "management_team": "院领导班子七人。",
        "main_achievements": "门诊平均候诊时间缩短40%。",
        "hospital_opinion.leader_signature": "张伟",
        "hospital_opinion.seal": "河南省人民医院（公章）",
        "hospital_opinion.date": "2021-11-25",
    }
    for n, value in enumerate(points or [90] * 10, start=1):
        fields[f"self_assessment.m{n:02d}.points"] = str(value)
        fields[f"self_assessment.m{n:02d}.evidence"] = f"佐证材料{n}"
    return fields


def paths(violations) -> set[str]:
    return {v.field for v in violations}


def test_a_full_valid_form_passes(ten: Category):
    assert validate_form(ten, full_ten_measures_form()) == []


def test_the_form_reports_every_problem_at_once(ten: Category):
    fields = full_ten_measures_form()
    fields["president.mobile"] = "1380000000"
    fields["contact.landline"] = "65580011"
    fields["contact.email"] = "yiwubu@"
    del fields["hospital_profile"]
    fields["management_team"] = "   "
    fields["hospital_opinion.date"] = "2021-02-30"
    fields["self_assessment.m03.points"] = "101"
    fields["president.fax"] = "0371-65580001"
    fields["self_assessment.total"] = "900"
    fields["president"] = "张伟"
    found = {v.field: v.description for v in validate_form(ten, fields)}
    assert set(found) == {
        "fields[president.mobile]", "fields[contact.landline]",
        "fields[contact.email]", "fields[hospital_profile]",
        "fields[management_team]", "fields[hospital_opinion.date]",
        "fields[self_assessment.m03.points]", "fields[president.fax]",
        "fields[self_assessment.total]", "fields[president]",
    }
    assert "required" in found["fields[hospital_profile]"]
    assert "computed" in found["fields[self_assessment.total]"]
    assert "president.mobile" in found["fields[president]"]


def test_a_draft_may_be_incomplete_but_not_malformed(ten: Category):
    draft = {"hospital_name": "河南省人民医院", "contact.email": "not-an-email"}
    assert paths(validate_form(ten, draft, partial=True)) == {"fields[contact.email]"}
    assert validate_form(ten, {"hospital_name": "河南省人民医院"}, partial=True) == []
    assert len(validate_form(ten, {"hospital_name": "河南省人民医院"})) > 20


@pytest.mark.parametrize("number", [
    "0371-85961300", "037185961300", "0371-85961300-123", "010-12345678",
    "(0371)85961300", "0371-85961300转8001",
])
def test_landlines_in_their_usual_shapes_pass(ten: Category, number: str):
    assert validate_form(ten, {"president.landline": number}, partial=True) == []


@pytest.mark.parametrize("number", [
    "85961300", "371-85961300", "0371-859", "13800000000", "0371 8596 1300x",
])
def test_malformed_landlines_are_refused(ten: Category, number: str):
    violations = validate_form(ten, {"president.landline": number}, partial=True)
    assert paths(violations) == {"fields[president.landline]"}


@pytest.mark.parametrize("number,ok", [
    ("13800000001", True), ("19912345678", True), ("+8613800000001", True),
    ("12800000000", False), ("1380000000", False), ("138000000011", False),
    ("0371-85961300", False),
])
def test_mobile_numbers(ten: Category, number: str, ok: bool):
    assert (validate_form(ten, {"president.mobile": number}, partial=True) == []) is ok


def test_choices_lengths_and_endorser_fields(henan: CampaignDefinition):
    single = henan.category("single_measure_benchmark")
    base = {
        "recommending_unit.name": "河南省人民医院",
        "recommending_unit.seal": "河南省人民医院（公章）",
        "recommending_unit.date": "2021-11-20",
        "measure_name": "分时段精准预约", "implementation_scope": "全院门诊",
        "unit_contact": "李娜", "contact_details": "13900000002",
        "measures": "precise_appointments, clean_toilets",
        "description": "预约精确到30分钟。",
    }
    assert validate_form(single, base) == []  # the commission's opinion comes later
    cases = {
        "precise_appointments,precise_appointments": "twice",
        "precise_appointments,free_parking": "free_parking",
    }
    for value, expected in cases.items():
        [violation] = validate_form(single, {**base, "measures": value})
        assert violation.field == "fields[measures]"
        assert expected in violation.description
    [missing] = validate_form(single, {**base, "measures": ""})
    assert missing.field == "fields[measures]" and "required" in missing.description
    [long] = validate_form(single, {**base, "measure_name": "长" * 101})
    assert long.field == "fields[measure_name]" and "100" in long.description


def test_values_must_be_text(ten: Category):
    [violation] = validate_form(ten, {"self_assessment.m01.points": 90}, partial=True)
    assert violation.field == "fields[self_assessment.m01.points]"


# -- the self-assessment total ----------------------------------------------------


def test_the_total_is_computed_from_the_items_899_vs_900(ten: Category):
    threshold = ten.self_assessment.threshold
    short = full_ten_measures_form([90] * 9 + [89])
    assert self_assessment_total(ten, short) == 899 < threshold
    enough = full_ten_measures_form([90] * 10)
    assert self_assessment_total(ten, enough) == 900 >= threshold
    assert self_assessment_total(ten, {"self_assessment.m01.points": "100"}) == 100


def test_the_total_refuses_items_that_are_not_points(ten: Category):
    fields = full_ten_measures_form()
    fields["self_assessment.m02.points"] = "150"
    fields["self_assessment.m05.points"] = "九十"
    with pytest.raises(InvalidArgument) as caught:
        self_assessment_total(ten, fields)
    assert paths(caught.value.violations) == {
        "fields[self_assessment.m02.points]", "fields[self_assessment.m05.points]"}


def test_a_category_without_a_rubric_has_no_total(henan: CampaignDefinition):
    with pytest.raises(ValueError, match="no self-assessment"):
        self_assessment_total(henan.category("warm_service_post"), {})


@given(st.data())
def test_the_total_is_the_sum_of_the_item_points(data: st.DataObject):
    """Any valid points, some items not yet scored: the total is their sum."""
    ten = shipped()["henan-2021"].category("ten_measures_benchmark")
    rubric = ten.self_assessment
    points = {
        rubric.points_key(item): data.draw(
            st.none() | st.integers(0, item.max_points), label=item.key)
        for item in rubric.items
    }
    fields = {key: str(p) for key, p in points.items() if p is not None}
    assert self_assessment_total(ten, fields) == sum(p or 0 for p in points.values())
    assert validate_form(ten, fields, partial=True) == []
