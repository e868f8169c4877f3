"""What the end-to-end tests share: a look at the broker from outside.

A "nothing happened twice" check must first wait until the thing had its
chance to happen. For a consumer that chance is over once its group has
committed offsets past the message: a subscriber commits only after its
handler returned, and the handler's effects commit before that.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient

from laurel.config import KafkaSettings


class BrokerView:
    @staticmethod
    def keys(kafka: KafkaSettings, topic: str) -> list[str]:
        """The key of every record on `topic`, from the start.

        Read rather than asked for end offsets: Tansu reports wrong ones."""
        consumer = KafkaConsumer(
            topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
            consumer_timeout_ms=3000, group_id=None,
        )
        try:
            return [record.key.decode() for record in consumer]
        finally:
            consumer.close()

    @classmethod
    async def until_consumed(cls, kafka: KafkaSettings, topic: str, consumer: str,
                             records: int | None = None, timeout: float = 30.0) -> None:
        """Wait until `consumer`'s group committed offsets covering `records`
        messages of `topic` (default: every record on it now)."""
        if records is None:
            records = len(await asyncio.to_thread(cls.keys, kafka, topic))
        group = kafka.consumer_options(consumer)["group_id"]
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                reply = await asyncio.to_thread(admin.list_group_offsets, group)
                offsets = reply.get(group, {})
                if sum(o.offset for tp, o in offsets.items() if tp.topic == topic) >= records:
                    return
                await asyncio.sleep(0.2)
            raise AssertionError(f"group {group} did not commit past {records} records "
                                 f"of {topic} within {timeout}s")
        finally:
            admin.close()


@pytest.fixture
def broker_view() -> type[BrokerView]:
    return BrokerView
