"""The closed vocabularies a campaign definition is written in.

Each is closed for the same reason the rules are (see `rules`): a word means
something only if a service acts on it, so an unknown one is refused when the
definition is loaded instead of being ignored in silence later.

Nominee kinds are the documents' own: the Henan notice nominates hospitals
(附件1, 附件2: 标杆单位), departments and wards (附件3: 暖心服务岗（科室、病区）)
and persons (附件4: 优质医疗服务引领者); the innovation-year plan nominates
innovation projects (创新项目申请报告书). Definitions and events written before
issue 16 used other words; `canonical_nominee_kind` reads them:

    measure  -> hospital            附件2 names a 单位 (unit) as benchmark for a
                                    measure: the unit is the nominee, the measure
                                    (创新举措名称) is a field of its form
    manager  -> person              附件4's 管理者 is a person
    project  -> innovation_project
    hospital, department            unchanged

Nothing maps to `ward`: before issue 16 a ward could only be nominated as a
department, and such a nomination stays one.
"""

from __future__ import annotations

from typing import Literal, get_args

NomineeKind = Literal["hospital", "department", "ward", "person", "innovation_project"]
NOMINEE_KINDS: tuple[str, ...] = get_args(NomineeKind)
LEGACY_NOMINEE_KINDS = {"measure": "hospital", "manager": "person",
                        "project": "innovation_project"}
# What services written before issue 16 compare against; see Category.nominee_kind.
PRE_ISSUE_16_SPELLING = {"person": "manager", "innovation_project": "project",
                         "ward": "department"}

# Organizations that nominate (the kinds intake registers them under).
NominatorKind = Literal["hospital", "department", "ward"]
# Organizations that receive nominations at the end of a route.
ReceiverKind = Literal["center", "hospital_office", "commission"]

# What a stage of the campaign clock permits. Every service asks for one of
# these (`laurel.campaigns.stages.require_stage`), so a stage's dates govern
# exactly the acts it lists.
Action = Literal[
    "submit",  # submit a nomination, or resubmit a returned one
    "amend",  # change a submitted nomination's fields
    "withdraw",  # withdraw a nomination
    "endorse",  # a commission endorses, returns or forwards a nomination
    "receive",  # the receiver registers a nomination as received
    "attach_report",  # stage-2 evidence: an interview article or a report
    "form_panels",  # form review panels, assign reviewers, recusals
    "run_rounds",  # open and close scoring rounds
    "score",  # a reviewer records scores
    "decide",  # compute results, decide prizes
    "publish_results",  # publish the results
    "invite_to_forums",  # forum and award invitations
]
ACTIONS: tuple[str, ...] = get_args(Action)
ACTION_NAMES = {
    "submit": "submitting nominations",
    "amend": "amending nominations",
    "withdraw": "withdrawing nominations",
    "endorse": "endorsing, returning and forwarding nominations",
    "receive": "receiving nominations",
    "attach_report": "attaching interview articles and reports",
    "form_panels": "forming review panels",
    "run_rounds": "opening and closing scoring rounds",
    "score": "scoring",
    "decide": "deciding results",
    "publish_results": "publishing results",
    "invite_to_forums": "forum and award invitations",
}

# Stage-2 evidence: what journalists make (三、（二）: 采访…开设专栏进行报道).
ReportKind = Literal["article", "report"]


def canonical_nominee_kind(kind: str) -> str | None:
    """The documents' word for `kind`, old words mapped (module docstring);
    None for a word that never named a nominee kind."""
    kind = LEGACY_NOMINEE_KINDS.get(kind, kind)
    return kind if kind in NOMINEE_KINDS else None
