"""`python -m laurel.healthcheck`: is a Laurel gRPC server SERVING? Exit 0 or 1.

The image's HEALTHCHECK, the chart's probes when gRPC TLS is on, and its
`helm test` pod run it. Kubernetes' built-in gRPC probe cannot speak TLS, so
with TLS on the chart's probes exec this instead, giving it the mounted CA
(and, for mutual TLS, the pod's own certificate as the client certificate).

Liveness asks the server as a whole (`--service ""`, the default); readiness
asks for the service's own name (e.g. laurel.intake.v1.IntakeService), which
the server reports NOT_SERVING while its database or broker is unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING


def _parser() -> argparse.ArgumentParser:
    port = os.environ.get("LAUREL_GRPC_PORT", "50051")
    cli = argparse.ArgumentParser("python -m laurel.healthcheck", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--address", default=f"127.0.0.1:{port}", help="HOST:PORT")
    cli.add_argument("--service", default="", help="a gRPC service; empty: the server")
    cli.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    tls = cli.add_argument_group("TLS (without --ca-file: plaintext)")
    tls.add_argument("--ca-file", type=Path, help="PEM of the CA that signed the server")
    tls.add_argument("--cert-file", type=Path, help="client certificate (mutual TLS)")
    tls.add_argument("--key-file", type=Path, help="its private key")
    tls.add_argument("--server-name", default="",
                     help="the name the server's certificate carries, when --address "
                          "does not (e.g. probing 127.0.0.1 for laurel-intake)")
    return cli


def _channel(args: argparse.Namespace) -> grpc.Channel:
    """A plaintext channel, or a TLS one from the given PEM files."""
    if args.ca_file is None:
        return grpc.insecure_channel(args.address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=args.ca_file.read_bytes(),
        private_key=args.key_file.read_bytes() if args.key_file else None,
        certificate_chain=args.cert_file.read_bytes() if args.cert_file else None,
    )
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    return grpc.secure_channel(args.address, credentials, options=options)


def main(argv: list[str] | None = None) -> int:
    cli = _parser()
    args = cli.parse_args(argv)
    if (args.cert_file is None) != (args.key_file is None):
        cli.error("--cert-file and --key-file go together")
    if args.cert_file is not None and args.ca_file is None:
        cli.error("--cert-file (mutual TLS) needs --ca-file")
    what = f"{args.address} {args.service or '(server)'}"
    request = health_pb2.HealthCheckRequest(service=args.service)
    try:
        with _channel(args) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(request, timeout=args.timeout)
    except OSError as error:
        print(f"unhealthy: {what}: cannot read {error.filename}: {error.strerror}")
        return 1
    except grpc.RpcError as error:
        print(f"unhealthy: {what}: {error.code().name}: {error.details()}")
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{'healthy' if reply.status == SERVING else 'unhealthy'}: {what}: {status}")
    return 0 if reply.status == SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
