"""`laurel`: the command line for operators, nominators, auditors and the demo.

One Typer application. Its own commands (`up`, `notifications` and intake's
lifecycle from `laurel.cli_intake`) are registered here; every command group
(`audit`, `topics`, `migrate`, …) comes from the entry point group
`laurel.cli` (name -> a `typer.Typer`), so a distribution adds its group by
declaring it in its pyproject.toml, without this module naming it.

Every failure a person can cause reaches them as one line on stderr (plus
one line per rejected field of a refused request) and a non-zero exit code,
never as a traceback: `run` is the one place that turns exceptions into
those lines. Exit codes: 0 done, 1 refused or found wanting (a gRPC error,
a broken chain), 2 the command could not run (usage, input, configuration,
an unreachable service).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Annotated, Any, NoReturn

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from typer.core import TyperGroup

from laurel.config import ConfigError
from laurel.envelope import Actor

ENTRY_POINT_GROUP = "laurel.cli"
EXIT_REFUSED = 1
EXIT_UNUSABLE = 2
ACTOR_HELP = ("who you act as: ROLE:ID[:ORGANIZATION], e.g. "
              "nominator:wang-fang:zhengzhou-peoples")


class CliError(Exception):
    """A failure the user can act on: one line, then detail lines, an exit code."""

    def __init__(self, message: str, *, details: Iterable[str] = (),
                 code: int = EXIT_UNUSABLE) -> None:
        super().__init__(message)
        self.details = list(details)
        self.code = code


def fail(message: str, *, code: int = EXIT_UNUSABLE) -> NoReturn:
    raise CliError(message, code=code)


class _PipeClosed(Exception):
    """stdout's reader went away (`laurel list | head`): stop quietly."""


class _Group(TyperGroup):
    """The root group. Entry-point groups are loaded when first named (so
    `laurel list` does not import the audit code), and a closed pipe is
    caught here, before Typer's own handler swaps stdout for a wrapper that
    hides the error until exit."""

    lazy: dict[str, EntryPoint]

    def list_commands(self, ctx: Any) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name in getattr(self, "lazy", {}) if name not in own]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        entry = getattr(self, "lazy", {}).get(cmd_name)
        if found is None and entry is not None:
            found = _load_group(cmd_name, entry)
            self.add_command(found, cmd_name)
        return found

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _PipeClosed from None


def new_app(help_text: str, *, root: bool = False) -> typer.Typer:
    """A Typer application or group with Laurel's settings: help on no
    arguments, -h, no pretty tracebacks (errors are handled by `run`)."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=root,
        cls=_Group if root else None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


# -- the session: who acts, and the clients ---------------------------------------


@dataclass
class Session:
    actor: str = ""


def actor_of(ctx: typer.Context) -> Actor:
    """The `--as` / LAUREL_ACTOR actor, or a one-line error saying how to give one."""
    session = ctx.find_root().obj
    text = session.actor if isinstance(session, Session) else os.environ.get(
        "LAUREL_ACTOR", "")
    parts = text.split(":") if text else []
    if len(parts) < 2 or not parts[0] or not parts[1]:
        fail("say who you are: --as ROLE:ID[:ORGANIZATION] or LAUREL_ACTOR "
             "(e.g. export LAUREL_ACTOR=organizer:zhao-min:henan-center)")
    from laurel.auth import ROLES

    if parts[0] not in ROLES:
        fail(f"unknown role {parts[0]!r} in --as/LAUREL_ACTOR; one of {', '.join(ROLES)}")
    return Actor(id=parts[1], role=parts[0], organization_id=":".join(parts[2:]))


def client_for(ctx: typer.Context) -> Any:
    """A LaurelClient to the running services, acting as the session's actor."""
    from laurel.client import LaurelClient, default_endpoints

    return LaurelClient(default_endpoints(), actor_of(ctx))


# -- output ----------------------------------------------------------------------


def console() -> Console:
    """stdout for tables and panels (rich measures CJK text by display width)."""
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


class Steps:
    """What `progress` yields: `step(label)` names the next piece of work."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self._bar, self._task, self._started = bar, task, False

    def __call__(self, label: str) -> None:
        if self._started:
            self._bar.advance(self._task)
        self._started = True
        self._bar.update(self._task, description=label)


@contextmanager
def progress(total: int | None, description: str = "") -> Iterator[Steps]:
    """A progress bar on stderr while the block runs (on a terminal only, and
    gone when done, so what the command prints stays as it was); `total`
    None shows a spinner with the elapsed time."""
    stderr = err_console()
    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True,
                  disable=not stderr.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield Steps(bar, task)
        bar.update(task, completed=total or 0)


def command_hint(arguments: str) -> str:
    """A `laurel …` command line that works as typed from the current folder:
    `laurel` when it is on PATH, else the venv's script by a relative path."""
    script = Path(sys.executable).parent / "laurel"
    on_path = shutil.which("laurel")
    if on_path and Path(on_path).resolve() == script.resolve():
        return f"laurel {arguments}"
    try:
        return f"{script.relative_to(Path.cwd())} {arguments}"
    except ValueError:
        return f"{script} {arguments}"


# -- running: every exception becomes one line ------------------------------------


def run(app: typer.Typer | Any, argv: Sequence[str] | None = None) -> int:
    """Run `app` (a Typer, or the click command made of one) on `argv` and
    return the exit code; errors as one line each."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # Chinese text on any terminal locale
            stream.reconfigure(encoding="utf-8")
    try:
        code = _invoke(app, argv)
        sys.stdout.flush()
        return code
    except (_PipeClosed, BrokenPipeError):
        _silence_stdout()
        return EXIT_REFUSED


def _invoke(app: typer.Typer, argv: Sequence[str] | None) -> int:
    from typer._click import exceptions as click_errors

    from laurel.client import InvalidDocument

    command = typer.main.get_command(app) if isinstance(app, typer.Typer) else app
    try:
        result = command.main(args=None if argv is None else list(argv),
                              prog_name="laurel", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:
        return EXIT_UNUSABLE  # the help was printed
    except click_errors.UsageError as error:
        path = error.ctx.command_path if error.ctx else "laurel"
        where = path.partition(" ")[2]
        return _report(f"{where + ': ' if where else ''}{error.format_message()} "
                       f"(see {path} --help)", code=error.exit_code)
    except click_errors.ClickException as error:
        return _report(error.format_message(), code=error.exit_code)
    except click_errors.Abort:
        return _report("aborted", code=130)
    except CliError as error:
        return _report(str(error), error.details, code=error.code)
    except InvalidDocument as error:
        return _report(str(error))
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    except ConfigError as error:  # a SystemExit: before the generic one below
        return _report(str(error.code))
    except SystemExit as error:  # rich's own broken-pipe exit, a nested sys.exit
        return error.code if isinstance(error.code, int) else EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    except (BrokenPipeError, _PipeClosed):
        raise
    except OSError as error:
        return _report(os_error_line(error))
    except Exception as error:
        if os.environ.get("LAUREL_DEBUG"):
            raise
        return _report(f"unexpected {type(error).__name__}: {error} "
                       "(LAUREL_DEBUG=1 shows the traceback)", code=70)
    return result if isinstance(result, int) else 0


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def os_error_line(error: OSError) -> str:
    """`key.pem: No such file or directory`, `TimeoutError: …` and the like."""
    reason = error.strerror or (f"{type(error).__name__}: {error}" if str(error)
                                else type(error).__name__)
    if error.filename is not None:
        return f"{error.filename}: {reason}"
    return reason


def _report(message: str, details: Iterable[str] = (), *, code: int = EXIT_UNUSABLE) -> int:
    print(f"laurel: {one_line(message)}", file=sys.stderr)
    for detail in details:
        print(f"  {one_line(detail)}", file=sys.stderr)
    return code


def _report_rpc_error(error: grpc.RpcError) -> int:
    from laurel.grpcutil import violations_of

    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    name = code.name if code is not None else "ERROR"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return _report(f"{name}: no answer from the service ({details}); is the suite "
                       f"running (`make run`, or `{command_hint('up')}`)?",
                       code=EXIT_UNUSABLE)
    violations = violations_of(error) if isinstance(error, grpc.Call) else []
    return _report(f"{name}: {details}", [f"- {f}: {d}" for f, d in violations],
                   code=EXIT_REFUSED)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


# -- the application -----------------------------------------------------------------


def _root(
    ctx: typer.Context,
    actor: Annotated[str, typer.Option("--as", envvar="LAUREL_ACTOR", help=ACTOR_HELP,
                                       show_default=False)] = "",
) -> None:
    """Laurel's command line: run the suite (`up`), act on nominations as any
    role, read the event topics, and audit the history.

    Commands that call the services find them in the endpoints file of the
    last `laurel up` (var/latest/endpoints.json, or LAUREL_DATA_DIR's).
    """
    ctx.obj = Session(actor=actor)


def _unavailable(name: str, reason: str) -> Any:
    """Stands in for a group whose entry point could not be loaded: whatever
    follows its name, it says why in one line."""
    holder = typer.Typer()

    @holder.command(name, help=f"(unavailable: {reason})", add_help_option=False,
                    context_settings={"allow_extra_args": True,
                                      "ignore_unknown_options": True})
    def unavailable() -> None:
        fail(f"the `{name}` commands could not be loaded: {reason}")

    return typer.main.get_command(holder)


def command_groups() -> dict[str, EntryPoint]:
    """The `laurel.cli` entry points by name; the first of a duplicate name wins."""
    groups: dict[str, EntryPoint] = {}
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        groups.setdefault(entry.name, entry)
    return groups


def _load_group(name: str, entry: EntryPoint) -> Any:
    """The click group Typer makes of an entry point's Typer (through a holder,
    so a group of one command stays a group), or a stand-in saying why not."""
    try:
        found = entry.load()
    except Exception as error:  # a broken distribution must not break `laurel`
        return _unavailable(name, one_line(f"{type(error).__name__}: {error}"))
    if not isinstance(found, typer.Typer):
        return _unavailable(name, f"{entry.value} is not a typer.Typer")
    holder = typer.Typer()
    holder.add_typer(found, name=name)
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]


@functools.cache
def application() -> Any:
    """The `laurel` command: its own commands, intake's, then every entry-point
    group (loaded when named)."""
    from laurel.cli_intake import app as intake_app
    from laurel.cli_intake import campaigns_app

    root = new_app(_root.__doc__ or "", root=True)
    root.callback()(_root)
    root.command("up", rich_help_panel="Run")(up)
    root.add_typer(intake_app)
    root.add_typer(campaigns_app, name="campaigns", rich_help_panel="Nominations")
    root.command("notifications", rich_help_panel="Nominations")(notifications)
    command = typer.main.get_command(root)
    command.lazy = command_groups()  # type: ignore[attr-defined]
    return command


def main(argv: list[str] | None = None) -> int:
    """The `laurel` console script; tests call it with an argument list."""
    return run(application(), argv)


# -- the suite's own commands ---------------------------------------------------------


def up(
    data_root: Annotated[Path | None, typer.Option(
        "--data-root", help="where runs are kept: each `up` gets ROOT/runs/<time>, "
        "ROOT/latest points at the newest [default: var]")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="use exactly this folder (no runs/, no latest)")] = None,
    keep: Annotated[bool, typer.Option(
        "--keep", help="continue from the last run's data instead of a fresh folder")]
        = False,
    once: Annotated[bool, typer.Option("--once", help="stop right after the demo")] = False,
    demo: Annotated[bool, typer.Option(help="run the demo campaign after start-up")] = True,
    database: Annotated[str, typer.Option(
        "--database", help="a PostgreSQL server (postgresql://USER@HOST:PORT): the stores "
        "go there, one database per service (laurel_<run>_<service>, created if "
        "missing) [default: SQLite files in the run's folder]", show_default=False)] = "",
) -> int:
    """Start the suite, run the demo campaign, serve until Ctrl-C.

    The broker, the four services and the AuditService start as processes;
    Ctrl-C stops the services first (each drains), then the broker. Each run
    gets a fresh folder under var/runs/ (var/latest points at it) unless
    --keep continues the last one.
    """
    from laurel.devstack import choose_data_dir
    from laurel.devstack import up as run_up

    if database and not database.startswith("postgresql"):
        raise typer.BadParameter("expected a postgresql://USER@HOST:PORT URL",
                                 param_hint="--database")
    chosen = choose_data_dir(data_root=data_root, data_dir=data_dir, keep=keep)
    return run_up(chosen, once=once, demo=demo, database=database)


def notifications(
    ctx: typer.Context,
    nomination: Annotated[str, typer.Option(help="only this nomination's")] = "",
    recipient: Annotated[str, typer.Option(help="only this recipient's (organizers, "
                                           "auditors)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON for machines")] = False,
) -> None:
    """Your notifications, newest first."""
    from rich.table import Table

    notes = client_for(ctx).notifications(nomination, recipient)
    if as_json:
        emit_json([as_dict(n) for n in notes])
        return
    table = Table(title=f"{len(notes)} notification(s)", title_justify="left")
    for column in ("created", "kind", "recipient", "nomination", "title"):
        table.add_column(column, overflow="fold")
    for note in notes:
        created = note.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M") \
            if note.HasField("created_at") else ""
        table.add_row(created, note.kind, note.recipient_id, note.nomination_id[:8],
                      note.title)
    console().print(table)


def choice(value: str, allowed: Sequence[str], option: str) -> str:
    """An option's value checked against its allowed values (empty: not given)."""
    if value and value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}",
                                 param_hint=option)
    return value


if __name__ == "__main__":
    # `python -m laurel.cli` runs this file as __main__, a second copy of the
    # module; the commands import `laurel.cli`, so run that one.
    from laurel.cli import main as laurel_main

    sys.exit(laurel_main())
