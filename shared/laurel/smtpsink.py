"""A real local SMTP server that keeps what it receives: for tests and `laurel up`.

aiosmtpd speaks the protocol for real (so the service's SMTP client is tested
as it runs in production), on a free loopback port picked first because
aiosmtpd's `Controller(port=0)` does not work. Messages are kept in memory
and, with `spool`, written as .eml files plus an index.jsonl, so a developer
(or a test driving a service in another process) can read them.

Two switches make failures reproducible:
- `refuse_next(n)`: the next n transactions are refused at RCPT, before
  DATA, with a 451 (which a client may safely retry) or the reply given;
- `hold_reply_s`: after storing a message, wait that long before answering
  the data, which lets a test kill the sender while the sink has the message
  but the sender has no answer yet.

`python -m laurel.smtpsink [--port N] [--spool DIR]` runs one until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

REFUSAL = "451 4.3.0 Temporary failure, try again later"


@dataclass(frozen=True)
class SinkMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str
    subject: str
    body: str
    received_at: float


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.sink._take_refusal()
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sink._keep(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content)
        if self.sink.hold_reply_s:
            await asyncio.sleep(self.sink.hold_reply_s)
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        spool: Path | None = None,
        hold_reply_s: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.spool = spool
        self.hold_reply_s = hold_reply_s
        self.refusals_sent = 0
        self._messages: list[SinkMessage] = []
        self._refuse = 0
        self._refusal = REFUSAL
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # -- life -----------------------------------------------------------------

    def start(self) -> SmtpSink:
        for _ in range(5):  # a picked free port may be taken before we bind it
            port = self.port or _free_port(self.host)
            controller = Controller(_Handler(self), hostname=self.host, port=port)
            try:
                controller.start()
            except (OSError, RuntimeError):
                if self.port:
                    raise
                continue
            self.port, self._controller = port, controller
            if self.spool is not None:
                self.spool.mkdir(parents=True, exist_ok=True)
            return self
        raise OSError("could not start the SMTP sink on a free port")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, sender: str = "laurel@laurel.localhost") -> dict[str, str]:
        """The LAUREL_SMTP_* settings that point a service at this sink."""
        return {
            "LAUREL_SMTP_HOST": self.host,
            "LAUREL_SMTP_PORT": str(self.port),
            "LAUREL_SMTP_FROM": sender,
        }

    # -- switches and reading -------------------------------------------------

    def refuse_next(self, count: int, reply: str = REFUSAL) -> None:
        with self._lock:
            self._refuse, self._refusal = count, reply

    @property
    def messages(self) -> list[SinkMessage]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[SinkMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise TimeoutError(
            f"the sink got {len(self.messages)} message(s), "
            f"not {count}, within {timeout}s"
        )

    # -- called by the handler ------------------------------------------------

    def _take_refusal(self) -> str:
        with self._lock:
            if self._refuse <= 0:
                return ""
            self._refuse -= 1
            self.refusals_sent += 1
            return self._refusal

    def _keep(self, mail_from: str, rcpt_tos: tuple[str, ...], content: bytes) -> None:
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        message = SinkMessage(
            mail_from,
            rcpt_tos,
            str(parsed.get("Message-ID", "")),
            str(parsed.get("Subject", "")),
            body.get_content() if body is not None else "",
            time.time(),
        )
        with self._lock:
            self._messages.append(message)
            number = len(self._messages)
        if self.spool is not None:
            (self.spool / f"{number:05d}.eml").write_bytes(content)
            with (self.spool / "index.jsonl").open("a", encoding="utf-8") as index:
                record = {k: v for k, v in asdict(message).items() if k != "body"}
                index.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_spool(spool: Path) -> list[dict[str, Any]]:
    """The index a sink in another process wrote."""
    index = spool / "index.jsonl"
    if not index.exists():
        return []
    return [json.loads(line) for line in index.read_text("utf-8").splitlines() if line]


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description="A local SMTP sink for Laurel.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", type=Path, default=None)
    args = parser.parse_args()
    sink = SmtpSink(args.host, args.port, args.spool).start()
    print(f"SMTP sink on {sink.host}:{sink.port}; spool {args.spool}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
