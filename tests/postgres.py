"""A throwaway PostgreSQL cluster for the tests, from the server binaries on this machine.

``initdb`` into a fresh temporary folder, ``pg_ctl start`` on a free loopback port with the
unix socket inside that folder, one new database per test (``create_database``), and
``pg_ctl stop`` plus removal at the end of the session. For the tests durability is switched off
(``fsync``, ``full_page_writes``, ``synchronous_commit``): they kill clients, never the server,
and a 2-core CI machine should not wait on disk flushes. The benchmark keeps it on.

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user (the
Debian ``postgresql`` package creates it; ``make test`` installs that package where the
binaries are missing). Where no server can be started, ``start_cluster`` raises
``PostgresUnavailable`` saying why: the tests that need PostgreSQL fail, they never pass by
skipping unnoticed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from serving.launch import free_port

BIN_ENV = "PREMARKET_PG_BIN"
"""A folder holding ``initdb`` and ``pg_ctl``, when they live somewhere unusual."""
SERVER_USER = "postgres"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why and what to do."""


def _version(bindir: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir))


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: ``$PREMARKET_PG_BIN``, Debian's
    ``/usr/lib/postgresql/<newest>/bin``, ``pg_config --bindir``, then ``PATH``."""
    candidates = [os.environ[BIN_ENV]] if os.environ.get(BIN_ENV) else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            candidates.append(
                subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, check=True
                ).stdout.strip()
            )
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).resolve().parent))
    for folder in candidates:
        if all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


@dataclass
class PostgresCluster:
    """A running throwaway cluster; ``create_database()`` gives each test its own database."""

    bindir: Path
    root: Path
    port: int
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SERVER_USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return self.url(name)

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S + 30,
            check=False,
        )


def _run_as() -> tuple[list[str], int | None, int | None]:
    """The command prefix, uid and gid to run the server with (``initdb`` refuses root)."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {SERVER_USER!r} user for the server (initdb "
            "refuses root); install the Debian package 'postgresql' (make test does)"
        ) from None
    runuser = shutil.which("runuser")
    if not runuser:
        raise PostgresUnavailable("running as root and 'runuser' (util-linux) is missing")
    return [runuser, "-u", SERVER_USER, "--"], user.pw_uid, user.pw_gid


@contextlib.contextmanager
def start_cluster(durable: bool = False) -> Iterator[PostgresCluster]:
    """Start a cluster in a new temporary folder, yield it, stop it and delete the folder.

    ``durable`` keeps PostgreSQL's default flushing (for timings, ``bench/bench_store.py``)."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl): install the Debian package "
            f"'postgresql' (make test does) or point {BIN_ENV} at their folder"
        )
    run_as, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="premarket-pg-"))  # short: the socket path is limited
    if uid is not None:
        os.chown(root, uid, gid)
    cluster = PostgresCluster(bindir, root, free_port(), run_as)
    try:
        initdb = subprocess.run(
            [*run_as, str(bindir / "initdb"), "-D", str(cluster.data), "-U", SERVER_USER]
            + ["-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        if initdb.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {initdb.stderr.strip()[-800:]}")
        options = (
            f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        if not durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        log = root / "server.log"
        started = cluster.pg_ctl(
            "-o", options, "-l", str(log), "-w", "-t", str(START_TIMEOUT_S), "start"
        )
        if started.returncode != 0:
            tail = log.read_text()[-800:] if log.exists() else started.stderr
            raise PostgresUnavailable(f"pg_ctl start failed: {tail.strip()}")
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
