"""`laurel audit …`: the auditors' commands, read-only but for checkpoints.

verify     a live store's chains and positions (and its recorded checkpoints,
           given the public key), or an evidence package, offline
export     an evidence package for a nomination, a campaign or --all
checkpoint sign and record each store's Merkle root up to its head (cron it,
           or let `serve --checkpoint-every` do it)
timeline   a nomination's events from every store in causal order
completeness  each consumer applied or ignored every event its upstreams
           published, up to a position; any it did not is named
replay     rebuild every projection into a scratch database and diff it
keygen     a development signing key
serve      the AuditService gRPC API over the stores (auditor role only)

Stores: --database STORE=URL (repeatable), else LAUREL_DATABASE_URL_<SERVICE>,
else the <service>.sqlite files in LAUREL_DATA_DIR, else in the last
`laurel up` run (see laurel.audit.adapters.stores and laurel.client.default_data_dir).

Exit status: 0 when everything holds, 1 when anything does not (the report
names the first broken link), 2 when the command cannot run at all.

The group is the `audit` entry of the `laurel.cli` entry points; `main` runs
it alone (`python -m laurel.audit.cli audit …`) with the same error handling.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

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
    verify_against_published,
    verify_package,
    verify_recorded_checkpoints,
)
from laurel.audit.settings import AuditSettings
from laurel.cli import EXIT_REFUSED, CliError, fail, new_app, progress, run
from laurel.eventstore import EventStore
from laurel.runtime import store_problem

app = new_app("Verify, export and replay the history; the auditors' API.")

Databases = Annotated[list[str] | None, typer.Option(
    "--database", metavar="[STORE=]URL",
    help="a store (repeatable); default: LAUREL_DATABASE_URL_<SERVICE>, else the "
    "<service>.sqlite files in LAUREL_DATA_DIR or the last `laurel up` run")]
Key = Annotated[Path | None, typer.Option(
    "--key", help=f"Ed25519 private key PEM (or {KEY_FILE_SETTING})")]
Projections = Annotated[list[str] | None, typer.Option(
    "--projection", metavar="STORE=MODULE:FACTORY",
    help="default: the projections the store's service declares (its "
    "`laurel.projections` entry point)")]


@functools.cache
def _alone() -> typer.Typer:
    root = new_app(__doc__ or "", root=True)
    root.add_typer(app, name="audit")
    return root


def main(argv: list[str] | None = None) -> int:
    """`python -m laurel.audit.cli audit …`, the same as `laurel audit …`."""
    return run(_alone(), argv)


# -- arguments ---------------------------------------------------------------


def _moment(text: str | None, option: str = "--as-of") -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time",
                                 param_hint=option) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no time zone (add +08:00 or Z)",
                                 param_hint=option)
    return moment


def _pairs(values: list[str] | None, option: str = "--database") -> dict[str, str]:
    """`STORE=VALUE` pairs; a bare URL is named after its file or database."""
    named = {}
    for value in values or ():
        name, sep, rest = value.partition("=")
        if sep and name and all(c.isalnum() or c in "-_" for c in name):
            named[name] = rest
            continue
        try:
            url = make_url(value)
        except ArgumentError:
            raise typer.BadParameter(f"{value!r} is neither STORE=VALUE nor a database URL",
                                     param_hint=option) from None
        named[Path(url.database or "store").stem.lower() or "store"] = value
    return named


def _signing_key(key: Path | None) -> Any:
    return load_signing_key(key) if key else signing_key_from_env()


def _open_stores(databases: list[str] | None) -> dict[str, EventStore]:
    from laurel.client import default_data_dir

    settings = AuditSettings.load(data_dir=default_data_dir())
    return open_stores(store_urls(_pairs(databases), settings=settings))


def _guarded(command: Callable[..., int]) -> Callable[..., int]:
    """What the audit code refuses (a broken log, an existing package folder,
    a malformed key or checkpoint) becomes one line and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return command(*args, **kwargs)
        except (CheckpointRefused, FileExistsError, ValueError) as error:
            raise CliError(f"audit: {error}", code=EXIT_REFUSED) from None

    return wrapper


@contextmanager
def _each_store(stores: dict[str, EventStore], doing: str
                ) -> Iterator[Iterator[tuple[str, EventStore]]]:
    """The stores one by one, with a progress bar naming the one at work."""
    with progress(len(stores)) as step:
        def walk() -> Iterator[tuple[str, EventStore]]:
            for name, store in stores.items():
                step(f"{doing} {name}")
                yield name, store
        yield walk()


# -- commands ------------------------------------------------------------------


@app.command()
@_guarded
def verify(
    package: Annotated[Path | None, typer.Option(
        help="an exported package folder (checked offline)")] = None,
    database: Databases = None,
    public_key: Annotated[Path | None, typer.Option(
        help="the trusted signer's public key (PEM)")] = None,
    published: Annotated[list[Path] | None, typer.Option(
        help="a checkpoint JSON published earlier (repeatable)")] = None,
) -> int:
    """Check the stores' hash chains and positions (and against checkpoints
    published earlier: still matching, still recorded, so a cut tail shows),
    or an evidence package."""
    trusted = load_public_key(public_key.read_bytes()) if public_key else None
    if package is not None:
        if database:
            fail("verify either --package or --database, not both")
        return _verify_package(package, trusted, published or [])
    earlier = _published(published or [])
    failed = False
    stores = _open_stores(database)
    unknown = sorted({c.store_name for c in earlier} - stores.keys())
    if unknown:
        fail(f"--published names stores not opened here: {', '.join(unknown)} "
             f"(open them with --database STORE=URL)")
    with _each_store(stores, "verifying") as each:
        for name, store in each:
            try:
                report = store.verify()
            except SQLAlchemyError as error:  # a corrupt or truncated file, a lost server
                failed = True
                print(f"{name} ({shown(store.url)}): UNREADABLE — {store_problem(error)}")
                continue
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
            against = verify_against_published(store, name, earlier, trusted)
            failed = failed or bool(against)
            for problem in against:
                print(f"  published: {problem}")
            matched = sum(c.store_name == name for c in earlier)
            if matched and not against:
                print(f"  published: {matched} checkpoint(s) match and are recorded"
                      + ("" if trusted else " (signatures not checked: no --public-key)"))
    return 1 if failed else 0


def _published(files: list[Path]) -> list[Checkpoint]:
    """Checkpoints published earlier: a JSON file holding one checkpoint, a
    list of them, or one per line (what `laurel audit checkpoint` prints)."""
    found: list[Checkpoint] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            fail(f"--published {path}: {error.strerror}")
        try:
            try:
                whole = json.loads(text)
                documents = whole if isinstance(whole, list) else [whole]
            except json.JSONDecodeError:
                documents = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            fail(f"--published {path}: not checkpoint JSON ({error.msg})")
        try:
            found += [Checkpoint.from_dict(d) for d in documents]
        except (KeyError, TypeError, AttributeError) as error:
            fail(f"--published {path}: not a checkpoint ({error!r} missing or malformed)")
    return found


def _verify_package(package: Path, trusted: Any, published_files: list[Path]) -> int:
    if not package.is_dir():
        fail(f"{package}: no such folder (an evidence package is the folder "
             "`laurel audit export --out` wrote)")
    published = _published(published_files)
    with progress(None, f"verifying {package}"):
        result = verify_package(package, trusted_key=trusted, published=published)
    verdict = "ok" if result.ok else f"FAILED ({len(result.problems)} problems)"
    print(f"package {package}: {verdict}")
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


@app.command()
@_guarded
def export(
    out: Annotated[Path, typer.Option(help="the package folder to write (must not exist)",
                                      show_default=False)],
    nomination: Annotated[str | None, typer.Option(help="the nomination id")] = None,
    campaign: Annotated[str | None, typer.Option(
        help="the campaign id: it and its nominations")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every event of every store")] = False,
    database: Databases = None,
    key: Key = None,
    no_record: Annotated[bool, typer.Option(
        "--no-record", help="sign checkpoints without recording them (read-only)")] = False,
) -> int:
    """Write an evidence package: events, checkpoints, proofs, a signed manifest."""
    from laurel.audit.handlers import export_all, export_campaign, export_nomination

    if sum((bool(nomination), bool(campaign), all_)) != 1:
        fail("export exactly one of --nomination, --campaign or --all")
    signing_key, stores = _signing_key(key), _open_stores(database)
    record = not no_record
    with progress(None, f"exporting to {out}"):
        if all_:
            manifest = export_all(stores, out, signing_key, record_checkpoints=record)
        elif campaign:
            manifest = export_campaign(stores, campaign, out, signing_key,
                                       record_checkpoints=record)
        else:
            manifest = export_nomination(stores, str(nomination), out, signing_key,
                                         record_checkpoints=record)
    counts = ", ".join(f"{n}: {c} events" for n, c in manifest["stores"].items())
    print(f"wrote {out} ({counts}); signed by key {manifest['key_id']}")
    return 0


@app.command()
@_guarded
def checkpoint(database: Databases = None, key: Key = None) -> int:
    """Sign and record each store's Merkle root up to its head."""
    signing_key = _signing_key(key)
    for name, store in _open_stores(database).items():
        made = create_checkpoint(store, name, signing_key)
        print(json.dumps(made.to_dict(), sort_keys=True))
    print(f"signed by key {key_id(signing_key.public_key())}", file=sys.stderr)
    return 0


@app.command()
@_guarded
def timeline(
    nomination: Annotated[str, typer.Option(help="the nomination id", show_default=False)],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="ISO time with zone: the history up to then on the campaign "
        "clock")] = None,
    recorded_as_of: Annotated[str | None, typer.Option(
        "--recorded-as-of", help="ISO time with zone: the history as recorded by then "
        "(wall clock)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines output")] = False,
    database: Databases = None,
) -> int:
    """A nomination's events from every store, causes before effects."""
    from laurel.audit.handlers import nomination_timeline

    campaign_moment = _moment(as_of)
    recorded_moment = _moment(recorded_as_of, "--recorded-as-of")
    entries = nomination_timeline(_open_stores(database), nomination, as_of=campaign_moment,
                                  recorded_as_of=recorded_moment)
    for entry in entries:
        if as_json:
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
        fail(f"no events for nomination {nomination}", code=EXIT_REFUSED)
    return 0


@app.command()
@_guarded
def replay(
    database: Databases = None,
    projection: Projections = None,
    scratch: Annotated[list[str] | None, typer.Option(
        "--scratch", metavar="STORE=URL", help="default: a temporary SQLite file")] = None,
) -> int:
    """Rebuild every projection from the log into scratch databases and compare."""
    from laurel.audit.handlers import replay_projections

    factories = _pairs(projection, "--projection")
    scratches = _pairs(scratch, "--scratch")
    failed = False
    stores = _open_stores(database)
    with tempfile.TemporaryDirectory(prefix="laurel-replay-") as tmp, \
            _each_store(stores, "replaying") as each:
        for name, store in each:
            try:
                projections = load_projections(name, factories.get(name))
            except ProjectionsUnavailable as error:
                print(f"{name}: cannot replay: {error}")
                failed = True
                continue
            url = scratches.get(name) or f"sqlite:///{Path(tmp) / f'{name}.sqlite'}"
            differences = replay_projections(store, projections, url)
            names = ", ".join(p.name for p in projections)
            print(f"{name}: {names}: {'matches' if not differences else 'DIFFERS'}")
            for difference in differences:
                print(f"  {difference}")
            failed = failed or bool(differences)
    return 1 if failed else 0


@app.command()
@_guarded
def completeness(
    database: Databases = None,
    through: Annotated[list[str] | None, typer.Option(
        metavar="STORE=POSITION",
        help="check an upstream up to this position (default: its last published one)")
    ] = None,
) -> int:
    """Prove each consumer applied or ignored every event its upstreams
    published (up to a position), naming any it did not."""
    from laurel.audit.handlers import completeness as accounts_of

    limits = {}
    for name, value in _pairs(through, "--through").items():
        if not value.isdigit():
            raise typer.BadParameter(f"{name}={value!r}: the position is not a whole number",
                                     param_hint="--through")
        limits[name] = int(value)
    accounts = accounts_of(_open_stores(database), limits)
    if not accounts:
        fail("no consumer and upstream store are both open here: open them with "
             "--database STORE=URL (scoring, review and notification consume intake, "
             "scoring and review)")
    for a in accounts:
        verdict = "complete" if a.complete else f"INCOMPLETE: {len(a.missing)} missing"
        print(f"{a.consumer} <- {a.upstream}: {verdict} up to position {a.through} "
              f"({a.applied} applied, {a.ignored} ignored)")
        for m in a.missing:
            event = m.event
            print(f"  missing: {a.upstream}:{event.position} {event.type} {event.event_id} "
                  f"(stream {event.stream_id}; {m.reason})")
    return 0 if all(a.complete for a in accounts) else 1


@app.command()
@_guarded
def keygen(out: Annotated[Path, typer.Option(help="where to write the key (PEM)",
                                             show_default=False)]) -> int:
    """Write a new Ed25519 signing key (for development; keep real keys in a vault)."""
    made = generate_key_file(out)
    print(f"wrote {out} (key {key_id(made.public_key())}); set {KEY_FILE_SETTING}={out}")
    return 0


@app.command()
def serve(
    database: Databases = None,
    key: Key = None,
    port: Annotated[int | None, typer.Option(
        help="gRPC port (or LAUREL_AUDIT_GRPC_PORT; 50055)")] = None,
    checkpoint_every: Annotated[float | None, typer.Option(
        metavar="SECONDS", help="sign and record checkpoints this often (or "
        "LAUREL_AUDIT_CHECKPOINT_INTERVAL_S; 0, the default, never)")] = None,
    projection: Projections = None,
) -> int:
    """Serve the AuditService gRPC API over the stores (auditor role only)."""
    from laurel.audit.bootstrap import serve_forever

    return serve_forever(
        database=_pairs(database),
        key_path=str(key) if key else None,
        port=port,
        checkpoint_every=checkpoint_every,
        projection_specs=_pairs(projection, "--projection"),
    )


if __name__ == "__main__":  # run the imported module, not this __main__ copy
    from laurel.audit.cli import main as audit_main

    sys.exit(audit_main())
