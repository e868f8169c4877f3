"""The access policy, proven over real gRPC: every RPC of every service, called
as every role, as nobody, with an expired token and with a forged one.

Expected, cell by cell, from `laurel.policy.POLICY`:
- nobody / expired / forged: UNAUTHENTICATED, whatever the method;
- a role the policy allows: anything but UNAUTHENTICATED or PERMISSION_DENIED
  (an empty request may well be INVALID_ARGUMENT or NOT_FOUND);
- a role it does not allow: PERMISSION_DENIED, refused by the policy itself
  (ErrorInfo reason `PolicyDenied`) with a message naming who may call.
Every refusal leaves the services' stores as they were and is recorded as an
event in the service's security log.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from laurel.auth import ROLES
from laurel.config import PROJECT_ROOT
from laurel.grpcutil import client_channel
from laurel.policy import POLICY, with_table
from laurel.securitylog import ACCESS_DENIED, AUTHENTICATION_REFUSED

CALL_TIMEOUT_S = 5.0
STREAM_TIMEOUT_S = 0.5  # an allowed watch stays open: its first second is enough
UNAUTHENTICATED_CALLERS = ("nobody", "expired", "forged")
# Fields naming the caller themself: filled with the caller's id, so a scope
# rule "only for yourself" is met and the cell shows the role's access alone.
SELF_FIELDS = ("reviewer_id",)
Cell = tuple[grpc.StatusCode, str, str]


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def empty_request(rpc: Any, caller_id: str) -> Any:
    request = rpc.request_class()()
    for name in SELF_FIELDS:
        if name in request.DESCRIPTOR.fields_by_name:
            setattr(request, name, caller_id)
    return request


async def outcome(rpc: Any, channel: grpc.aio.Channel, metadata: Any,
                  caller_id: str = "", stream_timeout: float = STREAM_TIMEOUT_S) -> Cell:
    """(status, ErrorInfo reason, message) of calling `rpc` with an empty request."""
    call = rpc.callable(channel)
    request = empty_request(rpc, caller_id)
    try:
        if rpc.streaming:
            stream = call(request, metadata=metadata, timeout=stream_timeout)
            async for _ in stream:
                break
            stream.cancel()
        else:
            await call(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        return error.code(), reason_of(error), error.details() or ""
    return grpc.StatusCode.OK, "", ""


def test_the_policy_declares_exactly_the_methods_the_protos_declare(rpcs: list) -> None:
    declared = {rpc.path for rpc in rpcs}
    assert sorted(declared - POLICY.keys()) == [], "methods without a policy entry"
    assert sorted(POLICY.keys() - declared) == [], "policy entries for no method"
    assert all(POLICY[path] <= set(ROLES) for path in POLICY)


def test_the_readme_prints_the_current_matrix() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert with_table(readme) == readme, (
        "README.md's access policy table is stale: run "
        "`.venv/bin/python -m laurel.policy --write README.md`")


async def test_every_rpc_as_every_caller_matches_the_policy(
    suite: Any, keys: Any, rpcs: list, actor_for: Any,
) -> None:
    channels = {name: client_channel(suite.address(name)) for name in suite.servers}
    try:
        before = suite.positions()
        wrong: list[str] = []
        refused_cells = 0
        # Refusals first: none of them may change any store.
        for caller in (*UNAUTHENTICATED_CALLERS, *ROLES):
            metadata = keys.metadata(caller)
            targets = [r for r in rpcs if caller in UNAUTHENTICATED_CALLERS
                       or caller not in POLICY[r.path]]
            cells = await asyncio.gather(*(
                outcome(r, channels[r.service], metadata, stream_timeout=CALL_TIMEOUT_S)
                for r in targets))
            for rpc, (code, reason, message) in zip(targets, cells, strict=True):
                refused_cells += 1
                if caller in UNAUTHENTICATED_CALLERS:
                    if code != grpc.StatusCode.UNAUTHENTICATED:
                        wrong.append(f"{caller} {rpc.path}: {code.name} {message}")
                elif (code, reason) != (grpc.StatusCode.PERMISSION_DENIED, "PolicyDenied") \
                        or caller not in message:
                    wrong.append(f"{caller} {rpc.path}: {code.name}/{reason} {message}")
        assert wrong == []
        assert suite.positions() == before, "a refused call changed a store"

        # Then what the policy allows: never refused for who the caller is.
        allowed_cells = 0
        for role in ROLES:
            metadata = keys.metadata(role)
            targets = [r for r in rpcs if role in POLICY[r.path]]
            for rpc in targets:  # one at a time: some may write
                code, reason, message = await outcome(
                    rpc, channels[rpc.service], metadata, actor_for(role).id)
                allowed_cells += 1
                if code in (grpc.StatusCode.UNAUTHENTICATED,
                            grpc.StatusCode.PERMISSION_DENIED,
                            grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                    wrong.append(f"{role} {rpc.path}: {code.name}/{reason} {message}")
        assert wrong == []
        assert refused_cells + allowed_cells == len(rpcs) * (len(ROLES) + 3)

        # Every refusal is a security event (no request data, no token).
        recorded = [e for log in suite.security_logs.values()
                    for e in log.read_all()]
        kinds = [e.type for e in recorded]
        assert kinds.count(AUTHENTICATION_REFUSED) == len(rpcs) * 3
        assert kinds.count(ACCESS_DENIED) == refused_cells - len(rpcs) * 3
        assert all(e.stream_id.startswith("security-") for e in recorded)
        denied = next(e for e in recorded if e.type == ACCESS_DENIED)
        assert set(denied.payload) == {"service", "method", "status", "reason",
                                       "repeats", "actor"}
        assert "eyJ" not in str([e.payload for e in recorded])  # no JWT text
    finally:
        for channel in channels.values():
            await channel.close()
