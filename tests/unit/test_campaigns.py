"""Campaign definitions as data: the shipped files, the schema's checks, forms."""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime
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
    canonical_nominee_kind,
    definition_digest,
    endorsement_opinion_field,
    endorsement_values,
    fillable_fields,
    load_campaign,
    load_catalog,
    normalize_form,
    parse_campaign,
    self_assessment_total,
    validate_form,
)
from laurel.campaigns.specimen import specimen_fields
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
    assert [(c.key, c.nominee_kinds) for c in henan.categories] == [
        ("ten_measures_benchmark", ("hospital",)),
        ("single_measure_benchmark", ("hospital",)),
        ("warm_service_post", ("department", "ward")),
        ("quality_service_leader", ("person",)),
    ]
    assert {c.nominee_kinds for c in year.categories} == {("innovation_project",)}
    assert [g.key for g in henan.panel_groups] == [
        "hospital_manager", "industry_expert", "media"]
    assert [g.key for g in year.panel_groups] == [
        "medical", "nursing", "medical_technology", "management"]
    assert "results" in henan.approval_required
    assert [(r.key, r.endorsed_by, r.receiver) for r in henan.routing.routes] == [
        ("via_commission", "local_commission", "henan-center"),
        ("direct", None, "henan-center")]
    assert [(r.key, r.nominator_kinds, r.receiver) for r in year.routing.routes] == [
        ("to_office", ("department", "ward"), "xingan-peoples-innovation-office")]
    assert year.routing.receivers[0].kind == "hospital_office"
    assert (year.nominators.kinds, year.nominators.within) == (
        ("department", "ward"), "xingan-peoples")


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
    "0371-85961300", "037185961300", "0371-85961300-123", "010-62345678",
    "(0371)85961300", "0371-85961300转8001",
])
def test_landlines_in_their_usual_shapes_pass(ten: Category, number: str):
    assert validate_form(ten, {"president.landline": number}, partial=True) == []


# A mainland subscriber number never starts with 0 (the trunk prefix) or 1
# (service numbers): 010-12345678 is no landline.
@pytest.mark.parametrize("number", [
    "85961300", "371-85961300", "0371-859", "13800000000", "0371 8596 1300x",
    "010-12345678",
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


# -- normalized forms ------------------------------------------------------------


def test_the_form_stores_canonical_values_of_what_was_typed(ten: Category):
    typed = full_ten_measures_form()
    typed["president.mobile"] = "13８００１３８０００"
    typed["contact.mobile"] = "+86 139 0000 0002\u3000"
    typed["president.landline"] = "0371-８５９６１３００"
    typed["contact.landline"] = " (0371)65580011 "
    typed["hospital_opinion.date"] = "２０２１年11月5日"
    typed["self_assessment.m01.points"] = "９５"
    typed["hospital_name"] = "\u3000河南省人民医院 "
    typed["hospital_profile"] = "\u3000\u3000集医疗、教学、科研为一体。"
    canonical, violations = ten.normalize(typed)
    assert violations == []
    assert {key: canonical[key] for key in (
        "president.mobile", "contact.mobile", "president.landline",
        "contact.landline", "hospital_opinion.date", "self_assessment.m01.points",
        "hospital_name", "hospital_profile")} == {
        "president.mobile": "13800138000", "contact.mobile": "13900000002",
        "president.landline": "0371-85961300", "contact.landline": "0371-65580011",
        "hospital_opinion.date": "2021-11-05", "self_assessment.m01.points": "95",
        "hospital_name": "河南省人民医院",
        "hospital_profile": "\u3000\u3000集医疗、教学、科研为一体。"}
    assert ten.normalize(canonical) == (canonical, [])


def test_a_malformed_value_is_left_out_and_its_violation_shows_the_form(ten: Category):
    canonical, violations = ten.normalize(
        {"president.mobile": "138-0013-800", "contact.department": "医务部",
         "management_team": "\u3000 "}, partial=True)
    assert canonical == {"contact.department": "医务部", "management_team": ""}
    [violation] = violations
    assert violation.field == "fields[president.mobile]"
    assert "e.g. 13800138000" in violation.description


def test_full_width_points_count_as_their_number(ten: Category):
    fields = full_ten_measures_form()
    fields["self_assessment.m01.points"] = "９０"
    fields["self_assessment.m02.points"] = " 090\u3000"
    assert self_assessment_total(ten, fields) == 900
    fields["self_assessment.m03.points"] = "\u0669\u0660"  # Arabic-Indic 90
    with pytest.raises(InvalidArgument) as caught:
        self_assessment_total(ten, fields)
    assert paths(caught.value.violations) == {"fields[self_assessment.m03.points]"}


# -- fields an authority fills ---------------------------------------------------


SINGLE_MEASURE = {
    "recommending_unit.name": "郑州市人民医院", "recommending_unit.seal": "郑州市人民医院",
    "recommending_unit.date": "2021-11-20", "measure_name": "分时段精准预约",
    "implementation_scope": "全院门诊", "unit_contact": "李娜",
    "contact_details": "13900000002", "measures": "precise_appointments",
    "description": "预约精确到30分钟。",
}


def test_the_hospital_cannot_type_the_commissions_opinion(henan: CampaignDefinition):
    single = henan.category("single_measure_benchmark")
    typed = {**SINGLE_MEASURE, "commission_opinion.opinion": "同意推荐",
             "commission_opinion.seal": "郑州市卫生健康委员会",
             "commission_opinion.date": ""}
    found = {v.field: v.description for v in validate_form(single, typed)}
    assert set(found) == {"fields[commission_opinion.opinion]",
                          "fields[commission_opinion.seal]"}
    assert "endorsement" in found["fields[commission_opinion.opinion]"]
    # The commission fills them, and may fill nothing else.
    by_endorser = {"commission_opinion.opinion": "同意推荐",
                   "commission_opinion.date": "2021/12/1"}
    assert normalize_form(single, by_endorser, partial=True, by="endorser") == (
        {"commission_opinion.opinion": "同意推荐",
         "commission_opinion.date": "2021-12-01"}, [])
    assert paths(validate_form(single, {"measure_name": "x"}, partial=True,
                               by="endorser")) == {"fields[measure_name]"}
    with pytest.raises(ValueError, match="filled in by one of"):
        validate_form(single, {}, by="organizer")


def test_which_fields_a_role_fills_and_where_the_endorsement_goes(henan):
    single = henan.category("single_measure_benchmark")
    endorser = {"commission_opinion.opinion", "commission_opinion.seal",
                "commission_opinion.date"}
    assert set(fillable_fields(single, "endorser")) == endorser
    assert set(fillable_fields(single, "nominator")) == set(single.form_fields) - endorser
    assert fillable_fields(single, "reviewer") == {}
    assert endorsement_opinion_field(single) == "commission_opinion.opinion"
    assert endorsement_values(single, opinion="同意推荐。\r\n", endorser=" 郑州市卫生健康委员会",
                              endorsed_on=date(2021, 12, 1)) == {
        "commission_opinion.opinion": "同意推荐。\n",
        "commission_opinion.seal": "郑州市卫生健康委员会",
        "commission_opinion.date": "2021-12-01"}
    ten = henan.category("ten_measures_benchmark")
    assert endorsement_opinion_field(ten) is None
    assert endorsement_values(ten, opinion="x", endorser="y",
                              endorsed_on=date(2021, 12, 1)) == {}


def test_the_specimen_fills_only_the_nominators_cells(henan: CampaignDefinition):
    for category in henan.categories:
        fields = specimen_fields(category)
        assert validate_form(category, fields) == []
        assert category.normalize(fields) == (fields, [])


def test_an_endorsement_part_belongs_to_an_endorser_field_of_a_fitting_type():
    data = henan_data()
    cells = data["categories"][1]["fields"][7]["fields"]
    cells[0]["filled_by"] = "nominator"
    cells[2]["type"] = "text"
    assert set(rejected(data)) == {
        "categories[1].fields[7].fields[0].from_endorsement",
        "categories[1].fields[7].fields[2].type"}


# -- nominee kinds ----------------------------------------------------------------


def test_each_category_names_its_nominee_kinds_and_reads_the_old_words(henan, catalog):
    post = henan.category("warm_service_post")
    assert post.accepts_nominee_kind("ward") and post.accepts_nominee_kind("department")
    assert not post.accepts_nominee_kind("hospital")
    leader = henan.category("quality_service_leader")
    assert leader.accepts_nominee_kind("person") and leader.accepts_nominee_kind("manager")
    assert henan.category("single_measure_benchmark").accepts_nominee_kind("measure")
    project = catalog["innovation-year"].category("service_innovation")
    assert project.accepts_nominee_kind("project")
    assert project.accepts_nominee_kind("innovation_project")
    assert not project.accepts_nominee_kind("astrologer")
    assert canonical_nominee_kind("manager") == "person"
    assert canonical_nominee_kind("measure") == "hospital"
    assert canonical_nominee_kind("ward") == "ward"
    assert canonical_nominee_kind("unit") is None


def test_services_not_yet_migrated_still_read_the_old_word(henan, catalog):
    assert [c.nominee_kind for c in henan.categories] == [
        "hospital", "measure", "department", "manager"]
    assert {c.nominee_kind for c in catalog["innovation-year"].categories} == {"project"}


def test_a_nominee_kind_is_one_of_the_documents_words():
    data = henan_data()
    data["categories"][3]["nominee_kinds"] = ["manager"]
    data["categories"][2]["nominee_kinds"] = ["ward", "ward"]
    data["categories"][1]["nominee_kinds"] = []
    errors = rejected(data)
    assert set(errors) == {"categories[3].nominee_kinds[0]",
                           "categories[2].nominee_kinds[1]",
                           "categories[1].nominee_kinds"}


# -- who does what, as data ----------------------------------------------------------


def test_an_empty_organizer_list_no_longer_means_anyone():
    data = henan_data()
    data["organizer"]["organization_ids"] = []
    assert set(rejected(data)) == {"organizer.organization_ids"}
    del data["organizer"]["organization_ids"]
    assert set(rejected(data)) == {"organizer.organization_ids"}


def test_co_organizers_and_reporting_must_fit_the_campaign():
    data = henan_data()
    data["organizer"]["co_organizers"][0]["stages"] = ["interviews", "awards"]
    data["organizer"]["co_organizers"].append(
        {"organization_id": "henan-center", "name_zh": "中心", "name_en": "Center",
         "stages": ["evaluation"]})
    data["reporting"] = None
    errors = rejected(data)
    assert set(errors) == {"organizer.co_organizers[0].stages[1]",
                           "organizer.co_organizers[1].organization_id", "reporting"}
    assert "interviews permits attach_report" in errors["reporting"]
    data = henan_data()
    data["stages"][1]["permits"] = []
    assert rejected(data) == {"reporting": "no stage permits attach_report"}


def test_a_route_ends_at_a_declared_receiver():
    data = henan_data()
    data["routing"]["routes"][1]["receiver"] = "henan-commission"
    data["routing"]["receivers"][0]["within"] = "henan-center"
    assert set(rejected(data)) == {"routing.routes[1].receiver",
                                   "routing.receivers[0].within"}
    data = henan_data()
    data["routing"]["routes"][0]["endorser_kinds"] = []
    data["routing"]["routes"][1]["endorser_kinds"] = ["prefecture_city"]
    assert set(rejected(data)) == {"routing.routes[0].endorser_kinds",
                                   "routing.routes[1].endorser_kinds"}


def test_every_nominator_has_exactly_one_route():
    data = henan_data()
    del data["routing"]["routes"][1]  # provincial-level hospitals: no route
    assert rejected(data) == {"routing.routes": "no route for a provincial-level "
                                                "hospital's nominations"}
    data = henan_data()
    data["routing"]["routes"][1]["provincial_level"] = None  # overlaps the first
    assert set(rejected(data)) == {"routing.routes"}
    data = henan_data()
    data["routing"]["routes"][1]["nominator_kinds"] = ["hospital", "ward"]
    assert set(rejected(data)) == {"routing.routes[1].provincial_level"}
    data = henan_data()
    data["routing"]["routes"].append(
        {"key": "wards", "nominator_kinds": ["ward"], "receiver": "henan-center"})
    assert rejected(data) == {"routing.routes[2].nominator_kinds[0]": (
        "a ward does not nominate in this campaign (nominators)")}


def test_every_category_says_who_scores_it(catalog):
    year = catalog["innovation-year"]
    panel = year.panel_for("technical_innovation")
    assert panel is not None and panel.reviewers_by_group("nursing") == {"nursing": 3}
    with pytest.raises(ValueError, match="one of"):
        panel.reviewers_by_group("media")
    assert catalog["henan-2021"].panel_for("warm_service_post").reviewers_by_group() == {
        "hospital_manager": 2, "industry_expert": 2, "media": 1}
    data = json.loads(json.dumps(yaml.safe_load(
        (SHIPPED_DIR / "innovation-year.yaml").read_text(encoding="utf-8")), default=str))
    del data["categories"][0]["panel"]
    data["categories"][1]["panel"] = {"one_group_of": ["nurses"], "reviewers": 3}
    errors = rejected(data)
    assert set(errors) == {"categories[0].panel", "categories[1].panel"}
    assert "who scores" in errors["categories[0].panel"]
    data["categories"][1]["panel"] = {"mix": {"medical": 1}, "set_per_round": True}
    data["categories"][2]["panel"] = {"one_group_of": ["medical"]}
    errors = rejected(data)
    assert set(errors) == {"categories[1].panel", "categories[2].panel.reviewers"}
    assert "exactly one of" in errors["categories[1].panel"]


def test_look_back_rules_need_the_day_their_windows_end_on():
    data = henan_data()
    del data["lookback_reference"]
    errors = rejected(data)
    assert "warm_service_post, quality_service_leader" in errors["lookback_reference"]
    data["lookback_reference"] = {"stage": "judging", "day": "last"}
    assert set(rejected(data)) == {"lookback_reference.stage"}


def test_stages_permit_known_acts_and_are_not_named_after_one():
    data = henan_data()
    data["stages"][1]["permits"] = ["attach_report", "gossip"]
    data["stages"][0]["permits"] = ["amend", "amend"]
    assert set(rejected(data)) == {"stages[1].permits[1]", "stages[0].permits[1]"}
    data = henan_data()
    data["stages"][3]["key"] = "score"
    data["stages"][0]["permits"] = ["amend"]
    errors = rejected(data)
    assert set(errors) == {"stages[3].key", "stages"}
    assert "no stage permits submit" in errors["stages"]


# -- digests -------------------------------------------------------------------------


def test_changing_the_definitions_changed_their_digests(catalog):
    for campaign_id, definition in catalog.items():
        recorded = json.loads((Path(__file__).parent / "campaign_payloads_v1" /
                               f"{campaign_id}.json").read_text(encoding="utf-8"))
        assert definition_digest(definition) != recorded["digest"]
        assert definition.schema_version == 2 and definition.version == 2
