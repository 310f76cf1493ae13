"""Threads sharing one adapter session: aggregate throughput at 1, 4 and 16 threads.

Run from the repository root (needs the ``test`` extra: moto[server], s3fs, boto3)::

    python benchmarks/bench_concurrency.py [--threads 1 4 16] [--repeats 3] [--quick]

moto's S3 server is started on a free local port and ``--objects`` objects of ``--size-mib``
MiB are uploaded. For each thread count, the threads share ONE ``objstore_adapter`` session
and together do a fixed amount of work: ``--passes`` passes over every object (by default
4 x 64 GETs of 1 MiB = 256 MiB), each thread taking the next object from a shared counter
and streaming it with ``iter_content(1 MiB)``. The clock runs from releasing all threads at
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
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
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
    unique_bucket,
    write_json,
)

RESULTS = RESULTS_DIR / "concurrency.json"
Streamer = Callable[[str], Iterator[bytes]]  # key -> chunks of the body

LABELS = {
    "adapter": "adapter: one shared session, get(stream=True) + iter_content(1 MiB)",
    "boto3": 'boto3 (reference): one shared client, get_object()["Body"].iter_chunks(1 MiB)',
}


def streamers(endpoint: str, bucket: str, threads: int) -> dict[str, Streamer]:
    session = adapter_session(endpoint)
    client = boto3_client(endpoint, max_pool_connections=max(threads, 10))

    def adapter(key: str) -> Iterator[bytes]:
        with session.get(f"s3://{bucket}/{key}", stream=True) as response:
            response.raise_for_status()
            yield from response.iter_content(CHUNK)

    def boto3_stream(key: str) -> Iterator[bytes]:
        yield from client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(CHUNK)

    return {"adapter": adapter, "boto3": boto3_stream}


def verify(stream: Streamer, digests: dict[str, str]) -> None:
    for key, expected in digests.items():
        digest = hashlib.sha256()
        for chunk in stream(key):
            digest.update(chunk)
        if digest.hexdigest() != expected:
            raise AssertionError(f"wrong body for {key}")


def run(stream: Streamer, keys: list[str], size: int, threads: int, gets: int) -> dict[str, Any]:
    """``gets`` GETs shared out among ``threads`` threads; wall time and per-GET latency."""
    counter = itertools.count()
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    latencies: list[float] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        mine = []
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= gets:
                    break
                start = time.perf_counter()
                received = sum(len(chunk) for chunk in stream(keys[i % len(keys)]))
                mine.append(time.perf_counter() - start)
                if received != size:
                    raise AssertionError(f"received {received} of {size} bytes")
        except BaseException as exc:
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
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
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {str(n): [] for n in thread_counts} for name in LABELS
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
        for repeat in range(repeats):
            for threads in thread_counts:
                # new session and client per measurement: no connections left from the last
                for name, stream in streamers(endpoint, bucket, threads).items():
                    verify(stream, digests)
                    result = run(stream, keys, size, threads, gets)
                    runs[name][str(threads)].append(result)
                    progress(
                        f"concurrency: run {repeat + 1}/{repeats} {name} x{threads}: "
                        f"{result['mb_per_s']:.1f} MB/s, {result['requests_per_s']:.1f} req/s"
                    )
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


def markdown(results: dict[str, Any], with_machine: bool = True) -> str:
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
                    LABELS[name],
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
    if with_machine:
        note += f"\n\nMachine: {machine_line(results['machine'])}"
    return markdown_table(header, rows) + note


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_arguments(parser, RESULTS)
    parser.add_argument("--objects", type=int, help="distinct objects (64; 16 quick)")
    parser.add_argument("--size-mib", type=int, default=1, help="MiB per object")
    parser.add_argument("--passes", type=int, help="passes over the objects (4; 2 quick)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args(argv)
    objects = args.objects or (16 if args.quick else 64)
    passes = args.passes or (2 if args.quick else 4)
    results = benchmark(objects, args.size_mib, passes, args.threads, args.repeats)
    print(markdown(results))
    write_json(args.output, results)


if __name__ == "__main__":
    main()
