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
from collections.abc import Callable
from functools import partial
from typing import Any

from _common import (
    MiB,
    adapter_session,
    boto3_client,
    machine,
    markdown_table,
    moto_server,
    s3fs_filesystem,
    unique_bucket,
)
from _harness import (
    Method,
    Results,
    Script,
    first_line,
    interleaved,
    latencies,
    latency_summary,
    show_latencies,
    with_machine,
)
from _peers import Job

KEY = "ranges/object.bin"
Range = tuple[int, int]  # first, last (inclusive)
Reader = Callable[[Range], bytes]


def read_adapter(job: Job) -> Reader:
    session = adapter_session(job.endpoint)

    def read(span: Range) -> bytes:
        response = session.get(job.url, headers={"Range": "bytes={}-{}".format(*span)})
        if response.status_code != 206:
            raise AssertionError(f"adapter answered {response.status_code}, not 206")
        return response.content

    return read


def read_s3fs_cat(job: Job) -> Reader:
    fs = s3fs_filesystem(job.endpoint)

    def read(span: Range) -> bytes:
        data: bytes = fs.cat_file(job.path, start=span[0], end=span[1] + 1)
        return data

    return read


def read_boto3(job: Job) -> Reader:
    client = boto3_client(job.endpoint)

    def read(span: Range) -> bytes:
        ranged = "bytes={}-{}".format(*span)
        data: bytes = client.get_object(Bucket=job.bucket, Key=job.key, Range=ranged)["Body"].read()
        return data

    return read


METHODS: dict[str, Method[Job, Reader]] = {
    "adapter": Method(
        'adapter: session.get(url, headers={"Range": "bytes=a-b"}).content', read_adapter
    ),
    "s3fs-cat": Method("s3fs: fs.cat_file(path, start=a, end=b + 1)", read_s3fs_cat),
    "boto3": Method('boto3: get_object(Range="bytes=a-b")["Body"].read()', read_boto3),
}


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
    with moto_server() as endpoint:
        bucket = unique_bucket("ranges")
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        data = os.urandom(size)
        client.put_object(Bucket=bucket, Key=KEY, Body=data)

        def expected(span: Range) -> bytes:
            return data[span[0] : span[1] + 1]

        measurements = {
            name: latencies(
                METHODS[name].setup(Job("ranges", name, endpoint, bucket, KEY, size)),
                ranges[:warmup],
                ranges,
                expected,
            )
            for name in METHODS
        }
        runs = interleaved("ranges", repeats, measurements, partial(show_latencies, unit="ms"))
    summary = {
        name: {"median_ms": s["median_us"] / 1e3, "p90_ms": s["p90_us"] / 1e3}
        for name, s in latency_summary(runs).items()
    }
    return {**info, "summary": summary, "runs": runs}


def markdown(results: Results, show_machine: bool = True) -> str:
    summary = results["summary"]
    base = summary["adapter"]["median_ms"]
    header = ["method", "median per range (ms)", "p90 (ms)", "median vs adapter"]
    rows = [
        [
            METHODS[name].label,
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
    return with_machine(markdown_table(header, rows) + note, results, show_machine)


def object_mib(text: str) -> int:
    """``--size-mib``: at most 64, since moto copies the whole object per ranged GET."""
    size_mib = int(text)
    if not 0 < size_mib <= 64:
        raise argparse.ArgumentTypeError(
            "must be 1..64: moto copies the whole object per ranged GET"
        )
    return size_mib


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size-mib", type=object_mib, help="object size, at most 64 (64; 16 quick)"
    )
    parser.add_argument("--ranges", type=int, help="ranges per method (200; 30 quick)")
    parser.add_argument("--range-kib", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=5, help="untimed ranges first")


def run(args: argparse.Namespace) -> Results:
    size_mib = args.size_mib or (16 if args.quick else 64)
    count = args.ranges or (30 if args.quick else 200)
    return benchmark(size_mib, count, args.range_kib, args.warmup, args.repeats)


SCRIPT = Script("ranges", first_line(__doc__), arguments, run, markdown)

if __name__ == "__main__":
    SCRIPT.main()
