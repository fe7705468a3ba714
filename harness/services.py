"""The relay services as real processes, for the end-to-end, fault and benchmark runs:
``xgate run`` (or ``xgate relayer run`` ...) on an ``xgate.toml``, its ops port probed over
HTTP, stopped with SIGTERM or killed with SIGKILL, its memory read from ``/proc``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "XGATE",
    "ServiceProcess",
    "free_port",
    "rss_kib",
    "start_devnet_up",
    "stop_devnet_up",
    "wait_devnet_summary",
    "wait_until",
]

XGATE = [sys.executable, "-m", "gateway"]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for process {pid}")


@dataclass
class ServiceProcess:
    """One ``xgate`` service process; its stderr goes to ``log``."""

    config: Path
    command: tuple[str, ...] = ("run",)
    log: Path | None = None
    ops_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        log = self.log or self.config.with_name(f"{'-'.join(self.command)}-{self.ops_port}.log")
        self.log = log
        with log.open("ab") as stderr:
            self.proc = subprocess.Popen(
                [
                    *XGATE,
                    *self.command,
                    "--config",
                    str(self.config),
                    "--ops-port",
                    str(self.ops_port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def readyz(self) -> tuple[int, dict[str, object]] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=2) as r:
                return int(r.status), json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read() or b"{}")
        except OSError:
            return None

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/metrics", timeout=2) as r:
            return str(r.read().decode())

    def wait_serving(self, timeout_s: float = 60.0) -> None:
        """Until the ops server answers (the services started their workers)."""
        deadline = time.monotonic() + timeout_s
        while self.readyz() is None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"xgate {' '.join(self.command)} exited:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"xgate did not serve ops within {timeout_s} s:\n{self.output()}"
                )
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGUSR1)  # xgate prints its threads' stacks
                time.sleep(1.0)
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"xgate did not stop on SIGTERM:\n{self.output()}") from None
        return int(self.proc.returncode)


def wait_until(
    check: Callable[[], T],
    timeout_s: float,
    what: str,
    service: ServiceProcess | None = None,
    poll_s: float = 0.25,
) -> T:
    """Poll ``check()`` until it returns something truthy; fail with ``what`` and the
    service's log on timeout or when the service exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if service is not None and service.proc is not None and service.proc.poll() is not None:
            raise AssertionError(f"service exited while waiting for {what}:\n{service.output()}")
        if time.monotonic() > deadline:
            log = service.output() if service is not None else ""
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{log}")
        time.sleep(poll_s)


def start_devnet_up(
    out: Path, log: Path, *extra: str, stdout: Path | None = None
) -> subprocess.Popen[str]:
    """``xgate devnet up --out OUT EXTRA...`` in the background, its stderr to ``log`` (and its
    stdout to ``stdout``, else nowhere); ``wait_devnet_summary`` waits until it is up,
    ``stop_devnet_up`` stops it with its nodes. In a session of its own, so that its nodes can
    be stopped with it even when it cannot stop them itself."""
    # The child holds its own copies of the descriptors.
    with log.open("w") as stderr, (stdout or Path(os.devnull)).open("w") as printed:
        return subprocess.Popen(
            [*XGATE, "devnet", "up", "--out", str(out), *extra],
            stdout=printed,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )


def stop_devnet_up(proc: subprocess.Popen[str], timeout_s: float = 30.0) -> int:
    """Stop ``xgate devnet up`` as Ctrl-C does (it stops its nodes); if it has not exited
    after ``timeout_s``, kill its whole process group, nodes included (a SIGKILL of the
    command alone would leave them running). Its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def wait_devnet_summary(
    proc: subprocess.Popen[str],
    out: Path,
    log: Path,
    newer_than: float = 0.0,
    timeout_s: float = 180.0,
) -> Any:
    """The summary ``xgate devnet up`` (``proc``) writes to ``out`` once its chains are up and
    deployed (a file newer than ``newer_than``: a restart's); fails with its ``log`` when it
    exits first, kills it when it takes longer than ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (out.exists() and out.stat().st_mtime > newer_than):
        if proc.poll() is not None:
            raise AssertionError(f"xgate devnet up exited early:\n{log.read_text()}")
        if time.monotonic() > deadline:
            stop_devnet_up(proc)
            raise AssertionError(f"xgate devnet up did not write its summary within {timeout_s} s")
        time.sleep(0.2)
    time.sleep(0.2)  # the file is written in one call; let it land
    return json.loads(out.read_text())
