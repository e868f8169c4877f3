"""`python -m laurel_bench.baseline_server MODE PORT DB`: IntakeService baselines.

The same generated IntakeService, on the same grpc.aio server kind as Laurel's,
answering SubmitNomination only:
- `noop`: replies at once (the limit: what gRPC and the client cost alone);
- `eventsourcing`: saves one new `eventsourcing` aggregate per call to SQLite
  (WAL, synchronous=FULL by default) in a worker thread, as intake does with its
  store (the peer: no authentication, campaign validation, projection or outbox).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid

import grpc

from laurel.intake.v1 import intake_pb2, intake_pb2_grpc


class Baseline(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, mode: str, db: str) -> None:
        self.mode = mode
        self.app = None
        if mode == "eventsourcing":
            from laurel_bench.es_peer import make_app

            self.app = make_app("sqlite", db)

    async def SubmitNomination(self, request, context):  # noqa: N802
        nomination_id = request.nomination_id or str(uuid.uuid4())
        if self.app is not None:
            from laurel_bench.es_peer import EsNomination

            aggregate = EsNomination(
                nomination_id=nomination_id,
                payload={
                    "nomination_id": nomination_id,
                    "campaign_id": request.campaign_id,
                    "category": request.category,
                    "nominee": {"kind": request.nominee.kind, "name": request.nominee.name,
                                "organization_id": request.nominee.organization_id},
                    "fields": dict(request.fields),
                },
                metadata={"actor": {"id": request.nominee.organization_id,
                                    "role": "nominator"}},
            )
            await asyncio.to_thread(self.app.save, aggregate)
        return intake_pb2.SubmitNominationResponse(nomination_id=nomination_id, version=1)


async def serve(mode: str, port: int, db: str) -> None:
    server = grpc.aio.server()
    intake_pb2_grpc.add_IntakeServiceServicer_to_server(Baseline(mode, db), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop(1)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
