"""The `catalog` command-line client (cli/) against the session's local cloud, through the HTTP API
only: run in-process with Typer's CliRunner, as the installed console script under a
pseudo-terminal, and through run_import with Rich's recording console for the progress display."""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from rich.console import Console
from rich.filesize import decimal
from typer.testing import CliRunner

from cli import main as cli_main
from cli.client import POLL_RETRIES, Api, ApiError, ClientError, default_token_url
from local.identity import MACHINE_CLIENTS
from tests.support.auth import api_session, token
from tests.support.cloud import all_products, get_import, upload_via_api, wait_for_import, wait_until
from tests.support.receiver import Receiver

HEADER = "sku,name,description,price,active\n"


def run(cloud, *args: str, role: str | None = "admin", env: dict | None = None):
    """`catalog ARGS` in-process, with the API and a token of `role` from the environment (as a
    script would set CATALOG_API and CATALOG_TOKEN)."""
    environment = {"CATALOG_API": cloud.api_url, "CATALOG_TOKEN": token(cloud, role) if role else None,
                   "CATALOG_CLIENT_ID": None, "CATALOG_CLIENT_SECRET": None, "CATALOG_TOKEN_URL": None,
                   "CATALOG_SCOPE": None, "COLUMNS": "200", **(env or {})}
    result = CliRunner().invoke(cli_main.app, list(args), env=environment, prog_name="catalog")
    return Run(result.exit_code, own_lines(result.stdout), own_lines(result.stderr),
               own_lines(result.stdout_bytes.decode()).encode())


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    @property
    def output(self) -> str:
        return f"exit {self.exit_code}\n{self.stdout}\n{self.stderr}"


def own_lines(text: str) -> str:
    """The CLI's output without what the local cloud's handlers, which run in this process, print
    meanwhile to the same stdout: one-line JSON (Powertools' EMF metrics and log records)."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not (line.startswith('{"') and ('"_aws"' in line or '"level"' in line)))


def write_csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def prefix() -> str:
    return f"CLI-{uuid.uuid4().hex[:8]}-"


def import_id_in(output: str) -> str:
    found = re.search(r"Import (imp_[0-9]{8}T[0-9]{6}_[0-9a-f]{12}) created", output)
    assert found, output
    return found.group(1)


def counts_row(output: str) -> list[int]:
    """The summary table's row: rows, created, updated, unchanged, failed, duplicates."""
    rows = [line for line in output.splitlines() if re.fullmatch(r"[│|](\s*[0-9,]+\s*[│|])+", line.strip())]
    assert len(rows) == 1, output
    return [int(cell.replace(",", "")) for cell in re.findall(r"[0-9,]+", rows[0])]



BAR = re.compile(r"(PENDING|QUEUED|PLANNING|PROCESSING|FINALIZING|SUCCEEDED|FAILED|CANCELLED) +[━╺╸]+ +"
                 r"([0-9.]+)% ([0-9,]+|\?)/([0-9,]+|\?) rows ([0-9,]+) rows/s ETA (\S+)")


def bar_frames(text: str) -> list[tuple[str, ...]]:
    """Each frame of the import's progress bar: (status, percent, rows done, rows in all, rows/s, ETA)."""
    return BAR.findall(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text))


def read_csv(path: Path) -> list[list[str]]:
    """A CSV file's rows, line breaks inside quoted fields kept as they are (CRLF too)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


# --- import --------------------------------------------------------------------------------------
def test_import_prints_the_summary_and_exits_0(local_cloud, tmp_path):
    p = prefix()
    path = write_csv(tmp_path, "three.csv", HEADER + f"{p}1,One,,1.00,true\n{p}2,Two,x,2.50,false\n{p}3,Three,,,yes\n")
    result = run(local_cloud, "import", str(path), "--poll-interval", "0.2", "--timeout", "120")
    assert result.exit_code == 0, result.output
    import_id = import_id_in(result.stderr)
    assert f"Import {import_id}: SUCCEEDED" in result.stdout
    assert counts_row(result.stdout) == [3, 3, 0, 0, 0, 0]
    assert "Bad rows" not in result.stdout
    item = get_import(local_cloud, import_id)
    assert (item["status"], item["created"], item["failed"]) == ("SUCCEEDED", 3, 0)
    stored = all_products(local_cloud)
    assert (stored[f"{p}2".lower()]["price"], stored[f"{p}2".lower()]["active"]) == ("2.50", False)


def test_bad_rows_over_max_bad_rows_exit_1_and_the_report_downloads(local_cloud, tmp_path):
    p = prefix()
    path = write_csv(tmp_path, "bad.csv", HEADER + f"{p}1,Good,,1.00,true\n{p}2,,no name,1.00,true\n"
                                                   f"{p}3,Bad price,,abc,true\n{p}4,Good too,,2.00,false\n")
    result = run(local_cloud, "import", str(path), "--max-bad-rows", "0", "--poll-interval", "0.2")
    assert result.exit_code == 1, result.output
    import_id = import_id_in(result.stderr)
    assert counts_row(result.stdout) == [4, 2, 0, 0, 2, 0]
    assert f"{local_cloud.api_url}/imports/{import_id}/errors" in result.stdout
    assert "2 bad rows, more than --max-bad-rows 0" in result.stderr

    # Within the limit: exit 0 (the same file again: the good rows unchanged, the bad ones bad again).
    again = run(local_cloud, "import", str(path), "--max-bad-rows", "2", "--poll-interval", "0.2")
    assert again.exit_code == 0, again.output
    assert counts_row(again.stdout) == [4, 0, 0, 2, 2, 0]

    report = tmp_path / "errors.csv"
    saved = run(local_cloud, "imports", "errors", import_id, "--out", str(report))
    assert saved.exit_code == 0, saved.output
    rows = read_csv(report)
    assert rows[0][:3] == ["line", "column", "message"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [("3", "name", f"{p}2"), ("4", "price", f"{p}3")]
    to_stdout = run(local_cloud, "imports", "errors", import_id)
    assert to_stdout.exit_code == 0 and to_stdout.stdout_bytes == report.read_bytes()


def test_a_failed_import_exits_1_with_its_message(local_cloud, tmp_path):
    path = write_csv(tmp_path, "no-sku.csv", "name,price\nWidget,1.00\n")
    result = run(local_cloud, "import", str(path), "--poll-interval", "0.2")
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout and "Import FAILED" in result.stderr
    assert "sku" in result.stderr.lower()
    assert get_import(local_cloud, import_id_in(result.stderr))["status"] == "FAILED"


def test_import_no_wait_prints_the_id_and_cancel_cancels_it(local_cloud, tmp_path):
    p = prefix()
    path = write_csv(tmp_path, "many.csv", HEADER + "".join(f"{p}{i:05d},Item {i},,{i}.00,true\n" for i in range(20000)))
    started = run(local_cloud, "import", str(path), "--no-wait")
    assert started.exit_code == 0, started.output
    import_id = started.stdout.strip()
    assert import_id == import_id_in(started.stderr)
    cancelled = run(local_cloud, "imports", "cancel", import_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout.strip() == f"{import_id} CANCELLED"
    assert wait_for_import(local_cloud, import_id)["status"] == "CANCELLED"
    # An import that has ended cannot be cancelled: the API's 409, printed, exit 1.
    again = run(local_cloud, "imports", "cancel", import_id)
    assert again.exit_code == 1
    assert "Error: 409" in again.stderr


def test_an_import_cancelled_while_followed_exits_1(local_cloud, tmp_path):
    p = prefix()
    path = write_csv(tmp_path, "long.csv", HEADER + "".join(f"{p}{i:05d},Item {i},,1.00,true\n" for i in range(30000)))
    api = Api(local_cloud.api_url, lambda: token(local_cloud))
    out, err = Console(record=True, file=io.StringIO()), Console(record=True, file=io.StringIO())
    codes = []
    follower = threading.Thread(target=lambda: codes.append(cli_main.run_import(
        api, path, wait=True, max_bad_rows=None, out=out, err=err, poll_interval=0.2, timeout=120)))
    follower.start()
    import_id = wait_until(lambda: (m := re.search(r"imp_\w+", err.export_text(clear=False))) and m.group(0),
                           message="the import's id on stderr")
    wait_until(lambda: get_import(local_cloud, import_id)["status"] in ("PLANNING", "PROCESSING"), timeout=60,
               message="the import running")
    assert api_session(local_cloud).post(f"{local_cloud.api_url}/imports/{import_id}/cancel", timeout=30).status_code == 200
    follower.join(120)
    assert codes == [1]
    assert "CANCELLED" in out.export_text() and "Import CANCELLED" in err.export_text()


def test_an_import_queued_behind_another_says_what_it_waits_for(local_cloud, tmp_path):
    p = prefix()
    big = write_csv(tmp_path, "first.csv", HEADER + "".join(f"{p}{i:05d},Item {i},,1.00,true\n" for i in range(30000)))
    first = upload_via_api(local_cloud, big)
    wait_until(lambda: get_import(local_cloud, first)["status"] == "PROCESSING", timeout=60, message="the first running")
    small = write_csv(tmp_path, "second.csv", HEADER + f"{p}x,Second,,2.00,true\n")
    result = run(local_cloud, "import", str(small), "--poll-interval", "0.2", "--timeout", "180")
    assert result.exit_code == 0, result.output
    assert f"Queued: import {first} holds the catalog; this one starts when it ends" in result.stderr
    assert wait_for_import(local_cloud, first)["status"] == "SUCCEEDED"


# --- the progress display ------------------------------------------------------------------------
def test_progress_bars_show_bytes_rows_and_a_final_100_percent(local_cloud, tmp_path):
    p = prefix()
    rows = 5000
    path = write_csv(tmp_path, "progress.csv", HEADER + "".join(f"{p}{i:05d},Item {i},,3.00,true\n" for i in range(rows)))
    api = Api(local_cloud.api_url, lambda: token(local_cloud))
    out = Console(record=True, width=140, file=io.StringIO())
    err = Console(record=True, width=140, force_terminal=True, file=io.StringIO())   # a terminal: live bars
    code = cli_main.run_import(api, path, wait=True, max_bad_rows=0, out=out, err=err, poll_interval=0.2, timeout=120)
    assert code == 0
    shown = err.export_text()
    size = decimal(path.stat().st_size)            # "198.9 kB"
    assert re.search(rf"Uploading {path.name} ━+ {re.escape(size.split()[0])}/{re.escape(size)} ", shown), shown
    frames = bar_frames(shown)
    assert len(frames) >= 2, shown
    assert frames[-1][:4] == ("SUCCEEDED", "100.0", f"{rows:,}", f"{rows:,}"), frames[-1]
    assert {f[0] for f in frames} <= {"PENDING", "QUEUED", "PLANNING", "PROCESSING", "FINALIZING", "SUCCEEDED"}
    assert counts_row(out.export_text()) == [rows, rows, 0, 0, 0, 0]


def test_the_installed_script_under_a_pseudo_terminal(local_cloud, tmp_path):
    script = Path(sys.executable).parent / "catalog"
    assert script.exists(), f"{script} is missing: `make setup` installs it (pip install -e .)"
    p = prefix()
    path = write_csv(tmp_path, "tty.csv", HEADER + "".join(f"{p}{i:04d},Item {i},,4.00,true\n" for i in range(1500)))
    environment = {**os.environ, "CATALOG_API": local_cloud.api_url, "CATALOG_TOKEN": token(local_cloud),
                   "COLUMNS": "150", "LINES": "40", "TERM": "xterm-256color"}
    primary, secondary = pty.openpty()
    process = subprocess.Popen([str(script), "import", str(path), "--poll-interval", "0.2"], stdin=secondary,
                               stdout=secondary, stderr=secondary, env=environment, close_fds=True)
    os.close(secondary)
    captured = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:          # the terminal closed: the script ended
                break
            if not chunk:
                break
            captured += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    assert process.wait(30) == 0, captured.decode(errors="replace")
    text = captured.decode(errors="replace")
    assert "\x1b[" in text, "no terminal control sequences: the bars did not run live"
    frames = bar_frames(text)
    assert frames and frames[-1][:4] == ("SUCCEEDED", "100.0", "1,500", "1,500"), frames[-3:]
    assert re.search(r"Import imp_\w+: \S*SUCCEEDED", text)


# --- export: import -> export -> import changes nothing ------------------------------------------
TRICKY = [
    ("{p}a-001", "Plain", "", "10.00", "true"),
    ("{p}A-002", 'Board, "large"', "line one\nline two", "0.00", "false"),
    ("{p}a-003", "Café Crème 東京", "ümlaut; semi;colons", "", "yes"),
    ("{p}a-004", "  Spaced name  ", "x" * 1000, "5", "0"),
    ("{p}a-005", "Comma, then quote \"", "tab\there, CRLF\r\ninside", "99999999.99", "1"),
]


def tricky_csv(p: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER.strip().split(","))
    writer.writerows([[field.format(p=p) if i == 0 else field for i, field in enumerate(row)] for row in TRICKY])
    return buffer.getvalue()


def test_import_export_import_round_trips_unchanged(local_cloud, tmp_path):
    p = prefix()
    source = write_csv(tmp_path, "tricky.csv", tricky_csv(p))
    first = run(local_cloud, "--json", "import", str(source), "--max-bad-rows", "0", "--poll-interval", "0.2")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["created"] == len(TRICKY)

    # The part under the prefix: exactly the stored products, in SKU order, as import rows.
    part = tmp_path / "part.csv"
    exported = run(local_cloud, "products", "export", "--sku", p.lower(), "--out", str(part))
    assert exported.exit_code == 0, exported.output
    stored = {k: v for k, v in all_products(local_cloud).items() if k.startswith(p.lower())}
    expected = [["sku", "name", "description", "price", "active"]] + [
        [v["sku"], v["name"], v["description"], v["price"] or "", "true" if v["active"] else "false"]
        for _, v in sorted(stored.items())]
    assert read_csv(part) == expected
    assert expected[2][1:] == ['Board, "large"', "line one\nline two", "0.00", "false"]
    assert expected[4][1:4] == ["Spaced name", "x" * 1000, "5.00"]
    assert f"Exported {len(TRICKY)} products" in exported.stderr
    assert re.search(r"Export exp_\w+ started", exported.stderr)          # the server's export job
    assert re.search(rf"SUCCEEDED .* {len(TRICKY)}/{len(TRICKY)} products", exported.stderr), exported.stderr
    assert not (tmp_path / "part.csv.part").exists()
    to_stdout = run(local_cloud, "products", "export", "--sku", p, "--out", "-")
    assert to_stdout.exit_code == 0 and to_stdout.stdout_bytes == part.read_bytes()

    # A filter narrows the export: the prefix's inactive products only.
    inactive = tmp_path / "inactive.csv"
    assert run(local_cloud, "products", "export", "--sku", p, "--inactive", "--out", str(inactive)).exit_code == 0
    assert [r[0] for r in read_csv(inactive)[1:]] == [f"{p}A-002", f"{p}a-004"]

    # The whole catalog, exported and imported again: every row unchanged, nothing written.
    before = all_products(local_cloud)
    whole = tmp_path / "catalog.csv"
    assert run(local_cloud, "products", "export", "--out", str(whole)).exit_code == 0
    assert len(read_csv(whole)) - 1 == len(before)
    again = run(local_cloud, "--json", "import", str(whole), "--max-bad-rows", "0", "--poll-interval", "0.2",
                "--timeout", "300")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["status"], summary["unchanged"], summary["created"], summary["updated"], summary["failed"],
            summary["duplicates"]) == ("SUCCEEDED", len(before), 0, 0, 0, 0)
    assert all_products(local_cloud) == before     # updated_at included: nothing was written


# --- imports ls / show, products ls / get --------------------------------------------------------
def test_imports_ls_and_show(local_cloud, tmp_path):
    p = prefix()
    path = write_csv(tmp_path, "listed.csv", HEADER + f"{p}1,Listed,,1.00,true\n")
    started = run(local_cloud, "import", str(path), "--poll-interval", "0.2")
    assert started.exit_code == 0, started.output
    import_id = import_id_in(started.stderr)

    listed = run(local_cloud, "--json", "imports", "ls", "--limit", "5")
    assert listed.exit_code == 0, listed.output
    assert import_id in [i["id"] for i in json.loads(listed.stdout)["items"]]
    table = run(local_cloud, "imports", "ls", "--limit", "5")
    assert table.exit_code == 0 and import_id in table.stdout and "listed.csv" in table.stdout

    shown = run(local_cloud, "imports", "show", import_id)
    assert shown.exit_code == 0, shown.output
    assert re.search(r"status\s+SUCCEEDED", shown.stdout) and re.search(r"file_name\s+listed\.csv", shown.stdout)
    as_json = json.loads(run(local_cloud, "--json", "imports", "show", import_id).stdout)
    assert as_json["id"] == import_id and as_json["created"] == 1

    missing = run(local_cloud, "imports", "show", "imp_20200101T000000_000000000000")
    assert missing.exit_code == 1 and "Error: 404" in missing.stderr


def test_products_get_and_ls(local_cloud, tmp_path):
    p = prefix()
    path = write_csv(tmp_path, "get.csv", HEADER + f"{p}Mixed,Gotten,\"desc, with comma\",12.30,false\n{p}other,Other,,,true\n")
    assert run(local_cloud, "import", str(path), "--poll-interval", "0.2").exit_code == 0

    got = run(local_cloud, "products", "get", f"{p}mixed".lower())      # any letter case
    assert got.exit_code == 0, got.output
    assert re.search(rf"sku\s+{re.escape(p)}Mixed", got.stdout) and re.search(r"price\s+12\.30", got.stdout)
    product = json.loads(run(local_cloud, "--json", "products", "get", f"{p}MIXED").stdout)
    assert product == api_session(local_cloud).get(f"{local_cloud.api_url}/products/{p}mixed", timeout=30).json()

    page = json.loads(run(local_cloud, "--json", "products", "ls", "--sku", p, "--limit", "1").stdout)
    assert [i["sku"] for i in page["items"]] == [f"{p}Mixed"] and page["next"]
    second = json.loads(run(local_cloud, "--json", "products", "ls", "--sku", p, "--limit", "1",
                            "--cursor", page["next"]).stdout)
    assert [i["sku"] for i in second["items"]] == [f"{p}other"]
    active = run(local_cloud, "products", "ls", "--sku", p, "--active")
    assert active.exit_code == 0 and f"{p}other" in active.stdout and f"{p}Mixed" not in active.stdout
    named = json.loads(run(local_cloud, "--json", "products", "ls", "--sku", p, "--name", "GOTT").stdout)
    assert [i["sku"] for i in named["items"]] == [f"{p}Mixed"]

    missing = run(local_cloud, "products", "get", f"{p}nope")
    assert missing.exit_code == 1 and "Error: 404" in missing.stderr and "not found" in missing.stderr


# --- tokens and errors ---------------------------------------------------------------------------
def test_tokens_from_flags_client_credentials_and_the_errors_of_each(local_cloud, tmp_path):
    # No token at all: a usage error, exit 2.
    none = run(local_cloud, "products", "ls", role=None)
    assert none.exit_code == 2 and "--token" in none.output
    # A bad token: the authorizer's 401, explained.
    bad = run(local_cloud, "--token", "not-a-token", "products", "ls", role=None)
    assert bad.exit_code == 1 and "Error: 401 Unauthorized" in bad.stderr and "get a new one" in bad.stderr
    failed_export = run(local_cloud, "--token", "not-a-token", "products", "export", "--out", str(tmp_path / "x.csv"),
                        role=None)
    assert failed_export.exit_code == 1 and list(tmp_path.iterdir()) == []     # no file, no half file
    bad_filter = run(local_cloud, "products", "export", "--sku", "s" * 65, "--out", str(tmp_path / "x.csv"),
                     role="reader")
    assert bad_filter.exit_code == 1 and "Error: 422" in bad_filter.stderr and "sku" in bad_filter.stderr
    assert list(tmp_path.iterdir()) == []
    # A reader may read, not import: 403 with the API's {error, fields} printed.
    path = write_csv(tmp_path, "r.csv", HEADER + "R-1,R,,1.00,true\n")
    assert run(local_cloud, "products", "ls", "--limit", "1", role="reader").exit_code == 0
    refused = run(local_cloud, "import", str(path), role="reader")
    assert refused.exit_code == 1
    assert "Error: 403 forbidden: POST /imports needs the admin role" in refused.stderr
    assert "authorization:" in refused.stderr
    # Client credentials: the local issuer by default for a loopback API, or --token-url.
    client_id, secret = MACHINE_CLIENTS["reader"]
    assert default_token_url(local_cloud.api_url) == f"{local_cloud.api_url}/local-auth/oauth2/token"
    by_credentials = run(local_cloud, "--client-id", client_id, "--client-secret", secret, "products", "ls",
                         "--limit", "1", role=None)
    assert by_credentials.exit_code == 0, by_credentials.output
    printed = run(local_cloud, "token", role=None, env={"CATALOG_CLIENT_ID": client_id, "CATALOG_CLIENT_SECRET": secret,
                                                        "CATALOG_TOKEN_URL": default_token_url(local_cloud.api_url)})
    assert printed.exit_code == 0, printed.output
    assert requests.get(f"{local_cloud.api_url}/products?limit=1", timeout=30,
                        headers={"Authorization": f"Bearer {printed.stdout.strip()}"}).status_code == 200
    scoped = run(local_cloud, "--client-id", client_id, "--client-secret", secret, "--scope", "catalog/read",
                 "products", "ls", "--limit", "1", role=None)
    assert scoped.exit_code == 0, scoped.output
    beyond = run(local_cloud, "--client-id", client_id, "--client-secret", secret, "--scope", "catalog/admin",
                 "products", "ls", role=None)     # the token endpoint's own error, printed
    assert beyond.exit_code == 1 and "Error: 400 invalid_scope" in beyond.stderr
    wrong = run(local_cloud, "--client-id", client_id, "--client-secret", "wrong", "products", "ls", role=None)
    assert wrong.exit_code == 1 and "Error: 401" in wrong.stderr
    # Usage errors exit 2: a file that does not exist, an unknown option.
    assert run(local_cloud, "import", str(tmp_path / "absent.csv")).exit_code == 2
    assert run(local_cloud, "products", "ls", "--colour").exit_code == 2


def test_an_expired_token_is_renewed_once_by_client_credentials(local_cloud):
    tokens, calls = iter(["expired.token.value", token(local_cloud, "reader")]), []

    def next_token() -> str:
        calls.append(1)
        return next(tokens)
    assert "items" in Api(local_cloud.api_url, next_token, refresh=True).get("/products", limit=1)
    assert len(calls) == 2
    # A token given as it is cannot be renewed: the 401 is the answer.
    with pytest.raises(ApiError) as refused:
        Api(local_cloud.api_url, lambda: "expired.token.value").get("/products", limit=1)
    assert refused.value.status == 401


class FlakySession(requests.Session):
    """Drops the first `failures` requests, as a network that comes and goes would."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def request(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise requests.ConnectionError("connection reset (simulated)")
        return super().request(*args, **kwargs)


def test_following_an_import_rides_out_a_few_dropped_connections(local_cloud, tmp_path):
    path = write_csv(tmp_path, "flaky.csv", HEADER + f"{prefix()}1,Flaky,,1.00,true\n")
    import_id = upload_via_api(local_cloud, path)
    seen = []
    api = Api(local_cloud.api_url, lambda: token(local_cloud, "reader"), session=FlakySession(3))
    item = api.wait_for_import(import_id, seen.append, interval=0.05, timeout=120)
    assert item["status"] == "SUCCEEDED" and seen[-1]["status"] == "SUCCEEDED"
    with pytest.raises(ClientError, match="simulated"):      # more than POLL_RETRIES in a row: give up
        Api(local_cloud.api_url, lambda: token(local_cloud, "reader"),
            session=FlakySession(POLL_RETRIES + 1)).wait_for_import(import_id, seen.append, interval=0.01)


# --- webhooks ------------------------------------------------------------------------------------
def test_webhooks_add_ls_test_and_deliveries(local_cloud):
    http = api_session(local_cloud)
    with Receiver() as receiver, Receiver(responses=(500,)) as broken:
        added = run(local_cloud, "webhooks", "add", receiver.url, "--events", "product.created,product.deleted")
        assert added.exit_code == 0, added.output
        endpoint_id = re.search(r"Webhook (\S+) ", added.stdout).group(1)
        failing = json.loads(run(local_cloud, "--json", "webhooks", "add", broken.url, "-e", "product.deleted").stdout)
        try:
            assert re.search(r"Signing secret \(shown only now\): whsec_\S+", added.stdout)
            listed = json.loads(run(local_cloud, "--json", "webhooks", "ls").stdout)["items"]
            mine = [e for e in listed if e["id"] == endpoint_id]
            assert mine and mine[0]["event_types"] == ["product.created", "product.deleted"]
            assert endpoint_id in run(local_cloud, "webhooks", "ls").stdout

            tested = run(local_cloud, "webhooks", "test", endpoint_id)
            assert tested.exit_code == 0, tested.output
            assert "delivered: 200" in tested.stdout
            assert receiver.requests and "webhook-signature" in {k.lower() for k in receiver.requests[-1]["headers"]}
            not_delivered = run(local_cloud, "webhooks", "test", failing["id"])
            assert not_delivered.exit_code == 1 and "not delivered: 500" in not_delivered.stdout

            sku = f"{prefix()}hook"
            assert http.post(f"{local_cloud.api_url}/products", json={"sku": sku, "name": "Hooked"},
                             timeout=30).status_code == 201
            deliveries = wait_until(lambda: [d for d in json.loads(run(
                local_cloud, "--json", "webhooks", "deliveries", endpoint_id).stdout)["items"]
                if d.get("event_type") == "product.created"], timeout=60, message="a product.created delivery")
            assert deliveries[0]["outcome"] and deliveries[0]["status_code"] == 200
            table = run(local_cloud, "webhooks", "deliveries", endpoint_id)
            assert table.exit_code == 0 and "product.created" in table.stdout
        finally:
            for gone in (endpoint_id, failing["id"]):
                http.delete(f"{local_cloud.api_url}/webhooks/{gone}", timeout=30)


@pytest.mark.parametrize("args", [["--help"], ["imports", "--help"], ["products", "export", "--help"]])
def test_help_names_the_commands(args):
    result = CliRunner().invoke(cli_main.app, args, env={"COLUMNS": "200"}, prog_name="catalog")
    assert result.exit_code == 0
    expected = {"--help": ["import", "imports", "products", "webhooks", "--api", "--token"],
                "imports": ["ls", "show", "cancel", "errors"],
                "products": ["--out", "--sku", "--name", "--active"]}[args[0]]
    assert all(word in result.stdout for word in expected), result.stdout
