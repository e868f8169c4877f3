"""`laurel`: the command line for operators, nominators and the demo.

Subcommands talk to the running services over the same gRPC API a portal
uses; `up` starts the whole suite locally.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

import grpc
import yaml
from google.protobuf.json_format import MessageToDict

from laurel.config import PROJECT_ROOT, SERVICES, ConfigError, load_settings
from laurel.envelope import Actor
from laurel.grpcutil import violations_of


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # Chinese text on any terminal locale
            stream.reconfigure(encoding="utf-8")
    try:
        return args.run(args)
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    except ConfigError as error:
        print(f"laurel: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="laurel", description=__doc__)
    parser.add_argument(
        "--as", dest="actor", default=os.environ.get("LAUREL_ACTOR", ""),
        help="who you act as: ROLE:ID[:ORGANIZATION] (or LAUREL_ACTOR)",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start broker, services and the demo; Ctrl-C stops")
    up.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("LAUREL_DATA_DIR", PROJECT_ROOT / "var")))
    up.add_argument("--once", action="store_true", help="stop after the demo")
    up.set_defaults(run=_up)

    submit = sub.add_parser("submit", help="submit a nomination from a YAML or JSON file")
    submit.add_argument("file", type=Path)
    submit.set_defaults(run=_submit)

    show = sub.add_parser("show", help="a nomination's current state")
    show.add_argument("nomination_id")
    show.add_argument("--as-of", default="", help="ISO 8601 time: the state back then")
    show.set_defaults(run=_show)

    inbox = sub.add_parser("notifications", help="your notifications")
    inbox.add_argument("--nomination", default="")
    inbox.set_defaults(run=_notifications)

    migrate = sub.add_parser("migrate", help="create a service's store tables")
    migrate.add_argument("--service", choices=SERVICES, required=True)
    migrate.set_defaults(run=_migrate)

    topics = sub.add_parser("topics", help="create Laurel's Kafka topics")
    topics.add_argument("action", choices=["create"])
    topics.set_defaults(run=_topics)

    from laurel.audit.cli import add_audit_commands
    from laurel.cli_intake import add_intake_commands

    add_intake_commands(sub, _client)

    add_audit_commands(sub)
    return parser


def _actor(args: argparse.Namespace) -> Actor:
    parts = args.actor.split(":") if args.actor else []
    if len(parts) < 2:
        raise ConfigError("say who you are: --as ROLE:ID[:ORGANIZATION] or LAUREL_ACTOR")
    return Actor(id=parts[1], role=parts[0], organization_id=":".join(parts[2:]))


def _client(args: argparse.Namespace):  # noqa: ANN202
    from laurel.client import LaurelClient, default_endpoints

    return LaurelClient(default_endpoints(), _actor(args))


def _print(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _up(args: argparse.Namespace) -> int:
    from laurel.devstack import up

    return up(args.data_dir, args.once)


def _submit(args: argparse.Namespace) -> int:
    document = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    document.pop("submitted_by", None)
    reply = _client(args).submit(document)
    _print(MessageToDict(reply, preserving_proto_field_name=True))
    return 0


def _show(args: argparse.Namespace) -> int:
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else None
    nomination = _client(args).nomination(args.nomination_id, as_of)
    _print(MessageToDict(nomination, preserving_proto_field_name=True))
    return 0


def _notifications(args: argparse.Namespace) -> int:
    notes = _client(args).notifications(args.nomination)
    _print([MessageToDict(n, preserving_proto_field_name=True) for n in notes])
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from laurel.runtime import open_store

    settings = load_settings(args.service, {**os.environ, "LAUREL_KAFKA_BOOTSTRAP":
                             os.environ.get("LAUREL_KAFKA_BOOTSTRAP", "unused:0")})
    open_store(settings).close()
    print(f"{args.service}: store schema is current at {settings.database_url.split('@')[-1]}")
    return 0


def _topics(args: argparse.Namespace) -> int:
    from laurel.broker import ensure_topics

    settings = load_settings("intake")
    ensure_topics(settings.kafka, settings.topics.all())
    print("topics ready: " + ", ".join(settings.topics.all()))
    return 0


def _report_rpc_error(error: grpc.RpcError) -> int:
    print(f"laurel: {error.code().name}: {error.details()}", file=sys.stderr)
    for field, description in violations_of(error):
        print(f"  - {field}: {description}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
