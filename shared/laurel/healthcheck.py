"""`python -m laurel.healthcheck`: is a Laurel gRPC server SERVING? Exit 0 or 1.

The image's HEALTHCHECK and the chart's `helm test` pod run it; Kubernetes'
own gRPC probes ask the same grpc.health.v1 question of the same port.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING


def main(argv: list[str] | None = None) -> int:
    port = os.environ.get("LAUREL_GRPC_PORT", "50051")
    cli = argparse.ArgumentParser("python -m laurel.healthcheck", description=__doc__)
    cli.add_argument("--address", default=f"127.0.0.1:{port}", help="HOST:PORT")
    cli.add_argument("--service", default="", help="a gRPC service; empty: the server")
    cli.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = cli.parse_args(argv)
    what = f"{args.address} {args.service or '(server)'}"
    request = health_pb2.HealthCheckRequest(service=args.service)
    try:
        with grpc.insecure_channel(args.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(request, timeout=args.timeout)
    except grpc.RpcError as error:
        print(f"unhealthy: {what}: {error.code().name}: {error.details()}")
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{'healthy' if reply.status == SERVING else 'unhealthy'}: {what}: {status}")
    return 0 if reply.status == SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
