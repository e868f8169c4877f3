"""`laurel audit …`: the auditors' commands, read-only but for checkpoints.

verify     a live store's chains and positions (and its recorded checkpoints,
           given the public key), or an evidence package, offline
export     an evidence package for a nomination, a campaign or --all
checkpoint sign and record each store's Merkle root up to its head (cron it,
           or let `serve --checkpoint-every` do it)
timeline   a nomination's events from every store in causal order
replay     rebuild every projection into a scratch database and diff it
keygen     a development signing key
serve      the AuditService gRPC API over the stores (auditor role only)

Stores: --database STORE=URL (repeatable), else LAUREL_DATABASE_URL_<SERVICE>,
else the <service>.sqlite files in LAUREL_DATA_DIR (see laurel.audit.stores).

Exit status: 0 when everything holds, 1 when anything does not (the report
names the first broken link), 2 when the command cannot run at all.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from laurel.audit.adapters.keyfiles import (
    KEY_FILE_SETTING,
    generate_key_file,
    load_signing_key,
    signing_key_from_env,
)
from laurel.audit.adapters.stores import (
    ProjectionsUnavailable,
    load_projections,
    open_stores,
    shown,
    store_urls,
)
from laurel.audit.domain.checkpoints import Checkpoint, CheckpointRefused
from laurel.audit.domain.keys import key_id, load_public_key
from laurel.audit.handlers import (
    create_checkpoint,
    verify_package,
    verify_recorded_checkpoints,
)
from laurel.config import ConfigError
from laurel.eventstore import EventStore

Run = Callable[[argparse.Namespace], int]


def add_audit_commands(subparsers: Any) -> None:
    """Register `audit` and its subcommands on the `laurel` parser."""
    audit = subparsers.add_parser("audit", help="verify, export, replay the history")
    sub = audit.add_subparsers(required=True, metavar="AUDIT_COMMAND")

    verify = sub.add_parser("verify", help="check stores or an evidence package")
    verify.add_argument("--package", type=Path, help="an exported package folder")
    _databases(verify)
    verify.add_argument(
        "--public-key", type=Path, help="the trusted signer's public key (PEM)"
    )
    verify.add_argument(
        "--published",
        type=Path,
        action="append",
        default=[],
        help="a checkpoint JSON published earlier (repeatable)",
    )
    verify.set_defaults(run=_verify)

    export = sub.add_parser("export", help="write an evidence package")
    scope = export.add_mutually_exclusive_group(required=True)
    scope.add_argument("--nomination", help="the nomination id")
    scope.add_argument("--campaign", help="the campaign id: it and its nominations")
    scope.add_argument("--all", action="store_true", help="every event of every store")
    export.add_argument("--out", type=Path, required=True)
    _databases(export)
    _key(export)
    export.add_argument(
        "--no-record",
        action="store_true",
        help="sign checkpoints without recording them (read-only)",
    )
    export.set_defaults(run=_export)

    checkpoint = sub.add_parser("checkpoint", help="sign and record Merkle roots")
    _databases(checkpoint)
    _key(checkpoint)
    checkpoint.set_defaults(run=_checkpoint)

    timeline = sub.add_parser("timeline", help="a nomination's causal history")
    timeline.add_argument("--nomination", required=True)
    timeline.add_argument("--as-of", type=_moment, help="ISO time with zone")
    timeline.add_argument("--json", action="store_true", help="JSON Lines output")
    _databases(timeline)
    timeline.set_defaults(run=_timeline)

    replay = sub.add_parser("replay", help="rebuild projections and compare")
    _databases(replay)
    replay.add_argument(
        "--projection",
        action="append",
        default=[],
        metavar="STORE=MODULE:FACTORY",
        help="default: laurel.<STORE>.bootstrap:projections",
    )
    replay.add_argument(
        "--scratch",
        action="append",
        default=[],
        metavar="STORE=URL",
        help="default: a temporary SQLite file",
    )
    replay.set_defaults(run=_replay)

    keygen = sub.add_parser("keygen", help="write a new Ed25519 signing key")
    keygen.add_argument("--out", type=Path, required=True)
    keygen.set_defaults(run=_keygen)

    serve = sub.add_parser("serve", help="serve the AuditService gRPC API")
    _databases(serve)
    _key(serve)
    serve.add_argument(
        "--port", type=int, help="gRPC port (or LAUREL_AUDIT_GRPC_PORT; 50055)"
    )
    serve.add_argument(
        "--checkpoint-every",
        type=float,
        metavar="SECONDS",
        help="sign and record checkpoints this often (or "
        "LAUREL_AUDIT_CHECKPOINT_INTERVAL_S; 0, the default, never)",
    )
    serve.add_argument(
        "--projection",
        action="append",
        default=[],
        metavar="STORE=MODULE:FACTORY",
        help="for state as of a time; default: laurel.<STORE>.bootstrap:projections",
    )
    serve.set_defaults(run=_serve)


def main(argv: list[str] | None = None) -> int:
    """`python -m laurel.audit.cli audit …`, the same as `laurel audit …`."""
    parser = argparse.ArgumentParser(
        prog="laurel",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    add_audit_commands(parser.add_subparsers(required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"laurel: {error}", file=sys.stderr)
        return 2


# -- arguments ---------------------------------------------------------------


def _databases(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="[STORE=]URL",
        help="a store (repeatable); default: LAUREL_DATABASE_URL_<SERVICE>, "
        "else the <service>.sqlite files in LAUREL_DATA_DIR",
    )


def _key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key", type=Path, help=f"Ed25519 private key PEM (or {KEY_FILE_SETTING})"
    )


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone")
    return moment


def _pairs(values: list[str]) -> dict[str, str]:
    """`STORE=VALUE` pairs; a bare URL is named after its file or database."""
    named = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name and all(c.isalnum() or c in "-_" for c in name):
            named[name] = rest
        else:
            url = make_url(value)
            named[Path(url.database or "store").stem.lower() or "store"] = value
    return named


def _signing_key(args: argparse.Namespace) -> Any:
    return load_signing_key(args.key) if args.key else signing_key_from_env()


def _open_stores(args: argparse.Namespace) -> dict[str, EventStore]:
    return open_stores(store_urls(_pairs(args.database)))


def _guarded(run: Run) -> Run:
    """Expected failures become a one-line message and exit status 1."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (CheckpointRefused, FileExistsError, ValueError) as error:
            print(f"laurel audit: {error}", file=sys.stderr)
            return 1

    return wrapper


# -- commands ------------------------------------------------------------------


@_guarded
def _verify(args: argparse.Namespace) -> int:
    trusted = load_public_key(args.public_key.read_bytes()) if args.public_key else None
    if args.package is not None:
        if args.database:
            raise ConfigError("verify either --package or --database, not both")
        return _verify_package(args, trusted)
    failed = False
    for name, store in _open_stores(args).items():
        report = store.verify()
        status = "ok" if report.ok else "BROKEN"
        print(
            f"{name} ({shown(store.url)}): {status} — {report.events_checked} "
            f"events in {report.streams_checked} streams, positions "
            f"1..{report.last_position}"
        )
        if not report.ok:
            failed = True
            print(f"  first broken link: {report.first_break}")
            for later in report.breaks[1:]:
                print(f"  also broken: {later}")
        if trusted is not None:
            problems = verify_recorded_checkpoints(store, trusted)
            failed = failed or bool(problems)
            for problem in problems:
                print(f"  checkpoint: {problem}")
    return 1 if failed else 0


def _verify_package(args: argparse.Namespace, trusted: Any) -> int:
    published = [
        Checkpoint.from_dict(json.loads(p.read_text(encoding="utf-8")))
        for p in args.published
    ]
    result = verify_package(args.package, trusted_key=trusted, published=published)
    verdict = "ok" if result.ok else f"FAILED ({len(result.problems)} problems)"
    print(f"package {args.package}: {verdict}")
    if result.first_problem is not None:
        print(f"  first problem: {result.first_problem}")
        for problem in result.problems[1:]:
            print(f"  also: {problem}")
    for line in result.checked:
        print(f"  checked: {line}")
    pinned = (
        "pinned"
        if result.key_pinned
        else "NOT pinned (the package's own key; pass --public-key)"
    )
    print(f"  signing key {result.key_id or '?'}: {pinned}")
    return 0 if result.ok else 1


@_guarded
def _export(args: argparse.Namespace) -> int:
    from laurel.audit.handlers import export_all, export_campaign, export_nomination

    key, stores = _signing_key(args), _open_stores(args)
    record = not args.no_record
    if args.all:
        manifest = export_all(stores, args.out, key, record_checkpoints=record)
    elif args.campaign:
        manifest = export_campaign(
            stores, args.campaign, args.out, key, record_checkpoints=record
        )
    else:
        manifest = export_nomination(
            stores, args.nomination, args.out, key, record_checkpoints=record
        )
    counts = ", ".join(f"{n}: {c} events" for n, c in manifest["stores"].items())
    print(f"wrote {args.out} ({counts}); signed by key {manifest['key_id']}")
    return 0


@_guarded
def _checkpoint(args: argparse.Namespace) -> int:
    key = _signing_key(args)
    for name, store in _open_stores(args).items():
        checkpoint = create_checkpoint(store, name, key)
        print(json.dumps(checkpoint.to_dict(), sort_keys=True))
    print(f"signed by key {key_id(key.public_key())}", file=sys.stderr)
    return 0


@_guarded
def _timeline(args: argparse.Namespace) -> int:
    from laurel.audit.handlers import nomination_timeline

    entries = nomination_timeline(_open_stores(args), args.nomination, as_of=args.as_of)
    for entry in entries:
        if args.json:
            print(json.dumps(entry.to_dict(), ensure_ascii=False, sort_keys=True))
            continue
        event = entry.event
        actor = event.metadata.get("actor", {})
        cause = f"  ← {entry.caused_by}" if entry.caused_by else ""
        print(
            f"{event.recorded_at}  {entry.store}:{event.position}  "
            f"{event.stream_id} v{event.version}  {event.type}  "
            f"by {actor.get('role', '?')}:{actor.get('id', '?')}{cause}"
        )
    if not entries:
        print(f"no events for nomination {args.nomination}", file=sys.stderr)
        return 1
    return 0


@_guarded
def _replay(args: argparse.Namespace) -> int:
    from laurel.audit.handlers import replay_projections

    factories, scratch = _pairs(args.projection), _pairs(args.scratch)
    failed = False
    with tempfile.TemporaryDirectory(prefix="laurel-replay-") as tmp:
        for name, store in _open_stores(args).items():
            try:
                projections = load_projections(name, factories.get(name))
            except ProjectionsUnavailable as error:
                print(f"{name}: cannot replay: {error}")
                failed = True
                continue
            url = scratch.get(name) or f"sqlite:///{Path(tmp) / f'{name}.sqlite'}"
            differences = replay_projections(store, projections, url)
            names = ", ".join(p.name for p in projections)
            print(f"{name}: {names}: {'matches' if not differences else 'DIFFERS'}")
            for difference in differences:
                print(f"  {difference}")
            failed = failed or bool(differences)
    return 1 if failed else 0


def _serve(args: argparse.Namespace) -> int:
    from laurel.audit.bootstrap import serve_forever

    return serve_forever(
        database=_pairs(args.database),
        key_path=str(args.key) if args.key else None,
        port=args.port,
        checkpoint_every=args.checkpoint_every,
        projection_specs=_pairs(args.projection),
    )


@_guarded
def _keygen(args: argparse.Namespace) -> int:
    key = generate_key_file(args.out)
    print(
        f"wrote {args.out} (key {key_id(key.public_key())}); set "
        f"{KEY_FILE_SETTING}={args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
