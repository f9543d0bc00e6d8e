"""Start, watch and stop the three model services as real ``bentoml serve`` processes.

``python -m serving.launch`` (``make serve``) serves TFT, N-HITS and sentiment on 127.0.0.1
ports 3001, 3002 and 3003 (``TFT_PORT``, ``NHITS_PORT``, ``SENTIMENT_PORT``) until Ctrl-C;
``--run-demo`` (``make demo``) instead runs one offline pre-market analysis against them and
exits with its status. Tests and benchmarks use :class:`ServiceGroup` the same way.

Each service is its own process group, so stopping one (as the fallback tests do to the TFT)
takes its BentoML workers with it and leaves the others serving.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT_S = 300.0
"""A cold start on two busy cores (torch import, model load, warm-up) can take a minute or two."""


@dataclass(frozen=True)
class ServiceSpec:
    target: str
    port_env: str
    default_port: int


SERVICES: dict[str, ServiceSpec] = {
    "tft": ServiceSpec("serving.tft_service:TFTService", "TFT_PORT", 3001),
    "nhits": ServiceSpec("serving.nhits_service:NHitsService", "NHITS_PORT", 3002),
    "sentiment": ServiceSpec("serving.sentiment_service:SentimentService", "SENTIMENT_PORT", 3003),
}


class ServiceFailed(RuntimeError):
    """A service that exited or never became ready; the message says which and why."""


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc. BentoML starts each worker in a session of
    its own, so a signal to the server's process group never reaches the workers: SIGKILLed
    that way, a worker lives on as an orphan, still serving on the port."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def ports_from_env(env: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Each service's port: its ``*_PORT`` variable, else the default."""
    ports = {}
    for name, spec in SERVICES.items():
        raw = env.get(spec.port_env, str(spec.default_port))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise ValueError(f"{spec.port_env}={raw!r}: must be a port number (1-65535)")
        ports[name] = int(raw)
    return ports


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
    ) -> None:
        self.name = name
        self.working_dir = working_dir
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_dir / f"{name}.log" if log_dir else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id (its workers are in :func:`process_tree` of it)."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> None:
        """Spawn the server (returns at once; see :meth:`wait_ready`)."""
        if self.running:
            return
        command = [
            sys.executable, "-m", "bentoml", "serve", SERVICES[self.name].target,
            "--host", HOST, "--port", str(self.port), "--working-dir", str(self.working_dir),
        ]  # fmt: skip
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab") if self.log_path else None
        try:
            self._proc = subprocess.Popen(
                command,
                cwd=self.working_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
            )
        finally:
            if log:
                log.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Return once ``/readyz`` answers 200; raise :class:`ServiceFailed` if the process exits,
        its model fails to load (``/livez`` 503) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    code = None if self._proc is None else self._proc.returncode
                    raise ServiceFailed(f"{self.name}: exited with status {code}{self._log_tail()}")
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
        """Ask the server to stop (SIGTERM; it stops its workers), without waiting."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server (it stops its workers); SIGKILL all of them after ``timeout``."""
        if self._proc is None:
            return
        self.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server and every worker it started, at once, as a crash would."""
        if self._proc is None or self._proc.poll() is not None:
            return
        for pid in process_tree(self._proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._proc.wait()

    def _log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "; log tail:\n" + "\n".join(tail)


class ServiceGroup:
    """The three services, started together, ready or failed together, stoppable one by one.

    ``with ServiceGroup() as group:`` starts them, waits for every ``/readyz`` and stops them
    all on exit. ``group.urls`` maps ``tft``, ``nhits`` and ``sentiment`` to base URLs.
    """

    def __init__(
        self,
        ports: Mapping[str, int] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        names: tuple[str, ...] = tuple(SERVICES),
    ) -> None:
        ports = dict(ports or ports_from_env())
        self.processes = {
            name: ServiceProcess(name, ports[name], env=env, log_dir=log_dir) for name in names
        }

    @property
    def urls(self) -> dict[str, str]:
        return {name: proc.url for name, proc in self.processes.items()}

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start every service that is not running and wait until all are ready."""
        for proc in self.processes.values():
            proc.start()
        try:
            for proc in self.processes.values():
                proc.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, name: str | None = None) -> None:
        """Stop one service, or all of them at once. Interrupted while waiting (a second
        Ctrl-C), it SIGKILLs whatever is left rather than leave a server running unowned."""
        chosen = [proc for proc_name, proc in self.processes.items() if name in (None, proc_name)]
        for proc in chosen:
            proc.terminate()
        try:
            for proc in chosen:
                proc.stop()
        except BaseException:
            for proc in chosen:
                proc.kill()
            raise

    def kill(self, name: str) -> None:
        """SIGKILL one service with its workers, as a crash would (fault tests); no clean-up
        runs. :meth:`restart` brings it back."""
        self.processes[name].kill()

    def restart(self, name: str, timeout: float = READY_TIMEOUT_S) -> None:
        """Start ``name`` again (if stopped) and wait until it is ready."""
        proc = self.processes[name]
        proc.start()
        proc.wait_ready(timeout)

    @contextlib.contextmanager
    def stopped(self, name: str) -> Iterator[None]:
        """Run a block with ``name`` down, then bring it back up (ready) whatever happened."""
        self.stop(name)
        try:
            yield
        finally:
            self.restart(name)

    def __enter__(self) -> ServiceGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _analyze_command(output: Path) -> list[str]:
    """``premarket analyze`` from this interpreter's environment."""
    from premarket.data import DEMO_AS_OF

    script = Path(sys.executable).with_name("premarket")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator.cli"]
    return [*program, "analyze", "--offline", "--as-of", DEMO_AS_OF, "--json", str(output)]


def run_demo(group: ServiceGroup, output: Path) -> int:
    """One offline analysis against the running services; its exit status."""
    output.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for name, url in group.urls.items():
        env[f"PREMARKET_{name.upper()}__URL"] = url
    return subprocess.call(_analyze_command(output), cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.launch", description=__doc__)
    parser.add_argument(
        "--run-demo",
        action="store_true",
        help="run one offline analysis (demo-output/analysis.json) against them, then stop",
    )
    args = parser.parse_args(argv)
    # SIGTERM (a supervisor, `kill`) must stop the services too, not orphan them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # The demo keeps the services' access logs out of its table: they go to demo-output/logs.
    log_dir = ROOT / "demo-output" / "logs" if args.run_demo else None
    try:
        group = ServiceGroup(ports_from_env(), log_dir=log_dir)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with group:
            for name, url in group.urls.items():
                print(f"{name:9} ready at {url}", flush=True)
            if args.run_demo:
                return run_demo(group, ROOT / "demo-output" / "analysis.json")
            print("serving; press Ctrl-C to stop", flush=True)
            while all(proc.running for proc in group.processes.values()):
                time.sleep(1.0)
            down = [name for name, proc in group.processes.items() if not proc.running]
            print(f"error: {', '.join(down)} stopped unexpectedly", file=sys.stderr)
            return 1
    except ServiceFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
