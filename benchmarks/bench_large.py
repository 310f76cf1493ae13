"""Reading one large S3 object: the adapter against s3fs, boto3 and conda's old S3Adapter.

Run from the repository root (needs the ``test`` extra: moto[server], s3fs, boto3)::

    python benchmarks/bench_large.py [--size-mib 256] [--repeats 3] [--quick]

moto's S3 server is started on a free local port, one object of ``--size-mib`` random bytes
is uploaded, and every method reads the whole object and checks its sha256. Each run is
a fresh child process (``_harness.in_child``), so peak RSS is measured alone: the client
is built and warmed up (a GET of the first byte) first, then the peak-RSS mark is reset
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
import os
import tempfile
from collections.abc import Callable
from typing import Any

from _common import (
    CHUNK,
    MiB,
    boto3_client,
    machine,
    markdown_table,
    median,
    moto_server,
    s3fs_filesystem,
    unique_bucket,
)
from _harness import (
    Method,
    Reader,
    Results,
    Script,
    Sink,
    first_line,
    in_child,
    interleaved,
    time_read,
    with_machine,
)
from _peers import GET, Job

QUICK_SIZE_MIB = 16


def get_s3fs_cat(job: Job) -> Reader:
    fs = s3fs_filesystem(job.endpoint)
    fs.cat_file(job.path, start=0, end=1)

    def read(sink: Sink) -> None:
        sink(fs.cat_file(job.path))

    return read


def get_conda(job: Job) -> Reader:
    import boto3.session

    def read(sink: Sink) -> None:
        client = boto3_client(job.endpoint, boto3.session.Session())  # new per request
        with tempfile.SpooledTemporaryFile() as fh:  # max_size=0: never rolls over to disk
            client.download_fileobj(job.bucket, job.key, fh)
            fh.seek(0)
            while chunk := fh.read(CHUNK):
                sink(chunk)

    return read


METHODS: dict[str, Method[Job, Reader]] = {
    "adapter": Method(
        "adapter: session.get(stream=True) + iter_content(1 MiB)", GET["adapter"].setup
    ),
    "s3fs-open": Method('s3fs: fs.open(path, "rb") + read(1 MiB)', GET["s3fs"].setup),
    "s3fs-cat": Method("s3fs: fs.cat_file(path)", get_s3fs_cat),
    "boto3": Method('boto3: get_object()["Body"].iter_chunks(1 MiB)', GET["boto3"].setup),
    "conda": Method("conda's old S3Adapter: new session, download_fileobj", get_conda),
}


def measure(job: Job) -> dict[str, Any]:
    """One read in this (fresh) process."""
    read = time_read(METHODS[job.method].setup(job))
    return {
        "seconds": read.seconds,
        "ttfb": read.ttfb,
        "bytes": read.bytes,
        "peak_rss_growth_bytes": read.peak_rss_growth_bytes,
        # ru_maxrss cannot be reset: a forked child starts from its parent's peak
        "ru_maxrss_growth_bytes": read.ru_maxrss_growth_bytes,
        "hwm_reset": os.access("/proc/self/clear_refs", os.W_OK),
        "sha_ok": read.sha256 == job.sha256,
    }


def in_a_child(job: Job) -> Callable[[int], dict[str, Any]]:
    """A measurement of ``job``: each repeat in a fresh child process."""
    return lambda repeat: in_child(measure, job)


def benchmark(size_mib: int, repeats: int) -> dict[str, Any]:
    info = {"size_mib": size_mib, "repeats": repeats, "machine": machine()}
    with moto_server() as endpoint:
        data = os.urandom(size_mib * MiB)
        key, sha256 = f"large-{size_mib}MiB.bin", hashlib.sha256(data).hexdigest()
        bucket = unique_bucket("large")
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key=key, Body=data)
        del data, client
        gc.collect()
        jobs = {
            name: Job("large", name, endpoint, bucket, key, size_mib * MiB, sha256)
            for name in METHODS
        }
        runs = interleaved(
            "large",
            repeats,
            {name: in_a_child(job) for name, job in jobs.items()},
        )
    size = size_mib * MiB
    medians = {
        name: {
            "mb_per_s": median([size / r["seconds"] / 1e6 for r in rs]),
            "ttfb_s": median([r["ttfb"] for r in rs]),
            "peak_rss_growth_mib": median([r["peak_rss_growth_bytes"] for r in rs]) / MiB,
            "all_sha_ok": all(r["sha_ok"] and r["bytes"] == size for r in rs),
        }
        for name, rs in runs.items()
    }
    return {**info, "summary": medians, "runs": runs}


def markdown(results: Results, show_machine: bool = True) -> str:
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
        label = METHODS[name].label + ("" if s["all_sha_ok"] else " **(sha256 MISMATCH)**")
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
    return with_machine(markdown_table(header, rows) + note, results, show_machine)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size-mib", type=int, help=f"default 256 ({QUICK_SIZE_MIB} quick)")


def run(args: argparse.Namespace) -> Results:
    return benchmark(args.size_mib or (QUICK_SIZE_MIB if args.quick else 256), args.repeats)


SCRIPT = Script("large", first_line(__doc__), arguments, run, markdown)

if __name__ == "__main__":
    SCRIPT.main()
