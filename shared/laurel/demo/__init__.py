"""The demo campaign `laurel up` runs: sample nominations through the real stack."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from laurel.client import LaurelClient
from laurel.envelope import Actor

SAMPLES = Path(__file__).parent / "nominations"
T = TypeVar("T")


def load_sample(name: str) -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / name).read_text(encoding="utf-8"))


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"gave up waiting after {timeout}s")


def run_demo(endpoints: Mapping[str, str]) -> None:
    sample = load_sample("henan-2021-ten-measures.yaml")
    nominator = Actor(**sample.pop("submitted_by"))
    client = LaurelClient(endpoints, nominator)
    try:
        reply = client.submit(sample)
        print(f"\n1. {nominator.id} submitted nomination {reply.nomination_id} "
              f"(version {reply.version}) over gRPC to intake.")
        nomination = client.nomination(reply.nomination_id)
        print(f"2. intake folds its stream: status={nomination.status}, "
              f"category={nomination.category}, nominee={nomination.nominee.name}, "
              f"{len(nomination.fields)} form fields, submitted_at="
              f"{nomination.submitted_at.ToJsonString()}")
        receipts = wait_for(lambda: client.notifications(reply.nomination_id))
        for note in receipts:
            print(f"3. notification received the event over Kafka and told "
                  f"{note.recipient_id}: [{note.kind}] {note.title}\n   {note.body}")
    finally:
        client.close()
