"""Required request fields, checked once at the gRPC edge.

Fields marked `[(google.api.field_behavior) = REQUIRED]` that a request leaves
unset are refused with INVALID_ARGUMENT and a google.rpc.BadRequest naming
each by its full path, before any handler runs - on every server.
"""

from __future__ import annotations

import importlib

import grpc
import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor

from laurel.auth import call_metadata
from laurel.demo import ORGANIZER, campaign_clock_request, demo_organizations
from laurel.envelope import Actor
from laurel.grpcutil import client_channel, missing_fields, violations_of
from laurel.intake.v1 import intake_pb2 as ip
from laurel.intake.v1 import intake_pb2_grpc
from laurel.policy import POLICY
from laurel.review.v1 import review_pb2 as rv
from laurel.review.v1 import review_pb2_grpc

from .conftest import AUDIT, Stack

HOSPITAL = "henan-provincial-peoples"
NOMINATOR = Actor("nominator-hnpph-1", "nominator", HOSPITAL)
NOMINEE = ip.Nominee(kind="hospital", name="河南省人民医院", organization_id=HOSPITAL)
FDP = descriptor_pb2.FieldDescriptorProto


def _required(field: FieldDescriptor) -> bool:
    return field_behavior_pb2.REQUIRED in field.GetOptions().Extensions[
        field_behavior_pb2.field_behavior]


def _expected_when_empty(descriptor, prefix: str = "") -> list[str]:  # noqa: ANN001
    """The paths an empty request must be refused for: each required field,
    and inside an absent required message, its own required fields."""
    paths = []
    for field in descriptor.fields:
        if _required(field):
            paths.append(prefix + field.name)
            if field.message_type is not None and not field.is_repeated:
                paths += _expected_when_empty(field.message_type, f"{prefix}{field.name}.")
    return paths


def _services() -> list[tuple[str, object]]:
    found = []
    for server in ("intake", "scoring", "review", "notification", AUDIT):
        module = importlib.import_module(f"laurel.{server}.v1.{server}_pb2")
        found += [(server, service) for service in module.DESCRIPTOR.services_by_name.values()]
    return found


# -- the check itself, on message types made for it -------------------------------------------


def _made_types() -> dict[str, type]:
    """Outer { Inner one = 1 [REQUIRED]; repeated Inner many = 2;
    map<string, Inner> by_key = 3; string note = 4 [REQUIRED]; optional int32 n = 5 [REQUIRED] }
    and Inner { string name = 1 [REQUIRED]; int64 size = 2; }"""
    file = descriptor_pb2.FileDescriptorProto(
        name="laurel_test_required.proto", package="laurel.test.required", syntax="proto3",
        dependency=["google/api/field_behavior.proto"])

    def add(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int,
            *, required: bool = False, label: int = FDP.LABEL_OPTIONAL, type_name: str = "",
            proto3_optional: bool = False) -> None:
        field = message.field.add(name=name, number=number, type=kind, label=label,
                                  json_name=name)
        if type_name:
            field.type_name = type_name
        if proto3_optional:
            field.proto3_optional = True
            field.oneof_index = len(message.oneof_decl)
            message.oneof_decl.add(name=f"_{name}")
        if required:
            field.options.Extensions[field_behavior_pb2.field_behavior].append(
                field_behavior_pb2.REQUIRED)

    inner = file.message_type.add(name="Inner")
    add(inner, "name", 1, FDP.TYPE_STRING, required=True)
    add(inner, "size", 2, FDP.TYPE_INT64)
    outer = file.message_type.add(name="Outer")
    entry = outer.nested_type.add(name="ByKeyEntry")
    entry.options.map_entry = True
    add(entry, "key", 1, FDP.TYPE_STRING)
    add(entry, "value", 2, FDP.TYPE_MESSAGE, type_name=".laurel.test.required.Inner")
    add(outer, "one", 1, FDP.TYPE_MESSAGE, required=True,
        type_name=".laurel.test.required.Inner")
    add(outer, "many", 2, FDP.TYPE_MESSAGE, label=FDP.LABEL_REPEATED,
        type_name=".laurel.test.required.Inner")
    add(outer, "by_key", 3, FDP.TYPE_MESSAGE, label=FDP.LABEL_REPEATED,
        type_name=".laurel.test.required.Outer.ByKeyEntry")
    add(outer, "note", 4, FDP.TYPE_STRING, required=True)
    add(outer, "n", 5, FDP.TYPE_INT32, required=True, proto3_optional=True)
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
    return {name: message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"laurel.test.required.{name}")) for name in ("Outer", "Inner")}


def test_every_unset_required_field_is_named_by_its_full_path() -> None:
    types = _made_types()
    outer = types["Outer"]()
    assert [v.field for v in missing_fields(outer)] == ["one", "one.name", "note", "n"]

    outer.one.size = 3
    outer.many.add(name="kept")
    outer.many.add(size=1)
    outer.by_key["b"].size = 2
    outer.by_key["a"].name = "kept"
    assert [v.field for v in missing_fields(outer)] == [
        "one.name", "many[1].name", "by_key[b].name", "note", "n"]

    outer.one.name, outer.many[1].name, outer.by_key["b"].name = "x", "y", "z"
    outer.note = "set"
    outer.n = 0  # explicitly present, so set, though zero
    assert missing_fields(outer) == []


# -- over real gRPC, on every server ------------------------------------------------------------


async def test_an_empty_request_is_refused_before_any_handler_naming_every_required_path(
    stack: Stack,
) -> None:
    """Every RPC whose request has required fields, on all five servers, with
    a role the policy lets call it: INVALID_ARGUMENT with exactly the
    required paths - never NOT_FOUND for an id that was simply not sent."""
    checked = 0
    for server, service in _services():
        channel = client_channel(stack.address(server))
        try:
            for method in service.methods:
                expected = _expected_when_empty(method.input_type)
                if not expected or method.server_streaming:
                    continue
                request_type = message_factory.GetMessageClass(method.input_type)
                response_type = message_factory.GetMessageClass(method.output_type)
                path = f"/{service.full_name}/{method.name}"
                role = sorted(POLICY[path])[0]
                call = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                           response_deserializer=response_type.FromString)
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await call(request_type(), metadata=call_metadata(
                        Actor(f"{role}-1", role, "henan-center")), timeout=10)
                assert (path, raised.value.code()) == (path, grpc.StatusCode.INVALID_ARGUMENT)
                assert [f for f, _ in violations_of(raised.value)] == expected, path
                checked += 1
        finally:
            await channel.close()
    assert checked >= 40  # nearly every RPC has a required field


def _submission(campaign_id: str = "henan-2021",
                nominee: ip.Nominee | None = NOMINEE) -> ip.SubmitNominationRequest:
    return ip.SubmitNominationRequest(campaign_id=campaign_id,
                                      category="ten_measures_benchmark", nominee=nominee)


async def test_missing_campaign_and_nominee_are_invalid_argument_with_full_paths(
    stack: Stack,
) -> None:
    """The cases that were NOT_FOUND ("no campaign ''", organization_id)."""
    intake = stack.services["intake"]
    async with client_channel(stack.address("intake")) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        organizer = call_metadata(ORGANIZER)
        for org in demo_organizations():
            if org["organization_id"] in {"henan-center", HOSPITAL}:
                await stub.RegisterOrganization(ip.RegisterOrganizationRequest(**org),
                                                metadata=organizer)
        await stub.SetCampaignClock(campaign_clock_request(), metadata=organizer)
        before = intake.store.last_position()

        cases = {
            "campaign_id": (_submission(campaign_id=""), ["campaign_id"]),
            "nominee": (_submission(nominee=None),
                        ["nominee", "nominee.kind", "nominee.name", "nominee.organization_id"]),
            "nominee.organization_id": (
                _submission(nominee=ip.Nominee(kind="hospital", name="河南省人民医院")),
                ["nominee.organization_id"]),
        }
        for case, (request, paths) in cases.items():
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.SubmitNomination(request, metadata=call_metadata(NOMINATOR))
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, case
            assert [f for f, _ in violations_of(raised.value)] == paths, case
            assert paths[-1] in raised.value.details()
        assert intake.store.last_position() == before  # nothing was done

    async with client_channel(stack.address("review")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await review_pb2_grpc.ReviewServiceStub(channel).FormPanel(
                rv.FormPanelRequest(category="ten_measures_benchmark", round_id="r1"),
                metadata=call_metadata(ORGANIZER))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations_of(raised.value)] == ["campaign_id"]
