"""Contacts' phones and e-mails never reach logs, traces or the security log.

A nomination is submitted with distinctive contact details, once valid and
once with a malformed phone and e-mail (whose refusal must name the field,
not echo the value), and once by a role the policy refuses; then every span
the process recorded (attributes, status, events) and every log record are
searched for those values.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from laurel.campaigns import SHIPPED_DIR, load_catalog
from laurel.campaigns.specimen import specimen_fields
from laurel.demo import campaign_clock_request
from laurel.grpcutil import client_channel
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc

PHONE, EMAIL = "13912345678", "zhang.wei.private@hospital.example"
BAD_PHONE, BAD_EMAIL = "1391234567x", "zhang.wei.private-at-hospital"
SECRETS = (PHONE, EMAIL, BAD_PHONE, BAD_EMAIL)


def _spans_text(exporter: Any) -> str:
    parts = []
    for span in exporter.get_finished_spans():
        parts += [span.name, str(dict(span.attributes or {})),
                  str(span.status.description or "")]
        parts += [f"{e.name} {dict(e.attributes or {})}" for e in span.events]
    return "\n".join(parts)


async def test_contact_details_stay_out_of_logs_and_traces(
        serve: Any, keys: Any, span_exporter: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    span_exporter.clear()
    served = await serve(("intake",), LAUREL_ENV="development")
    channel = client_channel(served.address("intake"))
    stub = intake_pb2_grpc.IntakeServiceStub(channel)
    category = load_catalog(SHIPPED_DIR)["henan-2021"].categories[0]
    organizer, nominator = keys.metadata("organizer"), keys.metadata("nominator")
    try:
        for org in ({"organization_id": "zhengzhou", "kind": "commission", "name": "郑州"},
                    {"organization_id": "zhengzhou-peoples", "kind": "hospital",
                     "name": "郑州人民医院", "jurisdiction_id": "zhengzhou"}):
            await stub.RegisterOrganization(pb.RegisterOrganizationRequest(**org),
                                            metadata=organizer)
        await stub.SetCampaignClock(campaign_clock_request(), metadata=organizer)

        def request(phone: str, email: str) -> pb.SubmitNominationRequest:
            fields = specimen_fields(category) | {
                "contact.mobile": phone, "president.mobile": phone, "contact.email": email}
            return pb.SubmitNominationRequest(
                campaign_id="henan-2021", category=category.key,
                nominee=pb.Nominee(kind=category.nominee_kind, name="分时段预约",
                                   organization_id="zhengzhou-peoples"),
                fields=fields)

        accepted = await stub.SubmitNomination(request(PHONE, EMAIL), metadata=nominator)
        assert accepted.nomination_id
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SubmitNomination(request(BAD_PHONE, BAD_EMAIL), metadata=nominator)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert BAD_PHONE not in (raised.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SubmitNomination(request(PHONE, EMAIL), metadata=organizer)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await channel.close()

    spans = _spans_text(span_exporter)
    assert "SubmitNomination" in spans  # the spans were recorded, and searched
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused" in logs  # the denial was logged, and searched
    security = str([e.payload for e in served.security_logs["intake"].read_all()])
    for secret in SECRETS:
        assert secret not in spans, f"{secret} in a trace"
        assert secret not in logs, f"{secret} in a log"
        assert secret not in security, f"{secret} in the security log"
