"""`laurel` commands for nominators, endorsers and organizers on intake.

Each command is one IntakeService call made as the `--as` actor; refusals
come back as the service's own status and field-level reasons. The read
commands print tables for people and take `--json` for machines.

No silent lost update: `show` remembers the version it printed (per person
and nomination, in the data folder's `cli/seen-versions.json`), and every
command that acts on the nomination sends it as the expected version
(`--expect-version N` overrides it). If someone else changed the
nomination meanwhile, the service refuses with ABORTED naming both
versions; `show` it again and decide again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from laurel.cli import as_dict, choice, client_for, console, emit_json, fail
from laurel.contracts.intake import LIVE_STATUSES
from laurel.intake.v1 import intake_pb2 as pb

# Every status a nomination can have (GetNominationResponse.status).
STATUSES = ("draft", *LIVE_STATUSES, "withdrawn", "rejected")

app = typer.Typer()
READ, ACT = "Nominations", "Acting on a nomination"

NominationId = Annotated[str, typer.Argument(
    metavar="NOMINATION_ID", help="the nomination's id (a UUID)", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="JSON for machines")]
Reasons = Annotated[list[str], typer.Option(
    "--reason", help="a reason the hospital can act on (repeatable)", show_default=False)]
Changes = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="a form field's new value (repeatable)")]
ExpectVersion = Annotated[int | None, typer.Option(
    "--expect-version", min=1, show_default=False,
    help="act only if the nomination is still at this version (default: the version "
    "`show` last printed to you; none if you never showed it)")]
SEEN_VERSIONS = Path("cli") / "seen-versions.json"


def _seen_file() -> Path:
    from laurel.client import default_data_dir

    return default_data_dir() / SEEN_VERSIONS


def _seen_key(ctx: typer.Context, nomination_id: str) -> str:
    from laurel.cli import actor_of

    with contextlib.suppress(ValueError):  # the service answers for a malformed id
        nomination_id = str(uuid.UUID(nomination_id))
    return f"{actor_of(ctx).id} {nomination_id}"


def _read_seen() -> dict[str, int]:
    try:
        found = json.loads(_seen_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}


def remember_version(ctx: typer.Context, nomination_id: str, version: int, *,
                     shown: bool = True) -> None:
    """Note the version this person last saw of a nomination: what `show`
    printed, or (`shown` False) what their own act made of a nomination they
    had shown. Best effort: a folder that cannot be written loses the default."""
    seen = _read_seen()
    key = _seen_key(ctx, nomination_id)
    if not shown and key not in seen:
        return
    seen[key] = version
    path = _seen_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(seen, sort_keys=True), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass


def expected_version(ctx: typer.Context, nomination_id: str, given: int | None
                     ) -> int | None:
    """What to send as expected_version: the option, else what `show` printed."""
    if given is not None:
        return given
    return _read_seen().get(_seen_key(ctx, nomination_id))


def _act(ctx: typer.Context, method: str, request: Any, given: int | None) -> None:
    """One command on a nomination, with the version its caller saw; the new
    version printed and remembered."""
    expected = expected_version(ctx, request.nomination_id, given)
    if expected is not None:
        request.expected_version = expected
    client = client_for(ctx)
    reply = getattr(client.intake, method)(request, metadata=client.md(), timeout=10)
    remember_version(ctx, reply.id, reply.version, shown=False)
    print(f"{reply.id}: now at version {reply.version}")


def _changes(pairs: list[str] | None) -> dict[str, str]:
    changes = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"takes KEY=VALUE, not {pair!r}", param_hint="--set")
        changes[key.strip()] = value
    return changes


# -- submitting and reading ------------------------------------------------------------


@app.command(rich_help_panel=READ)
def submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(
        metavar="FILE", help="the nomination as YAML or JSON: campaign_id, category, nominee "
        "(kind, name, organization_id), fields", show_default=False)],
    as_json: Json = False,
) -> None:
    """Submit a nomination from a YAML or JSON file."""
    from laurel.client import read_document

    reply = client_for(ctx).submit(read_document(file), str(file))
    if as_json:
        emit_json(as_dict(reply))
    else:
        print(f"submitted {reply.nomination_id} (version {reply.version})")


@app.command(rich_help_panel=READ)
def show(
    ctx: typer.Context,
    nomination_id: NominationId,
    as_of: Annotated[str, typer.Option(
        "--as-of", help="ISO 8601 campaign time: the nomination as it stood then on "
        "its campaign's clock")] = "",
    recorded_as_of: Annotated[str, typer.Option(
        "--recorded-as-of", help="ISO 8601 wall-clock time: the nomination as intake "
        "had recorded it by then")] = "",
    as_json: Json = False,
) -> None:
    """A nomination's current state (or as of a moment), its form and files."""
    if as_of and recorded_as_of:
        raise typer.BadParameter("give --as-of or --recorded-as-of, not both",
                                 param_hint="--recorded-as-of")
    moment = _moment(as_of, "--as-of")
    recorded = _moment(recorded_as_of, "--recorded-as-of")
    nomination = client_for(ctx).nomination(nomination_id, moment, recorded)
    if moment is None and recorded is None:
        remember_version(ctx, nomination.nomination_id, nomination.version)
    if as_json:
        emit_json(as_dict(nomination))
        return
    out = console()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    nominee = nomination.nominee
    rows = [
        ("status", nomination.status + ("" if nomination.eligible else
                                        f"  (ineligible: {nomination.ineligible_reason})")),
        ("campaign", nomination.campaign_id),
        ("category", nomination.category),
        ("nominee", f"{nominee.name} ({nominee.kind}, {nominee.organization_id})"),
        ("hospital", nomination.hospital_id),
        ("jurisdiction", nomination.jurisdiction_id or "-"),
        ("next", f"{nomination.route_to} {nomination.route_organization_id}".strip() or "-"),
        ("version", str(nomination.version)),
        ("submitted", _time(nomination.submitted_at) if nomination.HasField("submitted_at")
         else "-"),
    ]
    if nomination.return_reasons:
        rows.append(("reasons", "; ".join(nomination.return_reasons)))
    for label, value in rows:
        summary.add_row(label, value)
    out.print(Panel(summary, title=nomination.nomination_id, title_align="left"))
    form = Table("field", "value", title=f"form ({len(nomination.fields)} fields)",
                 title_justify="left")
    form.columns[1].overflow = "fold"
    for key in sorted(nomination.fields):
        form.add_row(key, nomination.fields[key])
    out.print(form)
    if nomination.attachments:
        files = Table("file", "kind", "type", "bytes", "sha256", title="evidence",
                      title_justify="left")
        for a in nomination.attachments:
            files.add_row(a.filename, a.kind, a.media_type, str(a.size), a.sha256[:12])
        out.print(files)


def _time(stamp: Any) -> str:
    return str(stamp.ToDatetime().astimezone().isoformat(" ", timespec="seconds"))


@app.command(rich_help_panel=READ)
def history(ctx: typer.Context, nomination_id: NominationId, as_json: Json = False) -> None:
    """A nomination's events, who did what, and every field change."""
    client = client_for(ctx)
    reply = client.intake.GetNominationHistory(
        pb.GetNominationHistoryRequest(nomination_id=nomination_id),
        metadata=client.md(), timeout=10)
    if as_json:
        emit_json(as_dict(reply))
        return
    out = console()
    out.print(f"{nomination_id}: {len(reply.entries)} events", style="bold", markup=False)
    for entry in reply.entries:
        who = f"{entry.actor_role} {entry.actor_id}"
        if entry.actor_organization_id:
            who += f" ({entry.actor_organization_id})"
        header = Text()
        header.append(f"v{entry.version}", "bold")
        header.append(f"  {_time(entry.recorded_at)}")
        if entry.HasField("campaign_time") and entry.campaign_time != entry.recorded_at:
            header.append(f" (campaign {_time(entry.campaign_time)})", "dim")
        header.append("  ")
        header.append(entry.event_type, "bold cyan")
        header.append(f"  by {who}", "green")
        out.print(header, soft_wrap=True)
        details = json.loads(entry.details_json or "{}")
        for key in ("reasons", "opinion", "reason", "rule"):
            if details.get(key):
                out.print(f"    {key}: {_said(details[key])}", markup=False, soft_wrap=True)
        for change in entry.changes:
            before = change.before if change.had_before else "∅"
            after = change.after if change.has_after else "∅"
            out.print(f"    {change.field}: {before} → {after}", markup=False,
                      soft_wrap=True)


def _said(value: Any) -> str:
    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)


@app.command("list", rich_help_panel=READ)
def list_(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option(help="only this campaign's")] = "",
    category: Annotated[str, typer.Option(help="only this category's")] = "",
    jurisdiction: Annotated[str, typer.Option(help="only this commission's")] = "",
    status: Annotated[str, typer.Option(
        help=f"only nominations in this status: {', '.join(STATUSES)}",
        callback=lambda value: choice(value, STATUSES, "--status"),
        autocompletion=lambda: list(STATUSES))] = "",
    page_size: Annotated[int, typer.Option(min=1, max=500)] = 50,
    page_token: Annotated[str, typer.Option(help="from the previous page's footer")] = "",
    as_json: Json = False,
) -> None:
    """The nominations you may see, filtered and paged."""
    client = client_for(ctx)
    reply = client.intake.ListNominations(pb.ListNominationsRequest(
        campaign_id=campaign, category=category, jurisdiction_id=jurisdiction,
        status=status, page_size=page_size, page_token=page_token),
        metadata=client.md(), timeout=10)
    if as_json:
        emit_json(as_dict(reply))
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("nomination", no_wrap=True, min_width=36)
    table.add_column("status", no_wrap=True)
    table.add_column("category", overflow="fold")
    table.add_column("nominee (hospital)", overflow="fold")
    for n in reply.nominations:
        status = n.status if n.eligible else f"{n.status} [bold red]ineligible[/]"
        table.add_row(n.nomination_id, status, n.category,
                      f"{escape(n.nominee_name)} [dim]({escape(n.hospital_id)})[/]")
    out = console()
    out.print(table)
    footer = f"{len(reply.nominations)} shown"
    if reply.next_page_token:
        footer += f"; next page: --page-token {shlex.quote(reply.next_page_token)}"
    out.print(footer, markup=False)


# -- the lifecycle -----------------------------------------------------------------------


@app.command(rich_help_panel=ACT)
def endorse(
    ctx: typer.Context,
    nomination_id: NominationId,
    opinion: Annotated[str, typer.Option(help="the commission's opinion (所属卫生健康委意见)",
                                         show_default=False)],
    expect_version: ExpectVersion = None,
) -> None:
    """Endorse as the local health commission."""
    _act(ctx, "EndorseNomination", pb.EndorseNominationRequest(
        nomination_id=nomination_id, opinion=opinion), expect_version)


@app.command("return", rich_help_panel=ACT)
def return_(ctx: typer.Context, nomination_id: NominationId, reason: Reasons,
            expect_version: ExpectVersion = None) -> None:
    """Return to the hospital for correction, with reasons."""
    _act(ctx, "ReturnNomination", pb.ReturnNominationRequest(
        nomination_id=nomination_id, reasons=reason), expect_version)


@app.command(rich_help_panel=ACT)
def reject(ctx: typer.Context, nomination_id: NominationId, reason: Reasons,
           expect_version: ExpectVersion = None) -> None:
    """Decline for good (不同意推荐), with reasons."""
    _act(ctx, "RejectNomination", pb.RejectNominationRequest(
        nomination_id=nomination_id, reasons=reason), expect_version)


@app.command(rich_help_panel=ACT)
def forward(ctx: typer.Context, nomination_id: NominationId,
            expect_version: ExpectVersion = None) -> None:
    """Forward an endorsed nomination to the provincial center."""
    _act(ctx, "ForwardNomination", pb.ForwardNominationRequest(
        nomination_id=nomination_id), expect_version)


@app.command(rich_help_panel=ACT)
def receive(ctx: typer.Context, nomination_id: NominationId,
            expect_version: ExpectVersion = None) -> None:
    """Receive as the organization the nomination is routed to."""
    _act(ctx, "ReceiveNomination", pb.ReceiveNominationRequest(
        nomination_id=nomination_id), expect_version)


@app.command(rich_help_panel=ACT)
def resubmit(
    ctx: typer.Context, nomination_id: NominationId, changes: Changes = None,
    reason: Annotated[str, typer.Option(help="what was corrected")] = "",
    expect_version: ExpectVersion = None,
) -> None:
    """Resubmit a returned nomination with corrections."""
    _act(ctx, "ResubmitNomination", pb.ResubmitNominationRequest(
        nomination_id=nomination_id, fields=_changes(changes), reason=reason),
        expect_version)


@app.command(rich_help_panel=ACT)
def amend(
    ctx: typer.Context, nomination_id: NominationId, changes: Changes = None,
    reason: Annotated[str, typer.Option(help="why the form changes")] = "",
    expect_version: ExpectVersion = None,
) -> None:
    """Amend a submitted nomination before its stage closes."""
    if not changes:
        fail("amend needs at least one --set KEY=VALUE")
    _act(ctx, "AmendNomination", pb.AmendNominationRequest(
        nomination_id=nomination_id, fields=_changes(changes), reason=reason),
        expect_version)


@app.command(rich_help_panel=ACT)
def withdraw(
    ctx: typer.Context, nomination_id: NominationId,
    reason: Annotated[str, typer.Option(help="why, for the record", show_default=False)],
    expect_version: ExpectVersion = None,
) -> None:
    """Withdraw a nomination before a decision."""
    _act(ctx, "WithdrawNomination", pb.WithdrawNominationRequest(
        nomination_id=nomination_id, reason=reason), expect_version)


# -- campaigns ---------------------------------------------------------------------------

campaigns_app = typer.Typer(help="The campaigns intake runs: their stages, forms and rules.",
                            no_args_is_help=True)


def _moment(value: str, option: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time "
                                 "(e.g. 2021-11-25T09:00+08:00)", param_hint=option) from None
    return moment if moment.tzinfo else moment.astimezone()


@campaigns_app.command("list")
def campaigns_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Every campaign, its stages and which are open on its clock."""
    client = client_for(ctx)
    reply = client.intake.ListCampaigns(pb.ListCampaignsRequest(), metadata=client.md(),
                                        timeout=10)
    if as_json:
        emit_json(as_dict(reply))
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("campaign", "name", "clock", "open stages"):
        table.add_column(column, overflow="fold")
    for c in reply.campaigns:
        table.add_row(c.campaign_id, f"{c.name_zh}\n{c.name_en}", _time(c.campaign_now),
                      ", ".join(c.open_stages) or "-")
    console().print(table)


@campaigns_app.command("show")
def campaigns_show(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(metavar="CAMPAIGN_ID",
                                               help="e.g. henan-2021")],
    as_of: Annotated[str, typer.Option(
        "--as-of", help="ISO 8601 campaign time: the definition in force then")] = "",
    recorded_as_of: Annotated[str, typer.Option(
        "--recorded-as-of", help="ISO 8601 wall-clock time: the definition intake's "
        "log held then")] = "",
    as_json: Json = False,
) -> None:
    """A campaign's definition: stages with dates, categories with forms and rules."""
    request = pb.GetCampaignRequest(campaign_id=campaign_id)
    for name, moment in (("as_of", _moment(as_of, "--as-of")),
                         ("recorded_as_of", _moment(recorded_as_of, "--recorded-as-of"))):
        if moment is not None:
            getattr(request, name).FromDatetime(moment)
    client = client_for(ctx)
    reply = client.intake.GetCampaign(request, metadata=client.md(), timeout=10)
    if as_json:
        data = as_dict(reply)
        data["definition"] = json.loads(data.pop("definition_json", "{}"))
        emit_json(data)
        return
    out = console()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    for label, value in (
            ("name", f"{reply.name_zh} / {reply.name_en}"),
            ("version", f"{reply.version} (digest {reply.digest[:12]}, recorded "
                        f"{_time(reply.recorded_at)})"),
            ("organizers", ", ".join(reply.organizer_ids)),
            ("co-organizers", ", ".join(reply.co_organizer_ids) or "-"),
            ("nominators", ", ".join(reply.nominator_kinds)),
            ("receivers", ", ".join(reply.receiver_ids)),
            ("reporting", ", ".join(reply.reporting_ids) or "-"),
            ("look-back ends", reply.lookback_reference_date or "-")):
        summary.add_row(label, value)
    out.print(Panel(summary, title=reply.campaign_id, title_align="left"))
    stages = Table("stage", "name", "from", "to", "permits", title="stages",
                   title_justify="left")
    for s in reply.stages:
        stages.add_row(s.key, s.name_zh, s.start, s.end, ", ".join(s.permits))
    out.print(stages)
    for category in reply.categories:
        form = Table("field", "label", "type", "required", "filled by",
                     title=f"{category.key}: {category.name_zh} "
                           f"({', '.join(category.nominee_kinds)})", title_justify="left")
        for f in category.fields:
            form.add_row(f.key, f.label_zh, f.type, "yes" if f.required else "no",
                         f.filled_by)
        out.print(form)
        out.print(f"  rules: {category.rules_json}", markup=False, soft_wrap=True)
