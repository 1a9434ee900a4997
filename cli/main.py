"""`catalog`: the product-catalog importer from a terminal or CI, through its HTTP API only.

    catalog import products.csv [--mapping NAME]    upload, follow the import, print its summary
    catalog import products.csv --preview           the same as a dry run: what it would change, nothing written
    catalog import --from IMPORT_ID                 import the file an earlier import or preview uploaded
    catalog imports ls | show ID | cancel ID | errors ID --out bad.csv
    catalog products ls --sku AB- | get SKU | export --out catalog.csv
    catalog webhooks ls | add URL --events product.created | test ID | deliveries ID

The API and the token come from --api/--token or CATALOG_API/CATALOG_TOKEN; or give a client id
and secret (--client-id/--client-secret, CATALOG_CLIENT_ID/CATALOG_CLIENT_SECRET) and the CLI gets a
token by client credentials from --token-url (for a local cloud's API: its own issuer).

Exit codes: 0 done; 1 a failure (an API error, a FAILED or CANCELLED import, more bad rows than
--max-bad-rows); 2 a usage error. Progress and messages go to stderr, results to stdout.
"""
from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Optional
from urllib.parse import quote

import typer
from rich import box, progress
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli import client
from cli.client import TERMINAL, Api, ApiError, ClientError

LOCAL_API = "http://127.0.0.1:3000"

app = typer.Typer(name="catalog", help="The product-catalog importer from a terminal or CI: imports, products, "
                                       "export and webhooks, through its HTTP API.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False, rich_markup_mode=None)
imports_app = typer.Typer(help="The import history: list, show, cancel, download the bad rows.", no_args_is_help=True)
products_app = typer.Typer(help="Products: list, get one, export as CSV.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook endpoints: list, add, send a test event, recent deliveries.",
                           no_args_is_help=True)
app.add_typer(imports_app, name="imports")
app.add_typer(products_app, name="products")
app.add_typer(webhooks_app, name="webhooks")


@dataclass
class State:
    """What the global options decided, for every command."""
    api: Api
    json: bool
    out: Console
    err: Console


# Results to stdout, progress and messages to stderr (run_import takes its consoles: tests pass recording ones).
def make_consoles() -> tuple[Console, Console]:
    return Console(highlight=False), Console(stderr=True, highlight=False)


def _state(ctx: typer.Context) -> State:
    return ctx.find_root().obj


def handled(command: Callable) -> Callable:
    """API and connection errors become a readable message on stderr and exit code 1 (every command
    takes `ctx`, whose root holds the State)."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ApiError, ClientError) as error:
            state = kwargs["ctx"].find_root().obj
            if isinstance(error, ApiError):
                print_api_error(state.err, error)
            else:
                state.err.print(f"[red]Error:[/red] {escape(str(error))}")
        raise typer.Exit(1)
    return run


def print_api_error(err: Console, error: ApiError) -> None:
    err.print(f"[red]Error:[/red] {error.status} {escape(error.message)}  [dim]({error.method} {escape(error.url)})[/dim]")
    for name, problem in error.fields.items():
        err.print(f"  [bold]{escape(str(name))}[/bold]: {escape(str(problem))}")
    if error.hint() and not error.fields:
        err.print(f"  [dim]{escape(error.hint())}[/dim]")


@app.callback()
def main_options(
        ctx: typer.Context,
        api: Annotated[str, typer.Option(envvar="CATALOG_API", help="The HTTP API's base URL (stack output ApiUrl)")]
        = LOCAL_API,
        token: Annotated[Optional[str], typer.Option(envvar="CATALOG_TOKEN", show_default=False,
                                                     help="An access token (JWT)")] = None,
        client_id: Annotated[Optional[str], typer.Option(envvar="CATALOG_CLIENT_ID",
                                                         help="Get a token by client credentials: the client id")] = None,
        client_secret: Annotated[Optional[str], typer.Option(envvar="CATALOG_CLIENT_SECRET", show_default=False,
                                                             help="... and its secret")] = None,
        token_url: Annotated[Optional[str], typer.Option(
            envvar="CATALOG_TOKEN_URL", help="... from this token endpoint (stack output TokenUrl; default for a "
                                             "local API: <api>/local-auth/oauth2/token)")] = None,
        scope: Annotated[Optional[str], typer.Option(envvar="CATALOG_SCOPE",
                                                     help="... with this scope (catalog/read or catalog/admin)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON")] = False):
    """Talk to the catalog importer's HTTP API."""
    out, err = make_consoles()
    api = api.rstrip("/")

    def get_token() -> str:
        if token:
            return token
        if not client_id or not client_secret:
            raise typer.BadParameter("give --token (CATALOG_TOKEN), or --client-id and --client-secret "
                                     "(CATALOG_CLIENT_ID, CATALOG_CLIENT_SECRET)", param_hint="--token")
        url = token_url or client.default_token_url(api)
        if not url:
            raise typer.BadParameter("give the token endpoint for a client id (stack output TokenUrl)",
                                     param_hint="--token-url")
        return client.client_credentials_token(url, client_id, client_secret, scope)

    ctx.obj = State(Api(api, get_token, refresh=not token and bool(client_id)), as_json, out, err)


@app.command("token")
@handled
def token_command(ctx: typer.Context):
    """Print an access token (from --client-id/--client-secret), e.g. for CATALOG_TOKEN."""
    sys.stdout.write(_state(ctx).api.token() + "\n")


# --- import ---------------------------------------------------------------------------------
# The bars never take over sys.stdout/stderr (Rich's default): everything the CLI prints goes through
# its consoles, and CSV to stdout (export --out -) must not pass through a live display.
def _upload_progress(err: Console) -> progress.Progress:
    return progress.Progress(
        progress.TextColumn("Uploading [bold]{task.description}"), progress.BarColumn(), progress.DownloadColumn(),
        progress.TransferSpeedColumn(), progress.TimeRemainingColumn(), console=err, transient=False,
        redirect_stdout=False, redirect_stderr=False)


def _import_progress(err: Console) -> progress.Progress:
    """Status (the phase: PENDING, QUEUED, PLANNING, PROCESSING, FINALIZING, then how it ended), bar,
    percent, rows done of all, rows/s and ETA, all as GET /imports/{id} reports them."""
    return progress.Progress(
        progress.SpinnerColumn(finished_text="[green]✓"), progress.TextColumn("[bold]{task.fields[status]:<10}"),
        progress.BarColumn(), progress.TextColumn("{task.fields[percent]:>5.1f}%"),
        progress.TextColumn("{task.fields[rows]} rows"), progress.TextColumn("{task.fields[rate]} rows/s"),
        progress.TextColumn("ETA {task.fields[eta]}"), console=err, transient=False,
        redirect_stdout=False, redirect_stderr=False)


def _eta(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _progress_fields(item: dict) -> dict:
    total, done = item.get("total_rows") or 0, item.get("rows_processed") or 0
    status = item.get("status", "?")
    return {"status": status, "percent": float(item.get("percent") or 0.0),
            "rows": f"{done:,}/{total:,}" if total else f"{done:,}/?",
            "rate": f"{float(item.get('rows_per_second') or 0):,.0f}",
            "eta": _eta(item.get("eta_seconds")) if status not in TERMINAL else "0:00:00"}


def run_import(api: Api, path: Optional[Path], *, wait: bool, max_bad_rows: Optional[int], out: Console,
               err: Console, poll_interval: float = 1.0, timeout: Optional[float] = None, as_json: bool = False,
               preview: bool = False, from_import: Optional[str] = None,
               mapping: Optional[str] = None) -> int:
    """`catalog import`: returns the exit code. Raises ApiError/ClientError. `preview`: a dry run;
    `from_import`: no upload, the file that import uploaded is used again; `mapping`: a saved
    column-mapping preset's name."""
    mode = "preview" if preview else "import"
    if from_import:
        item = api.start_from(from_import, mode, preset=mapping)["import"]
        import_id = item["id"]
        err.print(f"{mode.capitalize()} [bold]{import_id}[/bold] started from the file of {escape(from_import)} "
                  f"({escape(item.get('file_name', ''))})")
    else:
        size = path.stat().st_size
        created = api.create_import(path.name, size, mode, preset=mapping)
        item, form = created["import"], created["upload"]
        import_id = item["id"]
        err.print(f"{mode.capitalize()} [bold]{import_id}[/bold] created for {escape(path.name)} ({size:,} bytes)")
        with _upload_progress(err) as bar:
            task = bar.add_task(path.name, total=size)
            client.upload(form, path, lambda n: bar.advance(task, n))
    if not wait:
        if as_json:
            out.print_json(data=item)
        else:
            out.print(import_id)
        err.print(f"Follow it with: catalog imports show {import_id}")
        return 0

    with _import_progress(err) as bar:
        task = bar.add_task(import_id, total=None, **_progress_fields(item))

        waits_told = set()

        def on_poll(current: dict) -> None:
            waiting_for = current.get("waiting_for")
            if current.get("status") == "QUEUED" and waiting_for and waiting_for not in waits_told:
                waits_told.add(waiting_for)      # one bulk change of the catalog at a time (README Concurrency)
                bar.console.print(f"Queued: import {waiting_for} holds the catalog; this one starts when it ends",
                                  soft_wrap=True)
            total = current.get("total_rows") or None
            done = current.get("rows_processed") or 0
            if current.get("status") == "SUCCEEDED":
                total = total or max(done, 1)
                done = total
            bar.update(task, total=total, completed=done, **_progress_fields(current))

        try:
            item = api.wait_for_import(import_id, on_poll, interval=poll_interval, timeout=timeout)
        except KeyboardInterrupt:
            err.print(f"\nStopped following; the import goes on. Cancel it with: catalog imports cancel {import_id}")
            return 130
    print_summary(api, item, out, as_json)
    return import_exit_code(item, max_bad_rows, err)


def import_exit_code(item: dict, max_bad_rows: Optional[int], err: Console) -> int:
    if item["status"] != "SUCCEEDED":
        err.print(f"[red]Import {item['status']}[/red]" + (f": {escape(item['error'])}" if item.get("error") else ""))
        return 1
    failed = int(item.get("failed") or 0)
    if max_bad_rows is not None and failed > max_bad_rows:
        err.print(f"[red]{failed:,} bad rows, more than --max-bad-rows {max_bad_rows}[/red]")
        return 1
    return 0


def print_summary(api: Api, item: dict, out: Console, as_json: bool = False) -> None:
    if as_json:
        out.print_json(data=item)
        return
    colour = {"SUCCEEDED": "green", "FAILED": "red", "CANCELLED": "yellow"}.get(item["status"], "cyan")
    preview = item.get("mode") == "preview"
    out.print(f"{'Preview' if preview else 'Import'} {item['id']}: [bold {colour}]{item['status']}[/bold {colour}]"
              + (" (a dry run: nothing was written; the counts say what an import would do)" if preview else ""),
              soft_wrap=True)
    table = Table()
    for name in ("rows", "created", "updated", "unchanged", "failed", "duplicates"):
        table.add_column(name, justify="right")
    table.add_row(*(f"{int(item.get(k) or 0):,}" for k in
                    ("rows_processed", "created", "updated", "unchanged", "failed", "duplicates")))
    out.print(table)
    out.print(f"{escape(item.get('file_name', ''))}: {float(item.get('elapsed_seconds') or 0):.1f} s, "
              f"{float(item.get('rows_per_second') or 0):,.0f} rows/s")
    if item.get("column_mapping"):
        out.print("Columns: " + escape(", ".join(f"{field} <- {header}" for field, header in item["column_mapping"].items())),
                  soft_wrap=True)
    if item.get("missing_columns"):
        out.print(f"Missing columns: {escape(', '.join(item['missing_columns']))}; the file has: "
                  f"{escape(', '.join(item.get('headers') or []))}", soft_wrap=True)
    if item.get("unknown_columns"):
        out.print(f"Ignored columns: {escape(', '.join(item['unknown_columns']))}")
    if item.get("error"):
        out.print(f"[{colour}]{escape(item['error'])}[/{colour}]")
    if item.get("error_report_url"):
        out.print(f"Bad rows: {api.url(item['error_report_url'])}", soft_wrap=True)
        out.print(f"  catalog imports errors {item['id']} --out errors.csv", soft_wrap=True)
    if preview:
        print_preview(item, out)


def print_preview(item: dict, out: Console) -> None:
    """A preview's per-field change counts, its sample of changes (old -> new) and how to import the file."""
    changes = item.get("field_changes") or {}
    table = Table(title="Products that would change, per field", title_justify="left")
    for name in changes:
        table.add_column(name, justify="right")
    table.add_row(*(f"{int(v or 0):,}" for v in changes.values()))
    out.print(table)
    sample = item.get("sample_changes") or []
    if sample:
        table = Table(title=f"First {len(sample)} changes", title_justify="left", box=box.SIMPLE_HEAD)
        for name in ("line", "sku", "field", "old", "new"):
            table.add_column(name, justify="right" if name == "line" else "left", overflow="fold")
        for change in sample:
            table.add_row(str(change["line"]), escape(change["sku"]), change["field"],
                          escape(_cell(change["old"])), escape(_cell(change["new"])))
        out.print(table)
    if item["status"] == "SUCCEEDED":
        out.print(f"Import this file: catalog import --from {item['id']}", soft_wrap=True)


@app.command("import")
@handled
def import_command(
        ctx: typer.Context,
        file: Annotated[Optional[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                                      help="The CSV file (not with --from)")] = None,
        preview: Annotated[bool, typer.Option("--preview", help="A dry run: report what the import would change "
                                                                "(counts, per field, a sample), write nothing")] = False,
        from_import: Annotated[Optional[str], typer.Option("--from", metavar="IMPORT_ID",
                                                           help="Use the file this import or preview uploaded "
                                                                "(no upload), e.g. to import a previewed file")] = None,
        wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the import until it ends")] = True,
        max_bad_rows: Annotated[Optional[int], typer.Option(min=0, help="Exit 1 when more rows than this fail")] = None,
        poll_interval: Annotated[float, typer.Option(min=0.1, help="Seconds between progress reads")] = 1.0,
        timeout: Annotated[Optional[float], typer.Option(min=1, help="Give up following after this many seconds")]
        = None,
        mapping: Annotated[Optional[str], typer.Option(metavar="NAME", help="A saved column-mapping preset "
                                                       "(GET /mappings) to apply over the built-in aliases")] = None):
    """Upload FILE (a presigned POST, with a byte progress bar), follow the import's progress and print
    its summary and the bad-rows link. Exit 1 when it ends FAILED or CANCELLED or has more bad rows than
    --max-bad-rows."""
    state = _state(ctx)
    if (file is None) == (from_import is None):
        raise typer.BadParameter("give a FILE to upload, or --from IMPORT_ID (not both)", param_hint="FILE")
    code = run_import(state.api, file, wait=wait, max_bad_rows=max_bad_rows, out=state.out, err=state.err,
                      poll_interval=poll_interval, timeout=timeout, as_json=state.json, preview=preview,
                      from_import=from_import, mapping=mapping)
    raise typer.Exit(code)


# --- imports --------------------------------------------------------------------------------
IMPORT_COLUMNS = ("id", "status", "file_name", "created_at", "rows_processed", "failed")   # the rest: show ID


NO_WRAP = ("id", "sku", "status", "delivery_id", "timestamp", "created_at", "updated_at")
TIMESTAMPS = ("created_at", "updated_at", "timestamp")


def _cell(value, short: bool = False) -> str:
    if short and isinstance(value, str) and len(value) > 19:
        return value[:19].replace("T", " ")      # ISO 8601 UTC to the second, in a table
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def print_table(out: Console, rows: list[dict], columns: tuple[str, ...], title: str | None = None) -> None:
    if not rows:
        out.print("(none)")
        return
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for name in columns:
        numeric = any(isinstance(row.get(name), (int, float)) and not isinstance(row.get(name), bool) for row in rows)
        table.add_column(name.replace("rows_processed", "rows"), overflow="fold", justify="right" if numeric else "left",
                         no_wrap=numeric or name in NO_WRAP, min_width=8 if name in ("file_name", "url", "name") else None)
    for row in rows:
        table.add_row(*(escape(_cell(row.get(name), short=name in TIMESTAMPS)) for name in columns))
    out.print(table)


def print_item(out: Console, item: dict) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in item.items():
        nested = isinstance(value, dict) or isinstance(value, list) and any(isinstance(v, dict) for v in value)
        table.add_row(name, escape(json.dumps(value) if nested else _cell(value)))
    out.print(table)


@imports_app.command("ls")
@handled
def imports_ls(ctx: typer.Context,
               limit: Annotated[int, typer.Option(min=1, max=100, help="How many")] = 20,
               next: Annotated[Optional[str], typer.Option("--next", help="Cursor of the next page")] = None):
    """The import history, newest first."""
    state = _state(ctx)
    page = state.api.get("/imports", limit=limit, next=next)
    if state.json:
        state.out.print_json(data=page)
        return
    print_table(state.out, page["items"], IMPORT_COLUMNS)
    if page.get("next"):
        state.err.print(f"More: catalog imports ls --next {page['next']}", soft_wrap=True)


@imports_app.command("show")
@handled
def imports_show(ctx: typer.Context, import_id: Annotated[str, typer.Argument(metavar="ID")]):
    """One import: status, counts, timings, error, bad-rows link."""
    state = _state(ctx)
    item = state.api.get_import(import_id)
    if state.json:
        state.out.print_json(data=item)
        return
    if item.get("error_report_url"):
        item["error_report_url"] = state.api.url(item["error_report_url"])
    print_item(state.out, item)


@imports_app.command("cancel")
@handled
def imports_cancel(ctx: typer.Context, import_id: Annotated[str, typer.Argument(metavar="ID")]):
    """Cancel a running import (chunks that have not started skip themselves)."""
    state = _state(ctx)
    item = state.api.post(f"/imports/{quote(import_id, safe='')}/cancel")
    if state.json:
        state.out.print_json(data=item)
    else:
        state.out.print(f"{item['id']} {item['status']}")


@imports_app.command("errors")
@handled
def imports_errors(ctx: typer.Context, import_id: Annotated[str, typer.Argument(metavar="ID")],
                   out: Annotated[Optional[Path], typer.Option("--out", "-o", dir_okay=False,
                                                               help="Write the report here (default: stdout)")] = None):
    """Download an import's bad-rows report (CSV: line, column, message, then the row's values)."""
    state = _state(ctx)
    blocks = state.api.error_report(import_id)
    if out is None:
        for block in blocks:
            sys.stdout.buffer.write(block)
        sys.stdout.flush()
        return
    size = 0
    with out.open("wb") as f:
        for block in blocks:
            f.write(block)
            size += len(block)
    state.err.print(f"Wrote {out} ({size:,} bytes)")


# --- products -------------------------------------------------------------------------------
NameOption = Annotated[Optional[str], typer.Option("--name", "-q", help="Name contains (any letter case)")]
SkuOption = Annotated[Optional[str], typer.Option("--sku", help="SKU prefix (any letter case)")]
ActiveOption = Annotated[Optional[bool], typer.Option("--active/--inactive", show_default=False,
                                                      help="Active or inactive products only")]


def _active_param(active: Optional[bool]) -> Optional[str]:
    return None if active is None else str(active).lower()


@products_app.command("ls")
@handled
def products_ls(ctx: typer.Context, name: NameOption = None, sku: SkuOption = None, active: ActiveOption = None,
                limit: Annotated[int, typer.Option(min=1, max=200, help="Page size")] = 50,
                cursor: Annotated[Optional[str], typer.Option(help="`next` or `prev` of a page")] = None):
    """One page of products in SKU order."""
    state = _state(ctx)
    page = state.api.get("/products", sku=sku, q=name, active=_active_param(active), limit=limit, cursor=cursor)
    if state.json:
        state.out.print_json(data=page)
        return
    print_table(state.out, page["items"], ("sku", "name", "price", "active", "updated_at"))
    matches = page.get("matches")
    state.err.print(f"{len(page['items'])} shown; {matches if matches is not None else 'some'} matching, "
                    f"{page['total']:,} in the catalog")
    if page.get("next"):
        state.err.print(f"Next page: --cursor {page['next']}", soft_wrap=True)


@products_app.command("get")
@handled
def products_get(ctx: typer.Context, sku: Annotated[str, typer.Argument(help="The SKU (any letter case)")]):
    """One product."""
    state = _state(ctx)
    product = state.api.get(f"/products/{quote(sku, safe='')}")
    if state.json:
        state.out.print_json(data=product)
    else:
        print_item(state.out, product)


def _export_progress(err: Console) -> progress.Progress:
    """Status, bar, products written of all (all: known for an unfiltered export), elapsed time."""
    return progress.Progress(
        progress.SpinnerColumn(finished_text="[green]✓"), progress.TextColumn("[bold]{task.fields[status]:<9}"),
        progress.BarColumn(), progress.TextColumn("{task.fields[done]}/{task.fields[of]} products"),
        progress.TimeElapsedColumn(), console=err, transient=False, redirect_stdout=False, redirect_stderr=False)


def run_export(api: Api, out: Path, *, sku: Optional[str], name: Optional[str], active: Optional[bool],
               err: Console, poll_interval: float = 0.5, timeout: Optional[float] = None) -> int:
    """`catalog products export`: starts the export job (GET /products/export), shows its progress,
    then downloads the file from its signed link. Returns the exit code; raises ApiError/ClientError."""
    job = api.start_export(sku=sku, name=name, active=active)
    err.print(f"Export [bold]{job['id']}[/bold] started", soft_wrap=True)
    with _export_progress(err) as bar:
        task = bar.add_task("export", total=None, status=job["status"], done="0", of="?")

        def on_poll(current: dict) -> None:
            rows, total = int(current.get("rows") or 0), current.get("total")
            if current["status"] == "SUCCEEDED":
                total = rows
            bar.update(task, total=max(total, 1) if total is not None else None,
                       completed=max(rows, 1) if current["status"] == "SUCCEEDED" else rows,
                       status=current["status"], done=f"{rows:,}", of=f"{total:,}" if total is not None else "?")
        try:
            job = api.wait_for_export(job, on_poll, interval=poll_interval, timeout=timeout)
        except KeyboardInterrupt:
            err.print(f"\nStopped following; the export goes on (GET {job['url']})")
            return 130
    if job["status"] != "SUCCEEDED":
        err.print(f"[red]Export {job['status']}[/red]" + (f": {escape(job['error'])}" if job.get("error") else ""))
        return 1
    to_stdout = str(out) == "-"
    # Written beside the target and renamed at the end: a failed download leaves no half file behind.
    partial = None if to_stdout else out.with_name(out.name + ".part")
    try:
        if partial is None:
            for block in api.download(job["download_url"]):
                sys.stdout.buffer.write(block)
            sys.stdout.flush()
        else:
            with partial.open("wb") as f:
                for block in api.download(job["download_url"]):
                    f.write(block)
            partial.replace(out)
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    err.print(f"Exported {int(job['rows']):,} products to {'stdout' if to_stdout else out} "
              f"({int(job['bytes']):,} bytes, {float(job.get('elapsed_seconds') or 0):.1f} s)")
    return 0


@products_app.command("export")
@handled
def products_export(ctx: typer.Context,
                    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False,
                                                      help="The CSV file to write ('-': stdout)")],
                    name: NameOption = None, sku: SkuOption = None, active: ActiveOption = None,
                    poll_interval: Annotated[float, typer.Option(min=0.1, help="Seconds between progress reads")] = 0.5,
                    timeout: Annotated[Optional[float], typer.Option(min=1, help="Give up waiting after this many seconds")]
                    = None):
    """Export the catalog (or the products matching the filters) as a CSV with the import's columns
    (sku,name,description,price,active): importing it back changes nothing. Runs as an export job on
    the server (GET /products/export), then downloads the file."""
    state = _state(ctx)
    raise typer.Exit(run_export(state.api, out, sku=sku, name=name, active=active, err=state.err,
                                poll_interval=poll_interval, timeout=timeout))


# --- webhooks -------------------------------------------------------------------------------
@webhooks_app.command("ls")
@handled
def webhooks_ls(ctx: typer.Context):
    """Every webhook endpoint."""
    state = _state(ctx)
    body = state.api.get("/webhooks")
    if state.json:
        state.out.print_json(data=body)
        return
    print_table(state.out, body["items"], ("id", "url", "event_types", "status", "enabled", "secret_hint"))


@webhooks_app.command("add")
@handled
def webhooks_add(ctx: typer.Context, url: Annotated[str, typer.Argument(help="http(s) URL that receives signed POSTs")],
                 events: Annotated[Optional[list[str]], typer.Option(
                     "--events", "-e", help="Event type to send (repeat, or comma-separate); default: all (*)")] = None,
                 description: Annotated[str, typer.Option(help="What it is for")] = ""):
    """Add a webhook endpoint; prints its signing secret, which is shown only now."""
    state = _state(ctx)
    types = [t.strip() for e in (events or ["*"]) for t in e.split(",") if t.strip()]
    endpoint = state.api.post("/webhooks", {"url": url, "event_types": types, "description": description},
                              expected=(201,))
    if state.json:
        state.out.print_json(data=endpoint)
        return
    state.out.print(f"Webhook [bold]{endpoint['id']}[/bold] → {escape(endpoint['url'])} "
                    f"({', '.join(endpoint['event_types'])})")
    state.out.print(f"Signing secret (shown only now): {endpoint['secret']}")


@webhooks_app.command("test")
@handled
def webhooks_test(ctx: typer.Context, endpoint_id: Annotated[str, typer.Argument(metavar="ID")],
                  event_type: Annotated[str, typer.Option(help="Type of the sample event")] = "webhook.test"):
    """Send a signed sample event now; exit 1 when the receiver does not answer 2xx."""
    state = _state(ctx)
    result = state.api.post(f"/webhooks/{quote(endpoint_id, safe='')}/test", {"event_type": event_type})
    if state.json:
        state.out.print_json(data=result)
    else:
        answer = result.get("status_code") if result.get("status_code") is not None else "no answer"
        colour = "green" if result.get("ok") else "red"
        state.out.print(f"[{colour}]{'delivered' if result.get('ok') else 'not delivered'}[/{colour}]: {answer} "
                        f"in {float(result.get('response_ms') or 0):.0f} ms (webhook-id {result.get('webhook_id')})"
                        + (f": {escape(result['error'])}" if result.get("error") else ""))
    if not result.get("ok"):
        raise typer.Exit(1)


@webhooks_app.command("deliveries")
@handled
def webhooks_deliveries(ctx: typer.Context, endpoint_id: Annotated[str, typer.Argument(metavar="ID")],
                        limit: Annotated[int, typer.Option(min=1, max=100, help="How many")] = 50,
                        next: Annotated[Optional[str], typer.Option("--next", help="Cursor of the next page")] = None):
    """Recent delivery attempts of an endpoint, newest first."""
    state = _state(ctx)
    page = state.api.get(f"/webhooks/{quote(endpoint_id, safe='')}/deliveries", limit=limit, next=next)
    if state.json:
        state.out.print_json(data=page)
        return
    print_table(state.out, page["items"], ("timestamp", "event_type", "delivery_id", "attempt", "outcome",
                                           "status_code", "response_ms", "error"))
    if page.get("next"):
        state.err.print(f"More: --next {page['next']}", soft_wrap=True)


def main() -> None:
    app(prog_name="catalog")
