"""Server reflection on every port, in both protocol versions.

v1alpha is asked with grpcio-reflection's own client. grpcio-reflection has
no v1 client (nor server), so v1 is asked with a client compiled from gRPC's
grpc/reflection/v1/reflection.proto (tests/api/proto), as grpcurl and
Postman speak it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from laurel.grpcutil import REFLECTION_V1
from laurel.published_log import SERVICE_NAME as LOG_SERVICE

from .conftest import AUDIT, Stack

V1_PROTO = Path(__file__).parent / "proto"
OWN = {
    "intake": "laurel.intake.v1.IntakeService",
    "scoring": "laurel.scoring.v1.ScoringService",
    "review": "laurel.review.v1.ReviewService",
    "notification": "laurel.notification.v1.NotificationService",
    AUDIT: "laurel.audit.v1.AuditService",
}


def _v1_client_types(tmp_path: Path) -> tuple[type, type]:
    """ServerReflectionRequest/Response compiled from the v1 proto, in a pool
    of their own (nothing shared with the server's descriptors)."""
    out = tmp_path / "reflection_v1.pb"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{V1_PROTO}",
                    f"--descriptor_set_out={out}", "grpc/reflection/v1/reflection.proto"],
                   check=True, timeout=60)
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"grpc.reflection.v1.{name}")) for name in (
            "ServerReflectionRequest", "ServerReflectionResponse"))  # type: ignore[return-value]


async def _ask_v1(address: str, types: tuple[type, type], **request: Any) -> Any:
    request_type, response_type = types
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.stream_stream(
            f"/{REFLECTION_V1}/ServerReflectionInfo",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString)
        stream = call(iter([request_type(**request)]), timeout=10)
        [response] = [r async for r in stream]
    return response


def _v1alpha_services(address: str) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        return list(ProtoReflectionDescriptorDatabase(channel).get_services())


async def test_both_reflection_services_list_every_service_on_every_port(
    stack: Stack, tmp_path: Path
) -> None:
    v1 = _v1_client_types(tmp_path)
    for server in stack.servers:
        address = stack.address(server)
        expected = {OWN[server], health.SERVICE_NAME, reflection.SERVICE_NAME, REFLECTION_V1}
        if server != AUDIT:  # every publishing service serves its published log too
            expected.add(LOG_SERVICE)

        listed = await _ask_v1(address, v1, list_services="")
        assert {s.name for s in listed.list_services_response.service} == expected, server
        assert set(await asyncio.to_thread(_v1alpha_services, address)) == expected, server

        # ...and v1 describes the service with everything its file imports
        # (as `grpcurl describe` needs), the REQUIRED marks included.
        described = await _ask_v1(address, v1, file_containing_symbol=OWN[server])
        files = [descriptor_pb2.FileDescriptorProto.FromString(raw) for raw in
                 described.file_descriptor_response.file_descriptor_proto]
        names = {f.name for f in files}
        assert f"laurel/{server}/v1/{server}.proto" in names
        assert {"google/api/field_behavior.proto", "google/protobuf/timestamp.proto"} <= names

    # the v1 service describes itself too
    itself = await _ask_v1(stack.address("intake"), v1, file_containing_symbol=REFLECTION_V1)
    [file] = [descriptor_pb2.FileDescriptorProto.FromString(raw) for raw in
              itself.file_descriptor_response.file_descriptor_proto]
    assert (file.name, file.package, file.service[0].method[0].input_type) == (
        "grpc/reflection/v1/reflection.proto", "grpc.reflection.v1",
        ".grpc.reflection.v1.ServerReflectionRequest")
