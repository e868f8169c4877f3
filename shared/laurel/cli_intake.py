"""`laurel` commands for nominators, endorsers and organizers on intake.

Each command is one IntakeService call made as the `--as` actor; refusals
come back as the service's own status and field-level reasons.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from laurel.intake.v1 import intake_pb2 as pb

ClientFactory = Callable[[argparse.Namespace], Any]


def add_intake_commands(sub: argparse._SubParsersAction, client: ClientFactory) -> None:
    def command(name: str, help_text: str, call: Callable[[Any, argparse.Namespace], int]
                ) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.set_defaults(run=lambda args: call(client(args), args))
        return parser

    def with_id(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("nomination_id")
        return parser

    history = with_id(command("history", "a nomination's events, field by field", _history))
    history.add_argument("--json", action="store_true")

    listing = command("list", "nominations you may see, filtered and paged", _list)
    for flag in ("campaign", "category", "jurisdiction", "status"):
        listing.add_argument(f"--{flag}", default="")
    listing.add_argument("--page-size", type=int, default=50)
    listing.add_argument("--page-token", default="")

    endorse = with_id(command("endorse", "endorse as the local commission", _endorse))
    endorse.add_argument("--opinion", required=True, help="所属卫生健康委意见")

    returning = with_id(command("return", "return for correction, with reasons", _return))
    returning.add_argument("--reason", action="append", required=True, dest="reasons")

    rejecting = with_id(command("reject", "decline for good (不同意推荐), with reasons",
                                _reject))
    rejecting.add_argument("--reason", action="append", required=True, dest="reasons")

    with_id(command("forward", "forward an endorsed nomination to the center", _forward))
    with_id(command("receive", "receive at the provincial center", _receive))

    for name, help_text, call in (
        ("resubmit", "resubmit a returned nomination with corrections", _resubmit),
        ("amend", "amend a submitted nomination before the stage closes", _amend),
    ):
        parser = with_id(command(name, help_text, call))
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            dest="changes")
        parser.add_argument("--reason", default="")

    withdraw = with_id(command("withdraw", "withdraw before a decision", _withdraw))
    withdraw.add_argument("--reason", required=True)


def _changes(pairs: list[str]) -> dict[str, str]:
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"laurel: --set takes KEY=VALUE, not {pair!r}")
        changes[key.strip()] = value
    return changes


def _ack(reply: Any) -> int:
    print(f"{reply.id}: now at version {reply.version}")
    return 0


def _endorse(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.EndorseNomination(pb.EndorseNominationRequest(
        nomination_id=args.nomination_id, opinion=args.opinion), metadata=client.md()))


def _return(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.ReturnNomination(pb.ReturnNominationRequest(
        nomination_id=args.nomination_id, reasons=args.reasons), metadata=client.md()))


def _reject(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.RejectNomination(pb.RejectNominationRequest(
        nomination_id=args.nomination_id, reasons=args.reasons), metadata=client.md()))


def _forward(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.ForwardNomination(
        pb.ForwardNominationRequest(nomination_id=args.nomination_id), metadata=client.md()))


def _receive(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.ReceiveNomination(
        pb.ReceiveNominationRequest(nomination_id=args.nomination_id), metadata=client.md()))


def _resubmit(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.ResubmitNomination(pb.ResubmitNominationRequest(
        nomination_id=args.nomination_id, fields=_changes(args.changes),
        reason=args.reason), metadata=client.md()))


def _amend(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.AmendNomination(pb.AmendNominationRequest(
        nomination_id=args.nomination_id, fields=_changes(args.changes),
        reason=args.reason), metadata=client.md()))


def _withdraw(client: Any, args: argparse.Namespace) -> int:
    return _ack(client.intake.WithdrawNomination(pb.WithdrawNominationRequest(
        nomination_id=args.nomination_id, reason=args.reason), metadata=client.md()))


def _list(client: Any, args: argparse.Namespace) -> int:
    reply = client.intake.ListNominations(pb.ListNominationsRequest(
        campaign_id=args.campaign, category=args.category,
        jurisdiction_id=args.jurisdiction, status=args.status,
        page_size=args.page_size, page_token=args.page_token), metadata=client.md())
    for n in reply.nominations:
        flag = "" if n.eligible else "  [ineligible]"
        print(f"{n.nomination_id}  {n.status:<10} {n.category:<26} "
              f"{n.hospital_id:<26} {n.nominee_name}{flag}")
    print(f"({len(reply.nominations)} shown)" + (
        f" next page: --page-token '{reply.next_page_token}'"
        if reply.next_page_token else ""))
    return 0


def _history(client: Any, args: argparse.Namespace) -> int:
    reply = client.intake.GetNominationHistory(
        pb.GetNominationHistoryRequest(nomination_id=args.nomination_id), metadata=client.md())
    if args.json:
        print(json.dumps(MessageToDict(reply, preserving_proto_field_name=True),
                         ensure_ascii=False, indent=2))
        return 0
    for entry in reply.entries:
        when = datetime.fromtimestamp(entry.recorded_at.seconds).isoformat(" ")
        print(f"v{entry.version} {when} {entry.event_type} by {entry.actor_role} "
              f"{entry.actor_id} ({entry.actor_organization_id or '-'})")
        details = json.loads(entry.details_json or "{}")
        for key in ("reasons", "opinion", "reason", "rule"):
            if details.get(key):
                print(f"    {key}: {details[key]}")
        for change in entry.changes:
            before = change.before if change.had_before else "∅"
            after = change.after if change.has_after else "∅"
            print(f"    {change.field}: {before} → {after}")
    return 0
