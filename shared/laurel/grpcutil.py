"""gRPC plumbing shared by every service: one server shape, one error mapping.

Handlers raise `laurel.errors` exceptions; the interceptor here turns each into
its status code with a google.rpc.Status carrying field violations or the
name of the refused rule, so callers get the same structured answer from every
service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor

from laurel.auth import bind_request, unbind_request
from laurel.errors import FailedPrecondition, InvalidArgument, LaurelError, NotFound

log = logging.getLogger("laurel.grpc")

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
ERROR_DOMAIN = "laurel.health"


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


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class LaurelServerInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates the caller, binds the actor, maps domain errors to statuses."""

    def __init__(self, authenticator: Any) -> None:
        self.authenticator = authenticator

    async def intercept_service(
        self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        metadata = {
            key: value
            for key, value in (details.invocation_metadata or ())
            if isinstance(value, str)
        }
        try:
            request = self.authenticator.authenticate(metadata)
        except LaurelError as error:
            return _refusing(handler, error)
        return _bound(handler, request)


def _bound(handler: grpc.RpcMethodHandler, request: Any) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        async def unary(message: Any, context: grpc.aio.ServicerContext) -> Any:
            token = bind_request(request)
            try:
                return await inner(message, context)
            except LaurelError as error:
                await context.abort_with_status(rpc_status_for(error))
            finally:
                unbind_request(token)

        return grpc.unary_unary_rpc_method_handler(
            unary, handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream is not None:
        inner_stream = handler.unary_stream

        async def streaming(message: Any, context: grpc.aio.ServicerContext) -> Any:
            token = bind_request(request)
            try:
                async for item in inner_stream(message, context):
                    yield item
            except LaurelError as error:
                await context.abort_with_status(rpc_status_for(error))
            finally:
                unbind_request(token)

        return grpc.unary_stream_rpc_method_handler(
            streaming, handler.request_deserializer, handler.response_serializer
        )
    raise TypeError("client-streaming methods are not used in Laurel")


def _refusing(handler: grpc.RpcMethodHandler, error: LaurelError) -> grpc.RpcMethodHandler:
    async def refuse(_message: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort_with_status(rpc_status_for(error))

    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            refuse, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        refuse, handler.request_deserializer, handler.response_serializer
    )


class GrpcServer:
    """A service's server: its servicers plus health, reflection, tracing."""

    def __init__(
        self,
        address: str,
        authenticator: Any,
        register: Callable[[grpc.aio.Server], None],
        service_names: Sequence[str],
    ) -> None:
        self.server = grpc.aio.server(
            interceptors=[aio_server_interceptor(), LaurelServerInterceptor(authenticator)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        register(self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names = list(service_names)
        reflection.enable_server_reflection(
            [*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME],
            self.server,
        )
        self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen on {address}")

    async def start(self) -> None:
        await self.server.start()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float = 3.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


def client_channel(address: str) -> grpc.aio.Channel:
    """A traced client channel (the trace context rides in the metadata)."""
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
