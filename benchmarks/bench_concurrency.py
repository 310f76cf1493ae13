"""Threads sharing one adapter session: aggregate throughput at 1, 4 and 16 threads.

Run from the repository root (needs the ``test`` extra: moto[server], s3fs, boto3)::

    python benchmarks/bench_concurrency.py [--threads 1 4 16] [--repeats 3] [--quick]

moto's S3 server is started on a free local port and ``--objects`` objects of ``--size-mib``
MiB are uploaded. For each thread count, the threads share ONE ``objstore_adapter`` session
and together do a fixed amount of work: ``--passes`` passes over every object (by default
4 x 64 GETs of 1 MiB = 256 MiB), thread ``t`` of ``n`` taking GETs ``t``, ``t + n``, ... and
streaming each with ``iter_content(1 MiB)``. The clock runs from releasing all threads at
once to the last one finishing; aggregate MB/s (10**6 bytes/s) and requests/s follow. Each
object is checked against its sha256 once per measurement, untimed, in a warm-up pass that
also opens connections. A boto3 client shared the same way (``max_pool_connections`` = the
thread count) is measured beside it for reference: on a 2-core machine running moto too,
both are bounded by moto and the CPUs, not by the network. Median over ``--repeats``;
every run is in ``benchmarks/results/concurrency.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from _common import (
    CHUNK,
    MiB,
    adapter_session,
    boto3_client,
    machine,
    markdown_table,
    median,
    moto_server,
    unique_bucket,
)
from _harness import Method, Results, Script, burst, first_line, interleaved, with_machine
from _peers import Job

Streamer = Callable[[str], Iterator[bytes]]  # key -> chunks of the body


def stream_adapter(job: Job) -> Streamer:
    session = adapter_session(job.endpoint)

    def stream(key: str) -> Iterator[bytes]:
        with session.get(f"s3://{job.bucket}/{key}", stream=True) as response:
            response.raise_for_status()
            yield from response.iter_content(CHUNK)

    return stream


def stream_boto3(job: Job) -> Streamer:
    client = boto3_client(job.endpoint, max_pool_connections=max(job.threads, 10))

    def stream(key: str) -> Iterator[bytes]:
        yield from client.get_object(Bucket=job.bucket, Key=key)["Body"].iter_chunks(CHUNK)

    return stream


METHODS: dict[str, Method[Job, Streamer]] = {
    "adapter": Method(
        "adapter: one shared session, get(stream=True) + iter_content(1 MiB)", stream_adapter
    ),
    "boto3": Method(
        'boto3 (reference): one shared client, get_object()["Body"].iter_chunks(1 MiB)',
        stream_boto3,
    ),
}


def verify(stream: Streamer, digests: dict[str, str]) -> None:
    for key, expected in digests.items():
        digest = hashlib.sha256()
        for chunk in stream(key):
            digest.update(chunk)
        if digest.hexdigest() != expected:
            raise AssertionError(f"wrong body for {key}")


def shared_gets(
    stream: Streamer, keys: list[str], size: int, threads: int, gets: int
) -> dict[str, Any]:
    """``gets`` GETs shared out among ``threads`` threads; wall time and per-GET latency."""
    latencies: list[float] = []

    def get(i: int) -> None:
        start = time.perf_counter()
        received = sum(len(chunk) for chunk in stream(keys[i % len(keys)]))
        latencies.append(time.perf_counter() - start)
        if received != size:
            raise AssertionError(f"received {received} of {size} bytes")

    seconds, errors = burst(get, gets, threads)
    if errors:
        raise RuntimeError(f"{len(errors)} GETs failed, the first: {errors[0]}")
    return {
        "seconds": seconds,
        "gets": gets,
        "bytes": gets * size,
        "mb_per_s": gets * size / seconds / 1e6,
        "requests_per_s": gets / seconds,
        "median_latency_ms": median(latencies) * 1e3,
    }


def benchmark(
    objects: int, size_mib: int, passes: int, thread_counts: list[int], repeats: int
) -> dict[str, Any]:
    size, gets = size_mib * MiB, objects * passes
    info = {
        "objects": objects,
        "object_mib": size_mib,
        "passes": passes,
        "gets_per_measurement": gets,
        "threads": thread_counts,
        "repeats": repeats,
        "machine": machine(),
    }
    with moto_server() as endpoint:
        bucket = unique_bucket("concurrency")
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        digests = {}
        for i in range(objects):
            key, data = f"concurrency/{i:03d}.bin", os.urandom(size)
            client.put_object(Bucket=bucket, Key=key, Body=data)
            digests[key] = hashlib.sha256(data).hexdigest()
        keys = list(digests)

        def measurement(threads: int, name: str) -> Callable[[int], dict[str, Any]]:
            def measure(repeat: int) -> dict[str, Any]:
                # a new session or client per measurement: no connections left from the last
                job = Job("concurrency", name, endpoint, bucket, "", size, threads=threads)
                stream = METHODS[name].setup(job)
                verify(stream, digests)
                return shared_gets(stream, keys, size, threads, gets)

            return measure

        by_key = interleaved(
            "concurrency",
            repeats,
            {
                (threads, name): measurement(threads, name)
                for threads in thread_counts
                for name in METHODS
            },
            show=lambda r: f"{r['mb_per_s']:.1f} MB/s, {r['requests_per_s']:.1f} req/s",
            name=lambda key: f"{key[1]} x{key[0]}",
        )
    runs = {
        name: {str(threads): by_key[threads, name] for threads in thread_counts} for name in METHODS
    }
    summary = {
        name: {
            threads: {
                "mb_per_s": median([r["mb_per_s"] for r in rs]),
                "requests_per_s": median([r["requests_per_s"] for r in rs]),
                "median_latency_ms": median([r["median_latency_ms"] for r in rs]),
            }
            for threads, rs in by_threads.items()
        }
        for name, by_threads in runs.items()
    }
    return {**info, "summary": summary, "runs": runs}


def markdown(results: Results, show_machine: bool = True) -> str:
    summary = results["summary"]
    header = [
        "method",
        "threads",
        "aggregate MB/s",
        "requests/s",
        "median GET latency (ms)",
        "MB/s vs 1 thread",
    ]
    rows = []
    for name, by_threads in summary.items():
        one = next(iter(by_threads.values()))["mb_per_s"]
        for threads, s in by_threads.items():
            rows.append(
                [
                    METHODS[name].label,
                    threads,
                    f"{s['mb_per_s']:.1f}",
                    f"{s['requests_per_s']:.1f}",
                    f"{s['median_latency_ms']:.1f}",
                    f"{s['mb_per_s'] / one:.2f}x",
                ]
            )
    total_mib = results["gets_per_measurement"] * results["object_mib"]
    note = (
        f"\n\nEach measurement: {results['gets_per_measurement']} GETs "
        f"({results['passes']} passes over {results['objects']} objects of "
        f"{results['object_mib']} MiB = {total_mib} MiB) shared out among the threads; "
        f"median of {results['repeats']} repeat(s)."
    )
    return with_machine(markdown_table(header, rows) + note, results, show_machine)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--objects", type=int, help="distinct objects (64; 16 quick)")
    parser.add_argument("--size-mib", type=int, default=1, help="MiB per object")
    parser.add_argument("--passes", type=int, help="passes over the objects (4; 2 quick)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])


def run(args: argparse.Namespace) -> Results:
    objects = args.objects or (16 if args.quick else 64)
    passes = args.passes or (2 if args.quick else 4)
    return benchmark(objects, args.size_mib, passes, args.threads, args.repeats)


SCRIPT = Script("concurrency", first_line(__doc__), arguments, run, markdown)

if __name__ == "__main__":
    SCRIPT.main()
