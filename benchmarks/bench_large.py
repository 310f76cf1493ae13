"""Reading one large S3 object: the adapter against s3fs, boto3 and conda's old S3Adapter.

Run from the repository root (needs the ``test`` extra: moto[server], s3fs, boto3)::

    python benchmarks/bench_large.py [--size-mib 256] [--repeats 3] [--quick]

moto's S3 server is started on a free local port, one object of ``--size-mib`` random bytes
is uploaded, and every method reads the whole object and checks its sha256. Each run is
a fresh child process (this script with ``--one METHOD``), so peak RSS is measured alone:
the client is built and warmed up (one HEAD) first, then the peak-RSS mark is reset
(``/proc/self/clear_refs``) and VmRSS sampled; growth is VmHWM after the read minus that
sample. The conda baseline builds its boto3 session and client inside the timed read, as
conda did for every request. Throughput is in MB/s (10**6 bytes); TTFB is the time from
starting the request to holding the first chunk. The median of each method is printed as
a markdown table and every run is written to ``benchmarks/results/large.json``. ``--quick``
reads a 16 MiB object instead.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import (
    CHUNK,
    RESULTS_DIR,
    MiB,
    adapter_session,
    boto3_client,
    common_arguments,
    machine,
    machine_line,
    markdown_table,
    median,
    moto_server,
    progress,
    s3fs_filesystem,
    unique_bucket,
    write_json,
)

RESULTS = RESULTS_DIR / "large.json"
QUICK_SIZE_MIB = 16
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


def setup_adapter(t: Target) -> Reader:
    session, url = adapter_session(t.endpoint), f"s3://{t.path}"
    session.head(url).raise_for_status()

    def read() -> Iterator[bytes]:
        with session.get(url, stream=True) as response:
            response.raise_for_status()
            yield from response.iter_content(CHUNK)

    return read


def setup_s3fs(t: Target, cat: bool) -> Reader:
    fs = s3fs_filesystem(t.endpoint)
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


def child(method: str, t: Target) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--one", method, "--target", json.dumps(asdict(t))]
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, timeout=1800)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def benchmark(size_mib: int, repeats: int) -> dict[str, Any]:
    info = {"size_mib": size_mib, "repeats": repeats, "machine": machine()}
    with moto_server() as endpoint:
        data = os.urandom(size_mib * MiB)
        key, sha256 = f"large-{size_mib}MiB.bin", hashlib.sha256(data).hexdigest()
        t = Target(endpoint, unique_bucket("large"), key, sha256)
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=t.bucket)
        client.put_object(Bucket=t.bucket, Key=t.key, Body=data)
        del data, client  # children exec'd from this process inherit its ru_maxrss
        gc.collect()
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in METHODS}
        for repeat in range(repeats):  # interleaved, so load on the shared machine is spread
            for name in METHODS:
                runs[name].append(result := child(name, t))
                progress(f"large: run {repeat + 1}/{repeats} {name}: {json.dumps(result)}")
    size = size_mib * MiB
    summary = {
        name: {
            "mb_per_s": median([size / r["seconds"] / 1e6 for r in rs]),
            "ttfb_s": median([r["ttfb"] for r in rs]),
            "peak_rss_growth_mib": median([r["peak_rss_growth_bytes"] for r in rs]) / MiB,
            "all_sha_ok": all(r["sha_ok"] and r["bytes"] == size for r in rs),
        }
        for name, rs in runs.items()
    }
    return {**info, "summary": summary, "runs": runs}


def markdown(results: dict[str, Any], with_machine: bool = True) -> str:
    summary = results["summary"]
    base = summary["adapter"]["mb_per_s"]
    header = [
        "method",
        "median MB/s",
        "median TTFB (s)",
        "median peak RSS growth (MiB)",
        "MB/s vs adapter",
    ]
    rows = []
    for name, s in summary.items():
        label = METHODS[name][0] + ("" if s["all_sha_ok"] else " **(sha256 MISMATCH)**")
        rows.append(
            [
                label,
                f"{s['mb_per_s']:.1f}",
                f"{s['ttfb_s']:.3f}",
                f"{s['peak_rss_growth_mib']:.1f}",
                f"{s['mb_per_s'] / base:.2f}x",
            ]
        )
    note = (
        f"\n\nOne {results['size_mib']} MiB object on moto, read whole by each method; each "
        f"read in a fresh child process; median of {results['repeats']} run(s). "
        "MB/s = 10^6 bytes/s."
    )
    if with_machine:
        note += f"\n\nMachine: {machine_line(results['machine'])}"
    return markdown_table(header, rows) + note


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_arguments(parser, RESULTS)
    parser.add_argument("--size-mib", type=int, help=f"default 256 ({QUICK_SIZE_MIB} quick)")
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)  # in a child
    parser.add_argument("--target", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, Target(**args.target))))
        return
    size_mib = args.size_mib or (QUICK_SIZE_MIB if args.quick else 256)
    results = benchmark(size_mib, args.repeats)
    print(markdown(results))
    write_json(args.output, results)


if __name__ == "__main__":
    main()
