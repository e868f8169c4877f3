"""`laurel parked …`: the messages a consumer parked, and sending them again.

A consumer parks a message it could not apply after bounded retries
(laurel.parking): it is recorded, whole, on the consumer's stream
`parked-<consumer>` in the consumer's own store. `list` reads that store;
`retry` sends a parked message again, as stored, to its topic, addressed to
the consumer (a `laurel-retry-for` header), and waits for the consumer to
record the outcome: the running service applies it through the same
subscriber and handler as any message.

The store is the consumer's service store: `--database`, else the service's
settings (LAUREL_DATABASE_URL, LAUREL_DATA_DIR), else the last `laurel up`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from laurel.cli import EXIT_REFUSED, fail, new_app, one_line
from laurel.config import SERVICES

app = new_app("Messages a consumer parked (it could not apply them): list, retry.")

Database = Annotated[str | None, typer.Option(
    help="the consumer's store URL (default: its service's settings, else the last "
         "`laurel up`)", show_default=False)]
Consumer = Annotated[str, typer.Argument(
    help="the consumer: scoring, review or notification", show_default=False)]


def _store_url(consumer: str, database: str | None) -> str:
    if database:
        return database
    if os.environ.get("LAUREL_DATABASE_URL", "").strip():
        return os.environ["LAUREL_DATABASE_URL"].strip()
    from laurel.client import default_data_dir

    path = Path(default_data_dir()) / f"{consumer}.sqlite"
    if not path.is_file():
        fail(f"no store for {consumer!r} at {path}: pass --database URL, or set "
             "LAUREL_DATABASE_URL or LAUREL_DATA_DIR")
    return f"sqlite:///{path}"


def _parking(consumer: str, database: str | None):  # noqa: ANN202
    from laurel.eventstore import EventStore
    from laurel.parking import Parking

    if consumer not in SERVICES and not database:
        fail(f"unknown consumer {consumer!r}; expected one of {', '.join(SERVICES)} "
             "(or name its store with --database)")
    return Parking(EventStore(_store_url(consumer, database)), consumer)


@app.command("list")
def list_(
    consumer: Consumer,
    database: Database = None,
    all_: Annotated[bool, typer.Option("--all", help="resolved ones too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")]
        = False,
) -> None:
    """The messages the consumer parked and has not applied since."""
    parking = _parking(consumer, database)
    try:
        shown = [p for p in parking.parked().values() if all_ or not p.resolved]
    finally:
        parking.store.close()
    for p in shown:
        row = {"park_id": p.park_id, "topic": p.topic, "partition": p.partition,
               "offset": p.offset, "event_id": p.event_id, "event_type": p.event_type,
               "reason": p.reason, "attempts": p.attempts, "parked_at": p.parked_at,
               "status": "resolved" if p.resolved else "parked", "retries": len(p.retries)}
        if as_json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{p.park_id}  {row['status']}  {p.topic}[{p.partition}]@{p.offset}  "
                  f"{p.event_type or '(no event type)'} {p.event_id or '(no event id)'}  "
                  f"attempts {p.attempts}, retries {len(p.retries)}\n  reason: {p.reason}")
    if not as_json:
        print(f"{len(shown)} parked message(s) for {consumer}")


@app.command()
def retry(
    consumer: Consumer,
    park_ids: Annotated[list[str] | None, typer.Argument(
        metavar="PARK_ID...", help="which parked messages (see `list`)",
        show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="every unresolved one")] = False,
    database: Database = None,
    wait: Annotated[float, typer.Option(
        min=0, help="seconds to wait for the consumer's outcome (0: do not wait)")] = 60,
) -> None:
    """Send parked messages again to the consumer and report what it did."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from laurel.cli_topics import kafka_settings
    from laurel.parking import retry_headers

    if bool(park_ids) == all_:
        fail("name the parked messages to retry, or --all")
    parking = _parking(consumer, database)
    try:
        parked = parking.parked()
        chosen = [p for p in parked.values() if not p.resolved] if all_ else []
        for park_id in park_ids or []:
            if park_id not in parked:
                fail(f"{consumer} has no parked message {park_id}")
            if parked[park_id].resolved:
                fail(f"{park_id} is resolved already")
            chosen.append(parked[park_id])
        before = {p.park_id: len(p.retries) for p in chosen}
        settings = kafka_settings()
        try:
            producer = KafkaProducer(**settings.producer_options())
            for p in chosen:
                producer.send(p.topic, key=p.key.encode("utf-8"), value=p.value,
                              headers=retry_headers(p, consumer),
                              partition=p.partition if p.partition >= 0 else None)
            producer.flush(timeout=settings.delivery_timeout_ms() / 1000)
            producer.close(timeout=2)
        except KafkaError as error:
            fail(f"cannot send to Kafka at {settings.bootstrap}: {one_line(repr(error))}")
        print(f"sent {len(chosen)} parked message(s) again to {consumer}")
        if not wait:
            return
        deadline, failed = time.monotonic() + wait, False
        pending = dict(before)
        while pending and time.monotonic() < deadline:
            time.sleep(0.5)
            now = parking.parked()
            for park_id in list(pending):
                if len(now[park_id].retries) > pending[park_id]:
                    last = now[park_id].retries[-1]
                    failed = failed or last["outcome"] != "applied"
                    print(f"{park_id}: {last['outcome']}"
                          + (f" ({last['reason']})" if last["reason"] else ""))
                    del pending[park_id]
        for park_id in pending:
            print(f"{park_id}: no outcome within {wait:.0f}s (is {consumer} running?)")
        if pending or failed:
            raise typer.Exit(EXIT_REFUSED)
    finally:
        parking.store.close()
