"""Where the operator's CPU and memory go, for the benchmarks' `--cpu-profile` / `--memory-profile`.

CPU: py-spy (a sampling profiler that attaches to the running operator by PID, so the operator runs
unmodified and at full speed; `pip install py-spy`) records collapsed stacks; `summarize_cpu` prints the
share of samples per layer (the package of the innermost frame that is ours, kopf's, the Kubernetes
client's, …) and the functions with the most samples inclusive and exclusive.

Memory: tracemalloc, through `benchmarks/traced_operator.py`; `summarize_memory` groups what is held by
the first frame of the allocation's stack (innermost first) that belongs to a named package.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import time
import tracemalloc
from pathlib import Path

# Innermost frame first: the first of these found in a stack names the layer it is charged to.
LAYERS = (
    ("federation_operator/", "operator"),
    ("/kopf/", "kopf"),
    ("/kubernetes/", "kubernetes client"),
    ("/aiohttp/", "aiohttp"),
    ("/urllib3/", "urllib3"),
    ("/dns/", "dnspython"),
    ("/yaml/", "pyyaml"),
    ("/prometheus_client/", "prometheus_client"),
    ("/json/", "json"),
    ("/ssl.py", "ssl"),
    ("/asyncio/", "asyncio"),
    ("/logging/", "logging"),
    ("/concurrent/", "threads"),
    ("/threading.py", "threads"),
)
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def layer_of(path: str) -> str | None:
    for marker, name in LAYERS:
        if marker in path:
            return name
    return None


class CpuProfile:
    """py-spy attached to one PID until `stop()`; the collapsed stacks end up in `path`."""

    def __init__(self, pid: int, path: Path, rate: int = 100) -> None:
        exe = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv/bin/py-spy")
        self.path = path
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--gil",
                "--threads",
                "-o",
                str(path),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def summarize_cpu(path: Path, top: int = 25) -> None:
    """Print the busy samples by layer, and the functions with the most samples (inclusive, exclusive).
    Idle samples (threads waiting in select/epoll/locks) are left out."""
    idle = ("select", "epoll", "poll", "wait", "acquire", "_worker", "sleep", "get (queue")
    layers: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    exclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _sep, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [f for f in stack.split(";") if FRAME.match(f)]
        if not frames:
            continue
        leaf = frames[-1]
        if any(leaf.startswith(word) for word in idle):
            continue
        count = int(count_text)
        total += count
        charged = "other"
        for frame in reversed(frames):
            m = FRAME.match(frame)
            assert m is not None
            found = layer_of("/" + m["file"])
            if found is not None:
                charged = found
                break
        layers[charged] += count
        exclusive[_short(leaf)] += count
        for name in {_short(f) for f in frames}:
            inclusive[name] += count
    if not total:
        print("  cpu profile: no busy samples")
        return
    print(f"  cpu profile ({total} busy samples), by layer of the innermost known frame:")
    for name, count in layers.most_common():
        print(f"    {name:20s} {100 * count / total:5.1f}%")
    print("  most samples, inclusive:")
    for name, count in inclusive.most_common(top):
        print(f"    {100 * count / total:5.1f}%  {name}")
    print("  most samples, exclusive:")
    for name, count in exclusive.most_common(top):
        print(f"    {100 * count / total:5.1f}%  {name}")


def _short(frame: str) -> str:
    m = FRAME.match(frame)
    if m is None:
        return frame
    return f"{m['func']} ({_short_path(m['file'])})"


def _short_path(file: str) -> str:
    for marker in ("site-packages/", "federation_operator/", "lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def dump_memory(pid: int, path: Path, timeout: float = 120.0) -> tracemalloc.Snapshot:
    """Ask the traced operator for a snapshot (SIGUSR2) and load it once it is written."""
    path.unlink(missing_ok=True)
    subprocess.run(["kill", "-USR2", str(pid)], check=True)
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size > 0 and size == last:
            return tracemalloc.Snapshot.load(str(path))
        last = size
        time.sleep(1.0)  # a file still being written grows between two looks
    raise TimeoutError(f"no tracemalloc snapshot at {path}")


def summarize_memory(snapshot: tracemalloc.Snapshot, objects: int, top: int = 25) -> None:
    """What the operator holds, by layer and by allocating line, also per 1,000 FederatedServices."""
    stats = snapshot.statistics("traceback")
    layers: collections.Counter[str] = collections.Counter()
    sites: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for stat in stats:
        total += stat.size
        charged, site = "other", None
        # A tracemalloc Traceback lists its frames oldest first: walk it from the allocation outwards.
        for frame in reversed(stat.traceback):
            found = layer_of(frame.filename)
            if found is not None:
                charged, site = found, f"{_short_path(frame.filename)}:{frame.lineno}"
                break
        layers[charged] += stat.size
        if site:
            sites[site] += stat.size
        for frame in reversed(stat.traceback):
            if "federation_operator/" in frame.filename:
                ours[f"{frame.filename.split('federation_operator/', 1)[1]}:{frame.lineno}"] += stat.size
                break
    per = 1000 / max(objects, 1)
    print(f"  traced memory held: {total / 2**20:.1f} MiB ({total * per / 2**20:.1f} MiB per 1,000 objects)")
    for name, size in layers.most_common():
        print(f"    {name:20s} {size / 2**20:7.1f} MiB")
    print("  allocating lines (innermost known frame):")
    for name, size in sites.most_common(top):
        print(f"    {size / 2**20:7.1f} MiB  {name}")
    print("  largest allocation sites, with their stacks (most recent call first):")
    for stat in stats[:8]:
        frames = " < ".join(f"{_short_path(f.filename)}:{f.lineno}" for f in reversed(stat.traceback))
        print(f"    {stat.size / 2**20:7.1f} MiB  {frames}")
    print("  held through the operator's own code (innermost operator frame):")
    for name, size in ours.most_common(top):
        print(f"    {size / 2**20:7.1f} MiB  {name}")
