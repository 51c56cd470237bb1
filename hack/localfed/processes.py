"""Starting and stopping the local federation's processes, by PID, safely.

A process is recorded with its PID *and* its kernel start time, so that stopping it later (possibly from
another command, after the starting one has exited) can never signal an unrelated process that reused the PID.
Every process runs in a session of its own, logging to a file, detached from the terminal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRecord:
    """A started process: enough to find it again, restart it, and stop exactly it."""

    name: str
    pid: int
    start_time: int
    argv: tuple[str, ...]
    log: str
    env: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProcessRecord:
        return cls(
            name=raw["name"],
            pid=int(raw["pid"]),
            start_time=int(raw["start_time"]),
            argv=tuple(raw["argv"]),
            log=raw["log"],
            env=tuple((k, v) for k, v in raw.get("env", ())),
        )


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses; everything after the last ')' is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # Field 22 (starttime) is at index 19 once pid and comm are dropped.
    return int(fields[19]) if fields else None


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_running(record: ProcessRecord) -> bool:
    """True while exactly this process (same PID and start time) is alive and not a zombie."""
    _reap(record.pid)
    fields = _stat_fields(record.pid)
    if fields is None or int(fields[19]) != record.start_time:
        return False
    return fields[0] != "Z"


def thread_states(record: ProcessRecord) -> dict[int, str]:
    """The state letter of each thread of the process (``T``: stopped by a signal), by thread ID; empty once
    the process is gone."""
    states: dict[int, str] = {}
    try:
        tasks = list(Path(f"/proc/{record.pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return states
    for task in tasks:
        try:
            raw = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        states[int(task.name)] = raw[raw.rindex(")") + 2 :].split()[0]
    return states


def start(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> ProcessRecord:
    """Start a detached process writing stdout and stderr to `log` (appending, so restarts keep history)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    extra = dict(env or {})
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **extra},
        )
    start_time = _start_time(proc.pid)
    if start_time is None:
        proc.wait()
        raise RuntimeError(f"{name} exited at once (exit code {proc.returncode}); see {log}")
    # The Popen object is dropped on purpose: processes outlive the command that started them and are
    # found again through their record. Tell the interpreter not to warn that the child is still running.
    proc.returncode = 0
    return ProcessRecord(name, proc.pid, start_time, tuple(argv), str(log), tuple(sorted(extra.items())))


def restart(record: ProcessRecord) -> ProcessRecord:
    """Start the same command again (after `stop`), with the same log and environment."""
    return start(record.name, list(record.argv), Path(record.log), dict(record.env))


def stop(record: ProcessRecord, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; returns once the process is gone. Idempotent."""
    if not is_running(record):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(record.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_running(record):
                return
            time.sleep(0.05)
    raise RuntimeError(f"{record.name} (pid {record.pid}) survived SIGKILL")


def memory_bytes(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc/<pid>/status (VmRSS: resident now; VmHWM: peak resident)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        return 0
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/<pid>/stat), 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": fields from "state" on
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(record: ProcessRecord) -> int:
    """Resident memory of the process, 0 if it is not running."""
    return memory_bytes(record.pid) if is_running(record) else 0
