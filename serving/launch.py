"""Start, watch and stop the three model services as real ``bentoml serve`` processes.

``python -m serving.launch`` (``make serve``) serves TFT, N-HITS and sentiment on 127.0.0.1
ports 3001, 3002 and 3003 (``TFT_PORT``, ``NHITS_PORT``, ``SENTIMENT_PORT``) until SIGINT
(Ctrl-C), SIGTERM or SIGHUP; ``--run-demo`` (``make demo``) instead runs the demo against them
(``serving.demo``: the demo morning, the mornings before it, the dashboard's screenshot) and
exits with its status. Either way, every server and worker it started
is stopped when it ends, within ``STOP_GRACE_S`` + ``KILL_WAIT_S`` seconds (SIGTERM, then
SIGKILL), and one line says so. Tests and benchmarks use :class:`ServiceGroup` the same way.
Each service is stopped on its own (the fallback tests stop the TFT) with its BentoML workers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from serving.demo import run_demo
from serving.process import (
    HOST,
    POLL_S,
    READY_TIMEOUT_S,
    ROOT,
    SERVICES,
    STOP_GRACE_S,
    ServiceFailed,
    ServiceProcess,
    StartCancelled,
    never,
)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ports_from_env(env: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Each service's port: its ``*_PORT`` variable, else the default; no port twice."""
    ports: dict[str, int] = {}
    for name, spec in SERVICES.items():
        raw = env.get(spec.port_env, str(spec.default_port))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise ValueError(f"{spec.port_env}={raw!r}: must be a port number (1-65535)")
        for other, port in ports.items():
            if port == int(raw):
                raise ValueError(f"{spec.port_env}={raw}: {SERVICES[other].port_env} is {port} too")
        ports[name] = int(raw)
    return ports


@dataclass(frozen=True)
class Stopped:
    """What :meth:`ServiceGroup.stop` stopped: services, their processes, which needed SIGKILL."""

    names: tuple[str, ...]
    processes: int
    killed: tuple[str, ...]
    seconds: float

    def describe(self) -> str:
        text = (
            f"stopped {', '.join(self.names)} ({self.processes} processes) in {self.seconds:.1f} s"
        )
        if self.killed:
            text += f"; SIGKILL after {STOP_GRACE_S:g} s for {', '.join(self.killed)}"
        return text


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
        die_with_parent: bool = False,
    ) -> None:
        ports = dict(ports or ports_from_env())
        self.processes = {
            name: ServiceProcess(
                name, ports[name], env=env, log_dir=log_dir, die_with_parent=die_with_parent
            )
            for name in names
        }

    @property
    def urls(self) -> dict[str, str]:
        return {name: proc.url for name, proc in self.processes.items()}

    def start(
        self, timeout: float = READY_TIMEOUT_S, stop_requested: Callable[[], bool] = never
    ) -> None:
        """Start every service that is not running and wait until all are ready. Raises
        :class:`ServiceFailed` (no server is started when a port is taken) or
        :class:`StartCancelled`, leaving what it started to :meth:`stop`."""
        waiting = [proc for proc in self.processes.values() if not proc.running]
        for proc in waiting:
            proc.check_port()
        for proc in waiting:
            if stop_requested():
                raise StartCancelled(proc.name)
            proc.start()
        for proc in waiting:
            proc.wait_ready(timeout, stop_requested)

    def stop(self, name: str | None = None) -> Stopped:
        """Stop one service, or all of them at once: SIGTERM to each, ``STOP_GRACE_S`` for all
        of them to exit with their workers, then SIGKILL to every process still running.
        Interrupted (a second Ctrl-C in a test run), it SIGKILLs whatever is left rather than
        leave a server running unowned."""
        began = time.monotonic()
        chosen = [p for p in self.processes.values() if name in (None, p.name) and p.owned]
        try:
            for proc in chosen:
                proc.terminate()
            deadline = time.monotonic() + STOP_GRACE_S
            killed = tuple(proc.name for proc in chosen if not proc.wait_stopped(deadline))
            for proc in chosen:
                proc.kill()  # a no-op for those already gone
        except BaseException:
            for proc in chosen:
                proc.kill()
            raise
        names = tuple(proc.name for proc in chosen)
        processes = sum(len(proc.tree) for proc in chosen)
        return Stopped(names, processes, killed, time.monotonic() - began)

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
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StopRequest:
    """The first of SIGTERM, SIGINT and SIGHUP that reached the launcher, polled by its loops.

    The handlers only record the signal: an exception raised from a handler lands wherever the
    program happens to be, and a second one (``make`` forwards SIGTERM to its child while
    ``kill -- -group`` sends another) used to land half way through stopping the servers, so
    the rest were never signalled. Installed before any server starts. A SIGHUP the launcher
    was started ignoring (``nohup make serve``) stays ignored, as ``nohup`` asks."""

    def __init__(self) -> None:
        self.signum: int | None = None
        for sig in STOP_SIGNALS:
            if sig != signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, self._record)

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "no signal"


def say(text: str, *, error: bool = False) -> None:
    """One line to stdout (stderr for errors); a closed terminal (after SIGHUP) is no error."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr if error else sys.stdout, flush=True)


RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Waits before restarting a service that died, one more step each time it dies again."""


def serve(group: ServiceGroup, stop: StopRequest, clock=time.monotonic) -> int:
    """Serve until asked to stop (0). A service that dies on its own is restarted, after a
    growing wait (``RESTART_BACKOFF_S``), and never takes the others down: the backup keeps
    answering while the primary comes back. Each death and restart is one line."""
    deaths: dict[str, int] = {}
    due: dict[str, float] = {}
    while not stop():
        for name, proc in group.processes.items():
            proc.remember_tree()  # its workers, so that a restart can clear what a crash left
            if proc.running or name in due:
                if name in due and clock() >= due[name]:
                    del due[name]
                    try:
                        proc.kill()  # what is left of its tree (workers live in sessions of their own)
                        proc.start()
                        say(f"{name:9} restarted (try {deaths[name]})")
                    except ServiceFailed as exc:
                        say(f"error: {exc}", error=True)
                        _schedule(name, deaths, due, clock)
                continue
            _schedule(name, deaths, due, clock)
        time.sleep(POLL_S)
    return 0


def _schedule(name: str, deaths: dict[str, int], due: dict[str, float], clock) -> None:
    deaths[name] = deaths.get(name, 0) + 1
    wait = RESTART_BACKOFF_S[min(deaths[name], len(RESTART_BACKOFF_S)) - 1]
    due[name] = clock() + wait
    say(f"error: {name} stopped unexpectedly; restarting it in {wait:g} s", error=True)


def _serve_or_demo(
    group: ServiceGroup, demo_output: Path | None, stop: StopRequest
) -> tuple[int, str]:
    """Start the services, then serve or run the demo: (exit status, why the services stop)."""
    group.start(stop_requested=stop)
    for name, url in group.urls.items():
        say(f"{name:9} ready at {url}")
    if demo_output:
        return run_demo(group.urls, demo_output / "analysis.json", stop), "after the demo"
    say("serving; stop with Ctrl-C, SIGTERM or SIGHUP")
    return serve(group, stop), "after that error"


def main(argv: list[str] | None = None) -> int:
    stop = StopRequest()  # before any server starts: a signal from here on stops them all
    parser = argparse.ArgumentParser(prog="python -m serving.launch", description=__doc__)
    parser.add_argument(
        "--run-demo",
        action="store_true",
        help="run the demo against them (the demo morning into OUTPUT/analysis.json, the "
        "mornings before it, the dashboard screenshot), then stop",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "demo-output",
        help="the demo's folder: analysis.json and the services' logs (default demo-output)",
    )
    args = parser.parse_args(argv)
    demo_output = args.output if args.run_demo else None
    # The demo keeps the services' access logs out of its table: they go to OUTPUT/logs.
    log_dir = demo_output / "logs" if demo_output else None
    try:
        group = ServiceGroup(ports_from_env(), log_dir=log_dir, die_with_parent=True)
    except ValueError as exc:
        say(f"error: {exc}", error=True)
        return 2
    status, cause = 1, "after an error"
    try:
        status, cause = _serve_or_demo(group, demo_output, stop)
    except ServiceFailed as exc:
        say(f"error: {exc}", error=True)
    except StartCancelled:
        pass
    except BaseException:
        group.stop()
        raise
    try:
        stopped = group.stop()
    except ServiceFailed as exc:
        say(f"error: {exc}", error=True)
        return 1
    if stop.signum is not None:
        status, cause = 128 + stop.signum, f"on {stop.name}"
    if stopped.names:
        say(f"{stopped.describe()} {cause}", error=status != 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
