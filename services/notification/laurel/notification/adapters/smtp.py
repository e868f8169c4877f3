"""Talking to the SMTP relay, and telling a certain failure from an uncertain one.

The conversation is driven step by step (EHLO, MAIL, RCPT, DATA) instead of
`sendmail`, so that a failure is classified by where it happened: before the
message data was sent, nothing can have been delivered and a retry is safe;
a definite reply to the data is an answer too; only a timeout or a dropped
connection after the data went out leaves it open whether the relay kept the
message (`Outcome.ambiguous`). The message bytes depend only on the queued
e-mail (Message-ID from the notification id, Date from the queue time), so
any retry sends the very same message.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from laurel.envelope import parse_time
from laurel.notification.domain.delivery import Email, Outcome
from laurel.notification.domain.privacy import redact


@dataclass(frozen=True)
class SmtpRelay:
    """Where and how to hand e-mails over (from NotificationSettings)."""

    port: int
    host: str = "127.0.0.1"
    sender: str = "laurel@localhost"
    timeout_s: float = 30.0
    starttls: bool = False
    username: str = ""
    password: str = ""


def build_message(email: Email, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Message-ID"] = email.message_id
    message["Date"] = format_datetime(parse_time(email.queued_at))
    message["X-Laurel-Notification-Id"] = email.notification_id
    template = email.details.get("template") or {}
    if template:
        kind, language = template.get("kind"), template.get("language")
        message["X-Laurel-Template"] = f"{kind}/{language}/v{template.get('version')}"
    message.set_content(email.body, charset="utf-8")
    return message


class SmtpTransport:
    """One connection per e-mail: simple, and no state survives an error."""

    def __init__(self, relay: SmtpRelay) -> None:
        self.relay = relay

    def send(self, email: Email) -> Outcome:
        s = self.relay
        data_sent = False
        client = smtplib.SMTP(timeout=s.timeout_s)
        try:
            client.connect(s.host, s.port)
            client.ehlo_or_helo_if_needed()
            if s.starttls:
                client.starttls()
                client.ehlo()
            if s.username:
                client.login(s.username, s.password)
            code, reply = client.mail(s.sender)
            if code != 250:
                return _refused("MAIL", code, reply)
            code, reply = client.rcpt(email.to)
            if code not in (250, 251):
                return _refused("RCPT", code, reply)
            data_sent = True
            code, reply = client.data(build_message(email, s.sender).as_bytes())
            return Outcome(True, reply=f"{code} {_text(reply)}")
        except smtplib.SMTPDataError as error:
            return _refused("DATA", error.smtp_code, error.smtp_error)
        except smtplib.SMTPResponseException as error:
            return _refused("SMTP", error.smtp_code, error.smtp_error)
        except (smtplib.SMTPException, OSError) as error:
            what = f"{type(error).__name__}: {redact(str(error))}"
            return Outcome(False, error=what, ambiguous=data_sent)
        finally:
            _close(client)


def _refused(step: str, code: int, reply: bytes | str) -> Outcome:
    return Outcome(
        False, error=f"{step} refused: {code} {redact(_text(reply))}", code=code
    )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
