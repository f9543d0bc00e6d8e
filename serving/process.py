"""One model service as a real ``bentoml serve`` process tree: start, readiness, and a stop that
leaves nothing behind.

BentoML's server (a circus arbiter) starts each worker in a session of its own, so a signal to
the server's process group never reaches the workers, and a worker whose server died lives on,
still serving on the port. :class:`ServiceProcess` therefore remembers the whole tree (psutil)
while the server lives and, after the grace period, SIGKILLs every member still running.

Each server also gets a BentoML home of its own, a temporary folder whose ``models`` links to
the shared model store: BentoML keeps its Prometheus files in
``$BENTOML_HOME/prometheus_multiproc_dir`` and empties that folder when a server starts, so with
one shared home every ``/metrics`` summed all three services and restarting one service deleted
the others' counters.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from premarket.services import TARGETS

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT_S = 300.0
"""A cold start on two busy cores (torch import, model load, warm-up) can take a minute or two."""
STOP_GRACE_S = 10.0
"""How long a server gets after SIGTERM to stop its workers before its whole tree is SIGKILLed."""
KILL_WAIT_S = 5.0
"""How long SIGKILLed processes get to disappear before stopping counts as failed."""
POLL_S = 0.1


@dataclass(frozen=True)
class ServiceSpec:
    target: str
    port_env: str
    default_port: int


SERVICES: dict[str, ServiceSpec] = {
    "tft": ServiceSpec(TARGETS["tft"], "TFT_PORT", 3001),
    "nhits": ServiceSpec(TARGETS["nhits"], "NHITS_PORT", 3002),
    "sentiment": ServiceSpec(TARGETS["sentiment"], "SENTIMENT_PORT", 3003),
}


class ServiceFailed(RuntimeError):
    """A service that could not start, exited, never became ready or would not stop; the
    one-line message says which and why (a log tail may follow)."""


class StartCancelled(Exception):
    """Start-up given up because a stop was requested (a signal to the launcher)."""


def never() -> bool:
    """The default ``stop_requested``: nobody asks for a stop."""
    return False


def process_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and all its descendants now; empty once ``pid`` has exited."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def alive(process: psutil.Process) -> bool:
    """Alive, and not a zombie: an orphan's zombie waits for a reaper that a container may lack."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class ServiceProcess:
    """One ``bentoml serve`` of one service on ``127.0.0.1:port``, from this checkout or from
    the ``src`` folder of an extracted Bento (``working_dir``)."""

    def __init__(
        self,
        name: str,
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        working_dir: Path = ROOT,
        die_with_parent: bool = False,
    ) -> None:
        self.die_with_parent = die_with_parent
        """Linux: the server gets SIGTERM when its starter dies, even by SIGKILL (the launcher
        sets it; a test's fixtures need not)."""
        self.name = name
        self.working_dir = working_dir
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_dir / f"{name}.log" if log_dir else None
        self.tree: set[psutil.Process] = set()
        """Every process of the server's tree seen so far (server and workers)."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._home: Path | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def owned(self) -> bool:
        """Started and not yet seen gone with its whole tree (its workers may outlive it)."""
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        """The server's process id (its workers are in :func:`process_tree` of it)."""
        return self._proc.pid if self.running and self._proc is not None else None

    def check_port(self) -> None:
        """Raise :class:`ServiceFailed` when something listens on the port: the server would
        fail to bind, while whoever holds the port answered ``/readyz`` as if it were ours. The
        probe binds with SO_REUSEADDR as the server does, so connections in TIME_WAIT pass."""
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, self.port))
            except OSError as exc:
                why = "is in use" if exc.errno == errno.EADDRINUSE else f"refused: {exc.strerror}"
                hint = f"stop what listens there or set {SERVICES[self.name].port_env}"
                raise ServiceFailed(
                    f"{self.name}: port {HOST}:{self.port} {why} ({hint})"
                ) from None

    def start(self) -> None:
        """Spawn the server (returns at once; see :meth:`wait_ready`)."""
        if self.running:
            return
        self.check_port()
        command = [
            sys.executable, "-m", "bentoml", "serve", SERVICES[self.name].target,
            "--host", HOST, "--port", str(self.port), "--working-dir", str(self.working_dir),
        ]  # fmt: skip
        self._home = self._private_home()
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab") if self.log_path else None
        try:
            self._proc = subprocess.Popen(
                command,
                cwd=self.working_dir,
                env={**self.env, "BENTOML_HOME": str(self._home)},
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
                preexec_fn=_term_with_parent if self.die_with_parent else None,
            )
        except BaseException:
            self._forget()  # its private home
            raise
        finally:
            if log:
                log.close()
        self.tree = set(process_tree(self._proc.pid))

    def wait_ready(
        self, timeout: float = READY_TIMEOUT_S, stop_requested: Callable[[], bool] = never
    ) -> None:
        """Return once ``/readyz`` answers 200; raise :class:`ServiceFailed` if the process exits,
        its model fails to load (``/livez`` 503) or ``timeout`` passes, and
        :class:`StartCancelled` as soon as ``stop_requested()``."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if stop_requested():
                    raise StartCancelled(self.name)
                if self._proc is None or self._proc.poll() is not None:
                    code = None if self._proc is None else self._proc.returncode
                    raise ServiceFailed(f"{self.name}: exited with status {code}{self._log_tail()}")
                self.remember_tree()
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                    if client.get("/livez").status_code == 503:
                        error = client.get("/describe").json()["model"]["error"]
                        raise ServiceFailed(f"{self.name}: model not loaded: {error}")
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.25)
        raise ServiceFailed(f"{self.name}: not ready after {timeout:.0f} s{self._log_tail()}")

    def terminate(self) -> None:
        """Ask the server to stop (SIGTERM to its process group; it stops its workers), without
        waiting. The tree is remembered first, so :meth:`wait_stopped` also waits for workers."""
        if self._proc is None:
            return
        self.remember_tree()
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> bool:
        """Wait until the server and every process of its tree are gone (then forget them and
        return True), or until ``deadline`` (``time.monotonic``) passes (False)."""
        while self._proc is not None:
            self.remember_tree()
            if not self._living():
                self._forget()
            elif time.monotonic() >= deadline:
                return False
            else:
                time.sleep(POLL_S)
        return True

    def stop(self, grace: float = STOP_GRACE_S) -> bool:
        """SIGTERM the server, wait ``grace`` seconds for its whole tree to exit, then SIGKILL
        what is left. Returns whether SIGKILL was needed."""
        self.terminate()
        if self.wait_stopped(time.monotonic() + grace):
            return False
        self.kill()
        return True

    def kill(self) -> None:
        """SIGKILL the server and every process of its tree at once, as a crash would, and wait
        until all are gone. The server is frozen (SIGSTOP) first so it starts no new worker."""
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGSTOP)  # a no-op once the server is reaped
        self.remember_tree()
        for process in self._living():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        if not self.wait_stopped(time.monotonic() + KILL_WAIT_S):
            left = sorted(process.pid for process in self._living())
            raise ServiceFailed(f"{self.name}: processes {left} survived SIGKILL")

    def remember_tree(self) -> None:
        """Note the server's processes now (its workers start after it, in sessions of their
        own): what :meth:`kill` must stop even once the server itself has died."""
        if self._proc is not None and self._proc.poll() is None:  # else the pid may be reused
            self.tree.update(process_tree(self._proc.pid))

    def _living(self) -> list[psutil.Process]:
        assert self._proc is not None
        self._proc.poll()  # reap the server once it exits, so it is no zombie of ours
        return [process for process in self.tree if alive(process)]

    def _forget(self) -> None:
        self._proc = None
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def _private_home(self) -> Path:
        """A fresh BentoML home for this server whose ``models`` is the shared model store."""
        shared = Path(self.env.get("BENTOML_HOME") or "~/bentoml").expanduser()
        models = (self.working_dir / shared / "models").resolve()  # a relative home: as bentoml
        models.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix=f"premarket-{self.name}-home-"))
        (home / "models").symlink_to(models, target_is_directory=True)
        return home

    def _log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "; log tail:\n" + "\n".join(tail)


def _term_with_parent() -> None:
    """In the child, before ``exec``: SIGTERM when the parent dies (Linux ``PR_SET_PDEATHSIG``),
    so a SIGKILLed launcher does not leave its servers serving; the server then stops its own
    workers. Elsewhere a no-op."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
