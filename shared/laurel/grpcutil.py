"""gRPC plumbing shared by every service: one server shape, one error mapping.

Handlers raise `laurel.errors` exceptions; the interceptor here turns each into
its status code with a google.rpc.Status carrying field violations or the
name of the refused rule, so callers get the same structured answer from every
service.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import grpc
from google.api import field_behavior_pb2
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_status import rpc_status
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor

from laurel.auth import bind_request, unbind_request
from laurel.errors import (
    FailedPrecondition,
    FieldViolation,
    Hidden,
    InvalidArgument,
    LaurelError,
    NotFound,
    PermissionDenied,
)
from laurel.logs import handling
from laurel.metrics import Metrics
from laurel.policy import DEFAULT_POLICY, AccessPolicy
from laurel.securitylog import SecurityLog
from laurel.text import _is_map, _repeated, control_violations

log = logging.getLogger("laurel.grpc")

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
ERROR_DOMAIN = "laurel.health"
REQUIRED_DESCRIPTION = "required: this method needs it set (not empty or zero)"


# Blocking handlers run on a pool of their own, two threads wide. A store has
# one writer at a time, so more threads do not commit more: each one's reads,
# decoding and validation only compete for the GIL with the thread holding the
# write lock, which after every fsync waits for the GIL behind them (with the
# default pool of 6, a submission's commit took ~4 ms of GIL waiting on this
# 2-core machine). Two keep one unit reading while another commits. The
# relay, probes and periodic jobs keep the loop's default pool, so a slow
# broker never takes a handler's thread.
HANDLER_THREADS = 2
_handler_pool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _handler_pool
    if _handler_pool is None:
        _handler_pool = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="handler")
    return _handler_pool


async def in_handler_thread(func: Callable[..., Any], /, *args: Any) -> Any:
    """`func(*args)` on the handlers' pool, with the caller's context (its
    request, log fields and span), as `asyncio.to_thread` would carry it."""
    call = partial(contextvars.copy_context().run, func, *args)
    return await asyncio.get_running_loop().run_in_executor(_pool(), call)


def rpc_status_for(error: LaurelError) -> grpc.Status:
    """A google.rpc.Status with the details a caller can act on."""
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=type(error).__name__, domain=ERROR_DOMAIN))
    ]
    if isinstance(error, InvalidArgument) and error.violations:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=v.field, description=v.description
            )
            for v in error.violations
        ])))
    if isinstance(error, FailedPrecondition):
        details.append(_pack(error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=error.rule, subject=error.subject, description=error.message
            )
        ])))
    if isinstance(error, NotFound) and error.field:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=error.field, description=error.message
            )
        ])))
    status = status_pb2.Status(
        code=getattr(code_pb2, error.code), message=error.message, details=details
    )
    return rpc_status.to_status(status)


def internal_error(error: BaseException, method: str = "") -> LaurelError:
    """What the caller of a call that failed unexpectedly gets: INTERNAL and a
    reference, nothing of the cause (no host, port, SQL or file text). The
    cause goes to the log under that reference, with its traceback."""
    reference = uuid.uuid4().hex[:16]
    log.error("internal error, reference %s, in %s: %s", reference, method or "a call",
              type(error).__name__, exc_info=error, extra={"error_id": reference})
    return LaurelError(f"internal error, reference {reference}: the service failed "
                       "unexpectedly; nothing was done unless a later read shows it. "
                       "Try again, and give the reference to the operators if it persists")


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


Recorder = Callable[[LaurelError, Any, str], Awaitable[None]]


class LaurelServerInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates the caller, applies the access policy, binds the actor,
    maps domain errors to statuses, and records every refusal.

    Order: an unknown method is left to gRPC (UNIMPLEMENTED); health and
    reflection are open; then the token (UNAUTHENTICATED), then the policy
    table (PERMISSION_DENIED, before the handler runs). A PermissionDenied the
    application raises (a scope rule) is recorded the same way.
    """

    def __init__(self, authenticator: Any, policy: AccessPolicy = DEFAULT_POLICY,
                 security_log: SecurityLog | None = None) -> None:
        self.authenticator = authenticator
        self.policy = policy
        self.security_log = security_log

    async def intercept_service(
        self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or self.policy.is_open(details.method):
            return handler
        metadata = {
            key: value
            for key, value in (details.invocation_metadata or ())
            if isinstance(value, str)
        }
        try:
            request = self.authenticator.authenticate(metadata)
        except LaurelError as error:
            await self._record(details.method, error, None, "")
            return _refusing(handler, error)
        try:
            self.policy.check(details.method, request.actor)
        except LaurelError as error:
            await self._record(details.method, error, request.actor,
                               request.correlation_id)
            return _refusing(handler, error)
        return _bound(handler, request, self._refused_in(details.method), details.method)

    def _refused_in(self, method: str) -> Recorder:
        async def record(error: LaurelError, actor: Any, correlation_id: str) -> None:
            await self._record(method, error, actor, correlation_id)
        return record

    async def _record(self, method: str, error: LaurelError, actor: Any,
                      correlation_id: str) -> None:
        if self.security_log is not None:
            reason = error.reason if isinstance(error, Hidden) else error.message
            await self.security_log.refused(method, error.code, reason, actor,
                                            correlation_id)


# Methods probed or browsed by tools all day: counted, logged at DEBUG only.
QUIET_METHODS = ("grpc.health.v1.Health/", "grpc.reflection.")
request_log = logging.getLogger("laurel.grpc.requests")


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every call by method and final status code (the
    Prometheus series `laurel_grpc_requests_total` and
    `laurel_grpc_request_duration_seconds`), logs one line a call (method,
    code, duration; INFO, health checks at DEBUG), and puts the request's
    nomination id, when it has one, in the log context of the call.

    It sits inside the tracing interceptor (so its log lines carry the call's
    trace and span ids) and outside the access interceptor (so refused
    calls are counted with their codes). Calls to unknown methods are left to
    gRPC (UNIMPLEMENTED) and not counted: a caller cannot grow the series."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics

    async def intercept_service(
        self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method.lstrip("/")
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(message: Any, context: grpc.aio.ServicerContext) -> Any:
                started, code = time.perf_counter(), "UNKNOWN"
                with handling(nomination_id=_nomination_of(message)):
                    try:
                        reply = await inner(message, context)
                        code = _code_of(context, "OK")
                        return reply
                    except grpc.aio.AbortError:
                        code = _code_of(context, "UNKNOWN")
                        raise
                    except BaseException as error:
                        code = _code_of_raised(error)
                        raise
                    finally:
                        self._done(method, code, started)

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def streaming(message: Any, context: grpc.aio.ServicerContext) -> Any:
                started, code = time.perf_counter(), "UNKNOWN"
                with handling(nomination_id=_nomination_of(message)):
                    try:
                        async for item in inner_stream(message, context):
                            yield item
                        code = _code_of(context, "OK")
                    except grpc.aio.AbortError:
                        code = _code_of(context, "UNKNOWN")
                        raise
                    except BaseException as error:
                        code = _code_of_raised(error)
                        raise
                    finally:
                        self._done(method, code, started)

            return grpc.unary_stream_rpc_method_handler(
                streaming, handler.request_deserializer, handler.response_serializer)
        return handler  # client streaming: reflection only; neither counted nor logged

    def _done(self, method: str, code: str, started: float) -> None:
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe_call(method, code, seconds)
        level = logging.DEBUG if method.startswith(QUIET_METHODS) else logging.INFO
        request_log.log(level, "%s %s %.1f ms", method, code, seconds * 1000,
                        extra={"grpc_method": method, "grpc_code": code,
                               "duration_ms": round(seconds * 1000, 3)})


def _nomination_of(message: Any) -> str:
    value = getattr(message, "nomination_id", "") if hasattr(message, "DESCRIPTOR") else ""
    return value if isinstance(value, str) else ""


def _code_of(context: grpc.aio.ServicerContext, default: str) -> str:
    """The status the call ends with, as its name (OK unless one was set)."""
    try:
        code = context.code()
    except Exception:  # the context is gone (a cancelled call)
        return default
    if code is None:
        return default
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), default)
    return default


def _code_of_raised(error: BaseException) -> str:
    return "CANCELLED" if isinstance(error, asyncio.CancelledError) else "UNKNOWN"


@dataclass(frozen=True)
class MalformedRequest:
    """What a request that does not parse as its message type becomes, so the
    caller gets INVALID_ARGUMENT instead of gRPC's UNKNOWN."""

    problem: str


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:  # any decode failure is the caller's input
            return MalformedRequest(type(error).__name__)

    return parse


def _malformed(message: Any) -> LaurelError | None:
    if isinstance(message, MalformedRequest):
        return InvalidArgument(
            f"the request does not parse as this method's protobuf message "
            f"({message.problem}); nothing was done")
    if hasattr(message, "ListFields") and (found := control_violations(message)):
        return InvalidArgument(
            f"{', '.join(v.field for v in found[:3])}: control characters or an "
            "overlong id; nothing was done", found)
    return None


def _incomplete(message: Any) -> LaurelError | None:
    if hasattr(message, "DESCRIPTOR") and (found := missing_fields(message)):
        return InvalidArgument(
            f"{', '.join(v.field for v in found)}: required but not set; send "
            f"{'it' if len(found) == 1 else 'them'} and try again (nothing was done)", found)
    return None


def missing_fields(message: Any, prefix: str = "") -> list[FieldViolation]:
    """Every field marked `[(google.api.field_behavior) = REQUIRED]` that the
    request leaves unset (an empty string, list or map, a zero number, an
    absent message), named by its full path: `nominee.organization_id`,
    `items[2].name`. An absent required message is named, and its own
    required fields are too, as if it were sent empty, so the caller learns
    the whole path at once.

    The server checks this before any handler runs, so a handler never sees a
    request without what its method's contract requires (and never answers
    NOT_FOUND for an id that was simply not sent)."""
    found: list[FieldViolation] = []
    for field, required in _walked_fields(message.DESCRIPTOR):
        path = f"{prefix}{field.name}"
        value = getattr(message, field.name)
        nested = field.type == FieldDescriptor.TYPE_MESSAGE
        if _is_map(field):
            if required and not value:
                found.append(FieldViolation(path, REQUIRED_DESCRIPTION))
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key in sorted(value):
                    found += missing_fields(value[key], f"{path}[{key}].")
        elif _repeated(field):
            if required and not value:
                found.append(FieldViolation(path, REQUIRED_DESCRIPTION))
            if nested:
                for index, item in enumerate(value):
                    found += missing_fields(item, f"{path}[{index}].")
        elif not (message.HasField(field.name) if field.has_presence else value):
            if required:
                found.append(FieldViolation(path, REQUIRED_DESCRIPTION))
                if nested:
                    found += missing_fields(value, f"{path}.")
        elif nested:
            found += missing_fields(value, f"{path}.")
    return found


@cache
def _walked_fields(descriptor: Any) -> tuple[tuple[Any, bool], ...]:
    """(field, required) for the fields that are required or may lead to a
    required field below them; computed once per message type."""
    return tuple((field, _required(field)) for field in descriptor.fields
                 if _required(field) or _leads_to_required(field, frozenset()))


def _required(field: Any) -> bool:
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.REQUIRED in behaviors


def _leads_to_required(field: Any, seen: frozenset[str]) -> bool:
    target = field.message_type
    if target is None:
        return False
    if _is_map(field):
        target = target.fields_by_name["value"].message_type
        if target is None:
            return False
    if target.full_name in seen:
        return False
    inner = seen | {target.full_name}
    return any(_required(f) or _leads_to_required(f, inner) for f in target.fields)


def _bound(handler: grpc.RpcMethodHandler, request: Any,
           record: Recorder | None = None, method: str = "") -> grpc.RpcMethodHandler:
    async def refused(error: LaurelError, context: grpc.aio.ServicerContext) -> None:
        if isinstance(error, PermissionDenied | Hidden) and record is not None:
            await record(error, request.actor, request.correlation_id)
        await context.abort_with_status(rpc_status_for(error))

    if handler.unary_unary is not None:
        inner = handler.unary_unary

        async def unary(message: Any, context: grpc.aio.ServicerContext) -> Any:
            if (malformed := _malformed(message) or _incomplete(message)) is not None:
                await refused(malformed, context)
            token = bind_request(request)
            try:
                return await inner(message, context)
            except LaurelError as error:
                await refused(error, context)
            except grpc.aio.AbortError:
                raise  # the handler chose its status
            except Exception as error:
                await refused(internal_error(error, method), context)
            finally:
                unbind_request(token)

        return grpc.unary_unary_rpc_method_handler(
            unary, _tolerant(handler.request_deserializer), handler.response_serializer
        )
    if handler.unary_stream is not None:
        inner_stream = handler.unary_stream

        async def streaming(message: Any, context: grpc.aio.ServicerContext) -> Any:
            if (malformed := _malformed(message) or _incomplete(message)) is not None:
                await refused(malformed, context)
            token = bind_request(request)
            try:
                async for item in inner_stream(message, context):
                    yield item
            except LaurelError as error:
                await refused(error, context)
            except grpc.aio.AbortError:
                raise  # the handler chose its status
            except Exception as error:
                await refused(internal_error(error, method), context)
            finally:
                # A cancelled stream is closed from another context, where the
                # binding cannot (and need not) be reset: it dies with the call.
                with suppress(ValueError):
                    unbind_request(token)

        return grpc.unary_stream_rpc_method_handler(
            streaming, _tolerant(handler.request_deserializer),
            handler.response_serializer
        )
    raise TypeError("client-streaming methods are not used in Laurel")


def _refusing(handler: grpc.RpcMethodHandler, error: LaurelError) -> grpc.RpcMethodHandler:
    async def refuse(_message: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort_with_status(rpc_status_for(error))

    async def refuse_stream(_message: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort_with_status(rpc_status_for(error))
        yield  # an async generator, as streaming handlers must be

    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            refuse_stream, _tolerant(handler.request_deserializer),
            handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        refuse, _tolerant(handler.request_deserializer), handler.response_serializer
    )


@dataclass(frozen=True)
class ServerTls:
    """PEM files of the server's certificate and key; with a client CA, callers
    must present a certificate it signed (mutual TLS)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        client_ca = self.client_ca_file.read_bytes() if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [(self.key_file.read_bytes(), self.cert_file.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )


class GrpcServer:
    """A service's server: its servicers plus health, reflection, tracing,
    the access policy, TLS when configured, and bounded message sizes."""

    def __init__(
        self,
        address: str,
        authenticator: Any,
        register: Callable[[grpc.aio.Server], None],
        service_names: Sequence[str],
        *,
        tls: ServerTls | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        security_log: SecurityLog | None = None,
        policy: AccessPolicy = DEFAULT_POLICY,
        metrics: Metrics | None = None,
    ) -> None:
        self.security_log = security_log
        self.server = grpc.aio.server(
            interceptors=[
                aio_server_interceptor(),
                ObservingInterceptor(metrics),
                LaurelServerInterceptor(authenticator, policy, security_log),
            ],
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_metadata_size", 16 * 1024),
                ("grpc.max_concurrent_streams", 256),
                # A port another process serves is refused, not shared: with
                # gRPC's default SO_REUSEPORT a second stack on 50051 would
                # silently split the calls between the two.
                ("grpc.so_reuseport", 0),
            ],
        )
        register(self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names = list(service_names)
        served = [*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME,
                  REFLECTION_V1]
        reflection.enable_server_reflection(served, self.server)
        self.server.add_generic_rpc_handlers([reflection_v1_handler(served)])
        self.port = (
            self.server.add_secure_port(address, tls.credentials()) if tls
            else self.server.add_insecure_port(address)
        )
        if self.port == 0:
            raise OSError(f"cannot listen on {address}")

    async def start(self) -> None:
        await self.server.start()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float = 3.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self.security_log is not None:
            self.security_log.close()


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_V1_FILE = "grpc/reflection/v1/reflection.proto"


def reflection_v1_handler(service_names: Sequence[str]) -> grpc.GenericRpcHandler:
    """grpc.reflection.v1, which current grpcurl and Postman ask first.

    grpcio-reflection (1.85) serves only v1alpha. v1 is the same protocol
    under a new package name (grpc-proto's grpc/reflection/v1/reflection.proto:
    the same messages with the same field numbers), so the v1alpha servicer
    answers v1 calls too, the bytes on the wire being identical; the v1 file is
    derived from v1alpha's and added to the descriptor pool, so a client can
    also describe the reflection service itself."""
    _add_reflection_v1_file()
    servicer = reflection.aio.ReflectionServicer(list(service_names))
    return grpc.method_handlers_generic_handler(REFLECTION_V1, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        ),
    })


def _add_reflection_v1_file() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(REFLECTION_V1_FILE)
        return
    except KeyError:
        pass
    v1alpha, v1 = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    file.name, file.package = REFLECTION_V1_FILE, "grpc.reflection.v1"
    file.ClearField("options")  # v1alpha's language package names
    for message in file.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(v1alpha, v1)
    for service in file.service:
        for method in service.method:
            method.input_type = method.input_type.replace(v1alpha, v1)
            method.output_type = method.output_type.replace(v1alpha, v1)
    pool.Add(file)


def client_channel(
    address: str, credentials: grpc.ChannelCredentials | None = None
) -> grpc.aio.Channel:
    """A traced client channel (the trace context rides in the metadata);
    TLS when given channel credentials (`grpc.ssl_channel_credentials`)."""
    if credentials is not None:
        return grpc.aio.secure_channel(address, credentials,
                                       interceptors=aio_client_interceptors())
    return grpc.aio.insecure_channel(address, interceptors=aio_client_interceptors())


def violations_of(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """(field, description) pairs from a rich error, for clients and tests."""
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            found += [(v.field, v.description) for v in request.field_violations]
        if detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            found += [(v.type, v.description) for v in failure.violations]
    return found
