"""Random ranged reads from one object: the adapter's ``Range`` header against s3fs and boto3.

Run from the repository root (needs the ``test`` extra: moto[server], s3fs, boto3)::

    python benchmarks/bench_ranges.py [--size-mib 64] [--ranges 200] [--repeats 3] [--quick]

moto's S3 server is started on a free local port and one object of ``--size-mib`` random
bytes is uploaded. ``--ranges`` random, ``--range-kib``-long ranges are drawn (seeded, the
same for every method) and each method reads them one after another, each read timed alone:

* adapter: ``session.get(url, headers={"Range": "bytes=a-b"}).content`` (206);
* s3fs: ``fs.cat_file(path, start=a, end=b + 1)``;
* boto3: ``client.get_object(..., Range="bytes=a-b")["Body"].read()``.

Every body is compared with the uploaded bytes, outside the timed span. moto copies the whole
object for every ranged GET, so absolute latencies grow with the object's size and say more
about moto than about the clients; compare the methods with each other. Median and p90 per
repeat; the table shows their median over ``--repeats``, in milliseconds. Every latency is in
``benchmarks/results/ranges.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from typing import Any

from _common import (
    RESULTS_DIR,
    MiB,
    adapter_session,
    boto3_client,
    common_arguments,
    latency_stats,
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

RESULTS = RESULTS_DIR / "ranges.json"
KEY = "ranges/object.bin"
Reader = Callable[[int, int], bytes]  # first, last (inclusive) -> bytes

LABELS = {
    "adapter": 'adapter: session.get(url, headers={"Range": "bytes=a-b"}).content',
    "s3fs-cat": "s3fs: fs.cat_file(path, start=a, end=b + 1)",
    "boto3": 'boto3: get_object(Range="bytes=a-b")["Body"].read()',
}


def readers(endpoint: str, bucket: str) -> dict[str, Reader]:
    session = adapter_session(endpoint)
    fs = s3fs_filesystem(endpoint)
    client = boto3_client(endpoint)
    url, path = f"s3://{bucket}/{KEY}", f"{bucket}/{KEY}"

    def adapter(first: int, last: int) -> bytes:
        response = session.get(url, headers={"Range": f"bytes={first}-{last}"})
        if response.status_code != 206:
            raise AssertionError(f"adapter answered {response.status_code}, not 206")
        return response.content

    def s3fs_cat(first: int, last: int) -> bytes:
        data: bytes = fs.cat_file(path, start=first, end=last + 1)
        return data

    def boto3_get(first: int, last: int) -> bytes:
        response = client.get_object(Bucket=bucket, Key=KEY, Range=f"bytes={first}-{last}")
        data: bytes = response["Body"].read()
        return data

    return {"adapter": adapter, "s3fs-cat": s3fs_cat, "boto3": boto3_get}


def measure(read: Reader, ranges: list[tuple[int, int]], data: bytes) -> list[float]:
    latencies = []
    for first, last in ranges:
        start = time.perf_counter()
        body = read(first, last)
        latencies.append(time.perf_counter() - start)
        if body != data[first : last + 1]:
            raise AssertionError(f"wrong bytes for {first}-{last}: {len(body)} bytes")
    return latencies


def benchmark(
    size_mib: int, count: int, range_kib: int, warmup: int, repeats: int
) -> dict[str, Any]:
    size, length = size_mib * MiB, range_kib * 1024
    info = {
        "object_mib": size_mib,
        "ranges": count,
        "range_kib": range_kib,
        "warmup": warmup,
        "repeats": repeats,
        "machine": machine(),
    }
    rng = random.Random(20240601)
    ranges = [(a, a + length - 1) for a in (rng.randrange(size - length) for _ in range(count))]
    runs: dict[str, list[list[float]]] = {name: [] for name in LABELS}
    with moto_server() as endpoint:
        bucket = unique_bucket("ranges")
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        data = os.urandom(size)
        client.put_object(Bucket=bucket, Key=KEY, Body=data)
        methods = readers(endpoint, bucket)
        for repeat in range(repeats):
            for name, read in methods.items():
                measure(read, ranges[:warmup], data)
                runs[name].append(measure(read, ranges, data))
                stats = latency_stats(runs[name][-1])
                progress(
                    f"ranges: run {repeat + 1}/{repeats} {name}: median "
                    f"{stats['median_us'] / 1e3:.1f} ms, p90 {stats['p90_us'] / 1e3:.1f} ms"
                )
    per_run = {name: [latency_stats(r) for r in rs] for name, rs in runs.items()}
    summary = {
        name: {
            "median_ms": median([s["median_us"] for s in stats]) / 1e3,
            "p90_ms": median([s["p90_us"] for s in stats]) / 1e3,
        }
        for name, stats in per_run.items()
    }
    return {**info, "summary": summary, "runs": runs}


def markdown(results: dict[str, Any], with_machine: bool = True) -> str:
    summary = results["summary"]
    base = summary["adapter"]["median_ms"]
    header = ["method", "median per range (ms)", "p90 (ms)", "median vs adapter"]
    rows = [
        [
            LABELS[name],
            f"{s['median_ms']:.2f}",
            f"{s['p90_ms']:.2f}",
            f"{s['median_ms'] / base:.2f}x",
        ]
        for name, s in summary.items()
    ]
    note = (
        f"\n\n{results['ranges']} random {results['range_kib']} KiB ranges (the same for every "
        f"method) from one {results['object_mib']} MiB object on moto, after "
        f"{results['warmup']} untimed warm-up ranges; median over {results['repeats']} "
        "repeat(s) of each repeat's median and p90. moto copies the whole object for each "
        "ranged GET, so the absolute numbers are moto-bound."
    )
    if with_machine:
        note += f"\n\nMachine: {machine_line(results['machine'])}"
    return markdown_table(header, rows) + note


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_arguments(parser, RESULTS)
    parser.add_argument("--size-mib", type=int, help="object size, at most 64 (64; 16 quick)")
    parser.add_argument("--ranges", type=int, help="ranges per method (200; 30 quick)")
    parser.add_argument("--range-kib", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=5, help="untimed ranges first")
    args = parser.parse_args(argv)
    size_mib = args.size_mib or (16 if args.quick else 64)
    if not 0 < size_mib <= 64:
        parser.error("--size-mib must be 1..64: moto copies the whole object per ranged GET")
    count = args.ranges or (30 if args.quick else 200)
    results = benchmark(size_mib, count, args.range_kib, args.warmup, args.repeats)
    print(markdown(results))
    write_json(args.output, results)


if __name__ == "__main__":
    main()
