"""A port another Laurel server listens on is refused, never shared.

gRPC binds with SO_REUSEPORT unless told otherwise; two stacks on one
machine (`laurel up` twice, or a test beside a running demo) would then
split each other's calls between their servers without a word.
"""

from __future__ import annotations

import pytest

from laurel.auth import authenticator_for
from laurel.grpcutil import GrpcServer


def _server(address: str) -> GrpcServer:
    return GrpcServer(address, authenticator_for(True, (), "", "", 0), lambda _s: None, [])


async def test_a_second_server_on_a_taken_port_is_refused() -> None:
    first = _server("127.0.0.1:0")
    await first.start()
    try:
        with pytest.raises((OSError, RuntimeError)):
            _server(f"127.0.0.1:{first.port}")
        other = _server("127.0.0.1:0")  # a free port still binds
        assert other.port not in (0, first.port)
    finally:
        await first.stop(0)
