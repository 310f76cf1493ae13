"""Many small GETs: per-request latency of the adapter, s3fs, boto3 and conda's old S3Adapter.

Run from the repository root (needs the ``test`` extra: moto[server], s3fs, boto3)::

    python benchmarks/bench_small.py [--gets 1000] [--conda-gets 20] [--repeats 3] [--quick]

moto's S3 server is started on a free local port and ``--keys`` objects of ``--size`` random
bytes are uploaded. Each method then GETs them in turn, cycling through the keys, and every
request is timed alone (``time.perf_counter``) from the call to holding the body's bytes;
each body is checked against what was uploaded, outside the timed span. Before each
measurement every method makes ``--warmup`` untimed GETs (conda: one), so connections are
open and lazily built clients exist. The methods:

* adapter: ``session.get(url).content`` on one ``objstore_adapter`` session;
* adapter-native: the same on a route with ``TransferConfig(native_gets=True)`` (obstore);
* s3fs: ``fs.cat_file(path)`` on one filesystem;
* boto3: ``client.get_object(...)["Body"].read()`` on one client;
* conda: what conda's old ``S3Adapter`` did for every request: a new
  ``boto3.session.Session()``, a new client from it, ``download_fileobj`` into a
  ``SpooledTemporaryFile``. It is slow, so only ``--conda-gets`` requests are timed.

Methods are interleaved (one measurement of each, then the next repeat), so load on a shared
machine is spread. Each repeat gives a median and p90 per method; the table shows the median
of those over the repeats, in microseconds, and every latency is in the JSON
(``benchmarks/results/small.json``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

from _common import (
    KEY,
    SECRET,
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
from _peers import SMALL, Getter, Job


def get_s3fs_cat(job: Job) -> Getter:
    fs = s3fs_filesystem(job.endpoint)

    def get(key: str) -> bytes:
        data: bytes = fs.cat_file(f"{job.bucket}/{key}")
        return data

    return get


def get_conda(job: Job) -> Getter:
    def get(key: str) -> bytes:
        import boto3.session

        s3 = boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET).client(
            "s3", endpoint_url=job.endpoint, region_name="us-east-1"
        )
        with tempfile.SpooledTemporaryFile() as fh:  # max_size=0: never rolls over to disk
            s3.download_fileobj(job.bucket, key, fh)
            fh.seek(0)
            data: bytes = fh.read()
        return data

    return get


METHODS: dict[str, Method[Job, Getter]] = {
    "adapter": Method("adapter: session.get(url).content", SMALL["adapter"].setup),
    "adapter-native": Method(
        "adapter, native_gets=True (obstore): the same", SMALL["adapter_native"].setup
    ),
    "s3fs-cat": Method("s3fs: fs.cat_file(path)", get_s3fs_cat),
    "boto3": Method('boto3: get_object()["Body"].read(), one client', SMALL["boto3"].setup),
    "conda": Method(
        "conda's old S3Adapter: new Session + client per request, download_fileobj", get_conda
    ),
}


def benchmark(
    gets: int, conda_gets: int, keys: int, size: int, warmup: int, repeats: int
) -> dict[str, Any]:
    info = {
        "gets": gets,
        "conda_gets": conda_gets,
        "keys": keys,
        "object_bytes": size,
        "warmup": warmup,
        "repeats": repeats,
        "machine": machine(),
    }
    counts = {name: conda_gets if name == "conda" else gets for name in METHODS}
    with moto_server() as endpoint:
        bucket = unique_bucket("small")
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        objects = {f"small/{i:04d}.bin": os.urandom(size) for i in range(keys)}
        for key, data in objects.items():
            client.put_object(Bucket=bucket, Key=key, Body=data)
        names = list(objects)

        def cycled(count: int) -> list[str]:
            return [names[i % len(names)] for i in range(count)]

        measurements = {
            name: latencies(
                METHODS[name].setup(Job("small", name, endpoint, bucket, "", size)),
                # conda builds everything anew per request: one warm-up GET imports boto3
                cycled(1 if name == "conda" else warmup),
                cycled(counts[name]),
                objects.__getitem__,
            )
            for name in METHODS
        }
        runs = interleaved("small", repeats, measurements, show_latencies)
    summary = {name: {"gets_timed": counts[name], **s} for name, s in latency_summary(runs).items()}
    ratios = {
        "adapter_over_s3fs_cat": summary["adapter"]["median_us"] / summary["s3fs-cat"]["median_us"],
        "adapter_over_boto3": summary["adapter"]["median_us"] / summary["boto3"]["median_us"],
        "native_over_boto3": summary["adapter-native"]["median_us"] / summary["boto3"]["median_us"],
        "conda_over_adapter": summary["conda"]["median_us"] / summary["adapter"]["median_us"],
    }
    return {**info, "summary": summary, "ratios": ratios, "runs": runs}


def markdown(results: Results, show_machine: bool = True) -> str:
    summary, ratios = results["summary"], results["ratios"]
    base = summary["adapter"]["median_us"]
    header = ["method", "GETs timed", "median (us)", "p90 (us)", "median vs adapter"]
    rows = [
        [
            METHODS[name].label,
            f"{s['gets_timed']}" + (" (only)" if name == "conda" else ""),
            f"{s['median_us']:,.0f}",
            f"{s['p90_us']:,.0f}",
            f"{s['median_us'] / base:.2f}x",
        ]
        for name, s in summary.items()
    ]
    note = (
        f"\n\n{results['gets']:,} GETs per method and repeat of {results['object_bytes']:,}-byte "
        f"objects ({results['keys']} distinct keys, cycled) on moto; conda's approach is timed "
        f"on only {results['conda_gets']} GETs per repeat, because each one builds a boto3 "
        f"session and client. {results['warmup']} untimed warm-up GETs per method (conda: 1) "
        "first. "
        f"Median over {results['repeats']} repeat(s) of each repeat's median and p90.\n\n"
        f"Ratios of medians: adapter / s3fs cat_file = **{ratios['adapter_over_s3fs_cat']:.2f}**"
        f", adapter / boto3 = {ratios['adapter_over_boto3']:.2f}, adapter with native_gets / "
        f"boto3 = {ratios['native_over_boto3']:.2f}, conda / adapter = "
        f"**{ratios['conda_over_adapter']:.0f}**."
    )
    return with_machine(markdown_table(header, rows) + note, results, show_machine)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gets", type=int, help="timed GETs per method (1000; 100 quick)")
    parser.add_argument("--conda-gets", type=int, help="timed GETs for conda (20; 3 quick)")
    parser.add_argument("--keys", type=int, default=100, help="distinct objects")
    parser.add_argument("--size", type=int, default=1024, help="bytes per object")
    parser.add_argument("--warmup", type=int, default=20, help="untimed GETs per measurement")


def run(args: argparse.Namespace) -> Results:
    gets = args.gets or (100 if args.quick else 1000)
    conda_gets = args.conda_gets or (3 if args.quick else 20)
    warmup = min(args.warmup, 2) if args.quick else args.warmup
    return benchmark(gets, conda_gets, args.keys, args.size, warmup, args.repeats)


SCRIPT = Script("small", first_line(__doc__), arguments, run, markdown)

if __name__ == "__main__":
    SCRIPT.main()
