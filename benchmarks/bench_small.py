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
import time
from collections.abc import Callable
from typing import Any

from _common import (
    KEY,
    RESULTS_DIR,
    SECRET,
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

RESULTS = RESULTS_DIR / "small.json"
Getter = Callable[[str], bytes]  # key -> body

LABELS = {
    "adapter": "adapter: session.get(url).content",
    "adapter-native": "adapter, native_gets=True (obstore): the same",
    "s3fs-cat": "s3fs: fs.cat_file(path)",
    "boto3": 'boto3: get_object()["Body"].read(), one client',
    "conda": "conda's old S3Adapter: new Session + client per request, download_fileobj",
}


def getters(endpoint: str, bucket: str) -> dict[str, Getter]:
    session = adapter_session(endpoint)
    native = adapter_session(endpoint, native_gets=True)
    fs = s3fs_filesystem(endpoint)
    client = boto3_client(endpoint)

    def adapter(key: str) -> bytes:
        return session.get(f"s3://{bucket}/{key}").content

    def adapter_native(key: str) -> bytes:
        return native.get(f"s3://{bucket}/{key}").content

    def s3fs_cat(key: str) -> bytes:
        data: bytes = fs.cat_file(f"{bucket}/{key}")
        return data

    def boto3_get(key: str) -> bytes:
        data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def conda(key: str) -> bytes:
        import boto3.session

        s3 = boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET).client(
            "s3", endpoint_url=endpoint, region_name="us-east-1"
        )
        with tempfile.SpooledTemporaryFile() as fh:  # max_size=0: never rolls over to disk
            s3.download_fileobj(bucket, key, fh)
            fh.seek(0)
            data: bytes = fh.read()
        return data

    return {
        "adapter": adapter,
        "adapter-native": adapter_native,
        "s3fs-cat": s3fs_cat,
        "boto3": boto3_get,
        "conda": conda,
    }


def measure(get: Getter, keys: list[str], objects: dict[str, bytes], gets: int) -> list[float]:
    """Latency in seconds of each of ``gets`` requests, cycling through ``keys``."""
    latencies = []
    for i in range(gets):
        key = keys[i % len(keys)]
        start = time.perf_counter()
        body = get(key)
        latencies.append(time.perf_counter() - start)
        if body != objects[key]:
            raise AssertionError(f"wrong body for {key}: {len(body)} bytes")
    return latencies


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
    counts = {name: conda_gets if name == "conda" else gets for name in LABELS}
    runs: dict[str, list[list[float]]] = {name: [] for name in LABELS}
    with moto_server() as endpoint:
        bucket = unique_bucket("small")
        client = boto3_client(endpoint)
        client.create_bucket(Bucket=bucket)
        objects = {f"small/{i:04d}.bin": os.urandom(size) for i in range(keys)}
        for key, data in objects.items():
            client.put_object(Bucket=bucket, Key=key, Body=data)
        names = list(objects)
        methods = getters(endpoint, bucket)
        for repeat in range(repeats):
            for name, get in methods.items():
                # conda builds everything anew per request: one warm-up GET imports boto3
                measure(get, names, objects, 1 if name == "conda" else warmup)
                runs[name].append(measure(get, names, objects, counts[name]))
                stats = latency_stats(runs[name][-1])
                progress(
                    f"small: run {repeat + 1}/{repeats} {name}: median "
                    f"{stats['median_us']:.0f} us, p90 {stats['p90_us']:.0f} us"
                )
    per_run = {name: [latency_stats(r) for r in rs] for name, rs in runs.items()}
    summary = {
        name: {
            "gets_timed": counts[name],
            "median_us": median([s["median_us"] for s in stats]),
            "p90_us": median([s["p90_us"] for s in stats]),
        }
        for name, stats in per_run.items()
    }
    ratios = {
        "adapter_over_s3fs_cat": summary["adapter"]["median_us"] / summary["s3fs-cat"]["median_us"],
        "adapter_over_boto3": summary["adapter"]["median_us"] / summary["boto3"]["median_us"],
        "native_over_boto3": summary["adapter-native"]["median_us"] / summary["boto3"]["median_us"],
        "conda_over_adapter": summary["conda"]["median_us"] / summary["adapter"]["median_us"],
    }
    return {**info, "summary": summary, "ratios": ratios, "runs": runs}


def markdown(results: dict[str, Any], with_machine: bool = True) -> str:
    summary, ratios = results["summary"], results["ratios"]
    base = summary["adapter"]["median_us"]
    header = ["method", "GETs timed", "median (us)", "p90 (us)", "median vs adapter"]
    rows = [
        [
            LABELS[name],
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
    if with_machine:
        note += f"\n\nMachine: {machine_line(results['machine'])}"
    return markdown_table(header, rows) + note


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_arguments(parser, RESULTS)
    parser.add_argument("--gets", type=int, help="timed GETs per method (1000; 100 quick)")
    parser.add_argument("--conda-gets", type=int, help="timed GETs for conda (20; 3 quick)")
    parser.add_argument("--keys", type=int, default=100, help="distinct objects")
    parser.add_argument("--size", type=int, default=1024, help="bytes per object")
    parser.add_argument("--warmup", type=int, default=20, help="untimed GETs per measurement")
    args = parser.parse_args(argv)
    gets = args.gets or (100 if args.quick else 1000)
    conda_gets = args.conda_gets or (3 if args.quick else 20)
    warmup = min(args.warmup, 2) if args.quick else args.warmup
    results = benchmark(gets, conda_gets, args.keys, args.size, warmup, args.repeats)
    print(markdown(results))
    write_json(args.output, results)


if __name__ == "__main__":
    main()
