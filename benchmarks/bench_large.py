"""Reading one large S3 object: the adapter against s3fs, boto3 and conda's old S3Adapter.

Run from the repository root (needs the ``test`` extra: moto[server], s3fs, boto3)::

    python benchmarks/bench_large.py --size-mib 256 --repeats 3

moto's S3 server is started on a free local port, one object of ``--size-mib`` random bytes
is uploaded, and every method reads the whole object and checks its sha256. Each run is
a fresh child process (this script with ``--one METHOD``), so peak RSS is measured alone:
the client is built and warmed up (one HEAD) first, then the peak-RSS mark is reset
(``/proc/self/clear_refs``) and VmRSS sampled; growth is VmHWM after the read minus that
sample. The conda baseline builds its boto3 session and client inside the timed read, as
conda did for every request. Throughput is in MB/s (10**6 bytes); TTFB is the time from
starting the request to holding the first chunk. The median of each method is printed as
a markdown table and every run is written to ``benchmarks/results/large.json``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import requests

KEY, SECRET, REGION = "AKIABENCHMARK0000001", "benchmark-secret", "us-east-1"
CHUNK = 2**20
RESULTS = Path(__file__).resolve().parent / "results" / "large.json"
Reader = Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class Target:
    endpoint: str
    bucket: str
    key: str
    sha256: str

    @property
    def path(self) -> str:
        return f"{self.bucket}/{self.key}"


def boto3_client(endpoint: str, session: Any = None) -> Any:
    import boto3

    creds = {"aws_access_key_id": KEY, "aws_secret_access_key": SECRET, "region_name": REGION}
    return (session or boto3).client("s3", endpoint_url=endpoint, **creds)


def setup_adapter(t: Target) -> Reader:
    import objstore_adapter

    registry = objstore_adapter.SchemeRegistry()
    registry.register("s3", endpoint_url=t.endpoint, key=KEY, secret=SECRET)
    session, url = objstore_adapter.session(registry), f"s3://{t.path}"
    session.head(url).raise_for_status()

    def read() -> Iterator[bytes]:
        with session.get(url, stream=True) as response:
            response.raise_for_status()
            yield from response.iter_content(CHUNK)

    return read


def setup_s3fs(t: Target, cat: bool) -> Reader:
    import s3fs

    options = {"endpoint_url": t.endpoint, "client_kwargs": {"region_name": REGION}}
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, **options)
    fs.info(t.path)

    def read() -> Iterator[bytes]:
        if cat:
            yield fs.cat_file(t.path)
            return
        with fs.open(t.path, "rb") as f:  # default block size and cache
            while chunk := f.read(CHUNK):
                yield chunk

    return read


def setup_boto3(t: Target) -> Reader:
    client = boto3_client(t.endpoint)
    client.head_object(Bucket=t.bucket, Key=t.key)

    def read() -> Iterator[bytes]:
        body = client.get_object(Bucket=t.bucket, Key=t.key)["Body"]
        yield from body.iter_chunks(CHUNK)

    return read


def setup_conda(t: Target) -> Reader:
    import boto3.session

    def read() -> Iterator[bytes]:
        client = boto3_client(t.endpoint, boto3.session.Session())  # new per request
        with tempfile.SpooledTemporaryFile() as fh:  # max_size=0: never rolls over to disk
            client.download_fileobj(t.bucket, t.key, fh)
            fh.seek(0)
            while chunk := fh.read(CHUNK):
                yield chunk

    return read


METHODS: dict[str, tuple[str, Callable[[Target], Reader]]] = {
    "adapter": ("adapter: session.get(stream=True) + iter_content(1 MiB)", setup_adapter),
    "s3fs-open": ('s3fs: fs.open(path, "rb") + read(1 MiB)', lambda t: setup_s3fs(t, False)),
    "s3fs-cat": ("s3fs: fs.cat_file(path)", lambda t: setup_s3fs(t, True)),
    "boto3": ('boto3: get_object()["Body"].iter_chunks(1 MiB)', setup_boto3),
    "conda": ("conda's old S3Adapter: new session, download_fileobj", setup_conda),
}


def proc_status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset)."""
    return int(Path("/proc/self/status").read_text().split(f"\n{field}:", 1)[1].split()[0])


def run_one(method: str, t: Target) -> dict[str, Any]:
    """One read in this (fresh) process: what the parent reads back as JSON."""
    read = METHODS[method][1](t)
    gc.collect()
    try:  # reset VmHWM to the current RSS: import and setup peaks do not count
        Path("/proc/self/clear_refs").write_text("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    rss_before = proc_status_kib("VmRSS")
    digest, size, ttfb = hashlib.sha256(), 0, 0.0
    start = time.perf_counter()
    for chunk in read():
        if not size:
            ttfb = time.perf_counter() - start
        digest.update(chunk)
        size += len(chunk)
    seconds = time.perf_counter() - start
    ru_maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "ttfb": ttfb,
        "bytes": size,
        "peak_rss_growth_bytes": (proc_status_kib("VmHWM") - rss_before) * 1024,
        # ru_maxrss cannot be reset, and a child exec'd after vfork inherits its parent's peak:
        "ru_maxrss_growth_bytes": (ru_maxrss_kib - rss_before) * 1024,
        "hwm_reset": hwm_reset,
        "sha_ok": digest.hexdigest() == t.sha256,
    }


@contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    argv = [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1"]
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    out = subprocess.DEVNULL
    process = subprocess.Popen([*argv, "-p", port], stdout=out, stderr=out, env=env)
    endpoint, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    try:
        while True:
            with suppress(requests.RequestException):
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto did not come up on {endpoint}")
            time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child(method: str, t: Target) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--one", method, "--target", json.dumps(asdict(t))]
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, timeout=1800)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def machine() -> dict[str, Any]:
    packages = ["fsspec", "s3fs", "boto3", "botocore", "aiobotocore", "moto", "requests"]
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: version(name) for name in packages},
    }


def benchmark(size_mib: int, repeats: int) -> dict[str, Any]:
    with moto_server() as endpoint:
        data = os.urandom(size_mib * 2**20)
        key, sha256 = f"large-{size_mib}MiB.bin", hashlib.sha256(data).hexdigest()
        t = Target(endpoint, f"bench-{uuid.uuid4().hex[:8]}", key, sha256)
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=t.bucket)
        client.put_object(Bucket=t.bucket, Key=t.key, Body=data)
        del data, client  # children exec'd from this process inherit its ru_maxrss
        gc.collect()
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in METHODS}
        for repeat in range(repeats):  # interleaved, so load on the shared machine is spread
            for name in METHODS:
                runs[name].append(result := child(name, t))
                print(f"run {repeat + 1}/{repeats} {name}: {json.dumps(result)}", file=sys.stderr)
    size = size_mib * 2**20
    median = statistics.median
    summary = {
        name: {
            "mb_per_s": median(size / r["seconds"] / 1e6 for r in rs),
            "ttfb_s": median(r["ttfb"] for r in rs),
            "peak_rss_growth_mib": median(r["peak_rss_growth_bytes"] for r in rs) / 2**20,
            "all_sha_ok": all(r["sha_ok"] and r["bytes"] == size for r in rs),
        }
        for name, rs in runs.items()
    }
    info = {"size_mib": size_mib, "repeats": repeats, "machine": machine()}
    return {**info, "summary": summary, "runs": runs}


def table(results: dict[str, Any]) -> str:
    summary = results["summary"]
    base = summary["adapter"]["mb_per_s"]
    lines = [
        "| method | median MB/s | median TTFB (s) | median peak RSS growth (MiB) | vs adapter |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in summary.items():
        label = METHODS[name][0] + ("" if s["all_sha_ok"] else " **(sha256 MISMATCH)**")
        lines.append(
            f"| {label} | {s['mb_per_s']:.1f} | {s['ttfb_s']:.3f} | "
            f"{s['peak_rss_growth_mib']:.1f} | {s['mb_per_s'] / base:.2f}x |"
        )
    m = results["machine"]
    versions = ", ".join(f"{k} {m[k]}" for k in ("fsspec", "s3fs", "boto3", "moto"))
    lines.append(
        f"\n{results['size_mib']} MiB object, {results['repeats']} repeat(s); "
        f"nproc {m['nproc']}, Python {m['python']}; {versions}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)  # in a child
    parser.add_argument("--target", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, Target(**args.target))))
        return
    results = benchmark(args.size_mib, args.repeats)
    print(table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
