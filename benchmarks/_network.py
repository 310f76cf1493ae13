"""The harness of the network benchmarks: servers, links, peers, child processes, tables.

A scenario file (``bench_network.py``) declares its sizes in a :class:`Scenario` and calls
:func:`main`. For every server (moto's S3 server, SeaweedFS) and every link (``direct``, or
``shaped`` through :class:`_shaping.ShapingProxy`), each repeat measures every method of every
case, interleaved so load on a shared machine is spread:

* ``get``: one large object read whole (MiB/s, time to first byte, peak RSS growth, sha256);
* ``put``: one large object uploaded from a local file (MiB/s, peak RSS growth); the parent
  reads each upload back from the server, directly, and checks its sha256;
* ``small``: many small GETs from threads sharing one session or client (requests/s; every
  body checked).

Each measurement runs in a fresh child process, forked from a ``multiprocessing`` fork server
that has imported the clients once (a child then starts in milliseconds, not the second an
interpreter takes to import boto3 and s3fs): the client is built and warmed up with one
request first, then the peak-RSS mark is reset, so growth counts only the transfer. The
methods are in ``_peers.py``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing
import multiprocessing.context
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import (
    CHUNK,
    MiB,
    boto3_client,
    common_arguments,
    machine,
    machine_line,
    markdown_table,
    median,
    moto_server,
    peak_rss_growth,
    progress,
    reset_peak_rss,
    seaweed_server,
    unique_bucket,
    write_json,
)
from _peers import GET, PUT, SMALL, Job, Method, sha256_file, small_body, small_key
from _shaping import ShapingProxy

SERVERS: dict[str, Callable[[], AbstractContextManager[str]]] = {
    "moto": moto_server,
    "seaweedfs": seaweed_server,
}
CASES: dict[str, dict[str, Method[Any]]] = {"get": GET, "put": PUT, "small": SMALL}
LINKS = ("direct", "shaped")
GET_KEY = "large/object.bin"


@dataclass(frozen=True)
class Scenario:
    """Sizes and counts of one network benchmark, full and ``--quick``."""

    name: str
    size_mib: int  # the large object of "get" and "put"
    quick_size_mib: int
    small_gets: int
    quick_small_gets: int
    small_bytes: int = 4096
    small_keys: int = 100
    small_threads: int = 16
    latency_ms: float = 20.0  # the shaped link: added before each response's status line
    bandwidth_mib: float = 40.0  # the shaped link: per connection and direction


@dataclass(frozen=True)
class Settings:
    """What one run measures: a scenario's sizes after ``--quick`` and the options."""

    size: int
    small_gets: int
    small_bytes: int
    small_keys: int
    small_threads: int
    latency_ms: float
    bandwidth_mib: float
    servers: tuple[str, ...]
    links: tuple[str, ...]
    cases: tuple[str, ...]
    repeats: int


# --- in the child: one measurement -------------------------------------------------------------


def measure(job: Job) -> dict[str, Any]:
    """Run ``job`` in this (fresh) process; what the parent reads back as JSON."""
    if job.case == "get":
        return _measure_get(job)
    if job.case == "put":
        return _measure_put(job)
    return _measure_small(job)


def _measure_get(job: Job) -> dict[str, Any]:
    read = GET[job.method].setup(job)
    gc.collect()
    rss_before = reset_peak_rss()
    digest, size, ttfb = hashlib.sha256(), 0, 0.0
    start = time.perf_counter()

    def sink(chunk: bytes | memoryview) -> None:
        nonlocal size, ttfb
        if not size:
            ttfb = time.perf_counter() - start
        digest.update(chunk)
        size += len(chunk)

    read(sink)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "ttfb": ttfb,
        "bytes": size,
        "peak_rss_growth_bytes": peak_rss_growth(rss_before),
        "ok": size == job.size and digest.hexdigest() == job.sha256,
    }


def _measure_put(job: Job) -> dict[str, Any]:
    write = PUT[job.method].setup(job)
    gc.collect()
    rss_before = reset_peak_rss()
    start = time.perf_counter()
    write()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_growth_bytes": peak_rss_growth(rss_before)}


def _measure_small(job: Job) -> dict[str, Any]:
    get = SMALL[job.method].setup(job)
    bodies = {small_key(i): small_body(i, job.size) for i in range(job.keys)}
    keys = list(bodies)

    def burst(count: int) -> tuple[float, list[str]]:
        """``count`` GETs shared out among the threads, started together; seconds, errors."""
        errors: list[str] = []
        ready = threading.Barrier(job.threads + 1)

        def worker(first: int) -> None:
            ready.wait()
            for i in range(first, count, job.threads):
                key = keys[i % len(keys)]
                try:
                    if get(key) != bodies[key]:
                        errors.append(f"wrong body for {key}")
                except Exception as exc:  # counted and shown, not raised: one run, all errors
                    errors.append(repr(exc))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(job.threads)]
        for thread in threads:
            thread.start()
        ready.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start, errors

    burst(2 * job.threads)  # warm-up: every thread's connection open, lazy clients built
    gc.collect()
    rss_before = reset_peak_rss()
    seconds, errors = burst(job.count)
    return {
        "seconds": seconds,
        "requests_per_s": job.count / seconds,
        "peak_rss_growth_bytes": peak_rss_growth(rss_before),
        "errors": len(errors),
        "first_errors": errors[:3],
        "ok": not errors,
    }


# --- in the parent: servers, links, children ---------------------------------------------------


@contextmanager
def link_to(endpoint: str, link: str, latency_ms: float, bandwidth_mib: float) -> Iterator[str]:
    """The endpoint as seen through ``link``: the server itself, or a shaping proxy."""
    if link == "direct":
        yield endpoint
        return
    bandwidth = bandwidth_mib * MiB if bandwidth_mib else None
    with ShapingProxy(endpoint, latency_ms / 1000, bandwidth) as proxy:
        yield proxy.endpoint


#: Imported once by the fork server, so each child starts in milliseconds with them loaded.
#: obstore is left out: its Rust runtime is not to be shared across a fork.
PRELOAD = ["_network", "boto3", "botocore.session", "s3fs", "requests", "objstore_adapter"]


def _children() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _child_main(job: dict[str, Any], results: Connection) -> None:
    results.send(measure(Job(**job)))
    results.close()


def child(job: Job, timeout: float = 1800) -> dict[str, Any]:
    """``measure(job)`` in a fresh process, forked from a server that preloaded the clients."""
    context = _children()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(asdict(job), sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            process.kill()
            raise TimeoutError(f"{job.case} {job.method} took over {timeout} s")
        result: dict[str, Any] = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(
            f"{job.case} {job.method} failed: exit code {process.exitcode}"
        ) from None
    finally:
        receiver.close()
    process.join()
    return result


def _stored_sha256(client: Any, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _write_random_file(path: Path, size: int) -> str:
    with path.open("wb") as f:
        for offset in range(0, size, CHUNK):
            f.write(os.urandom(min(CHUNK, size - offset)))
    return sha256_file(path)


def _fill_bucket(client: Any, bucket: str, source: Path, settings: Settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client.create_bucket(Bucket=bucket)
    client.upload_file(str(source), bucket, GET_KEY)

    def put_small(i: int) -> None:
        client.put_object(Bucket=bucket, Key=small_key(i), Body=small_body(i, settings.small_bytes))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put_small, range(settings.small_keys)))


def jobs(settings: Settings, endpoint: str, bucket: str, source: Path, sha256: str) -> list[Job]:
    """One measurement of every method of every case, in the order they run."""
    large = {"size": settings.size, "sha256": sha256}
    small = {
        "key": "",
        "size": settings.small_bytes,
        "count": settings.small_gets,
        "threads": settings.small_threads,
        "keys": settings.small_keys,
    }
    per_case: dict[str, Callable[[str], dict[str, Any]]] = {
        "get": lambda method: {"key": GET_KEY, **large},
        "put": lambda method: {"key": f"put/{method}.bin", "source": str(source), **large},
        "small": lambda method: small,
    }
    return [
        Job(case, method, endpoint, bucket, **per_case[case](method))
        for case in settings.cases
        for method in CASES[case]
    ]


Runs = dict[str, dict[str, list[dict[str, Any]]]]  # case -> method -> one result per repeat


def measure_link(settings: Settings, where: str, jobs: list[Job], client: Any) -> Runs:
    """Every job ``settings.repeats`` times, interleaved; uploads are read back and checked."""
    runs: Runs = {}
    for repeat in range(settings.repeats):
        for job in jobs:
            result = child(job)
            if job.case == "put":
                result["ok"] = _stored_sha256(client, job.bucket, job.key) == job.sha256
            runs.setdefault(job.case, {}).setdefault(job.method, []).append(result)
            run = f"{repeat + 1}/{settings.repeats}"
            progress(f"{where} {run} {job.case} {job.method}: {json.dumps(result)}")
    return runs


def benchmark(settings: Settings) -> dict[str, Any]:
    """Every case, method, server and link, ``settings.repeats`` times; runs and medians."""
    runs: dict[str, dict[str, Runs]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-network-") as tmp:
        source = Path(tmp) / "large.bin"
        sha256 = _write_random_file(source, settings.size)
        for server in settings.servers:
            with SERVERS[server]() as endpoint:
                client = boto3_client(endpoint, max_pool_connections=16)
                bucket = unique_bucket("network")
                _fill_bucket(client, bucket, source, settings)
                for link in settings.links:
                    shape = (settings.latency_ms, settings.bandwidth_mib)
                    with link_to(endpoint, link, *shape) as url:
                        todo = jobs(settings, url, bucket, source, sha256)
                        where = f"{server} {link}"
                        runs.setdefault(server, {})[link] = measure_link(
                            settings, where, todo, client
                        )
    return {"runs": runs, "summary": summarize(runs, settings)}


# --- summaries and tables ------------------------------------------------------------------------


def summarize(runs: dict[str, dict[str, Runs]], settings: Settings) -> dict[str, Any]:
    """Medians per server, link, case and method."""

    def one(case: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "peak_rss_growth_mib": median([r["peak_rss_growth_bytes"] for r in results]) / MiB,
            "all_ok": all(r["ok"] for r in results),
        }
        if case == "small":
            summary["requests_per_s"] = median([r["requests_per_s"] for r in results])
        else:
            summary["mib_per_s"] = median([settings.size / r["seconds"] / MiB for r in results])
        if case == "get":
            summary["ttfb_s"] = median([r["ttfb"] for r in results])
        return summary

    return {
        server: {
            link: {
                case: {method: one(case, results) for method, results in by_method.items()}
                for case, by_method in by_case.items()
            }
            for link, by_case in by_link.items()
        }
        for server, by_link in runs.items()
    }


def case_title(case: str, s: dict[str, Any]) -> str:
    if case == "small":
        return (
            f"{s['small_gets']:,} GETs of {s['small_bytes'] // 1024} KiB, "
            f"{s['small_threads']} threads"
        )
    return f"{case.upper()} {s['size'] // MiB} MiB"


def link_title(link: str, s: dict[str, Any]) -> str:
    if link == "direct":
        return "direct (loopback)"
    cap = f"{s['bandwidth_mib']:g} MiB/s per connection" if s["bandwidth_mib"] else "no cap"
    return f"shaped (+{s['latency_ms']:g} ms per response, {cap})"


def rate(case: str, summary: dict[str, Any]) -> float:
    return float(summary["requests_per_s" if case == "small" else "mib_per_s"])


#: The adapter's own methods: its default route, and one with ``native_gets``.
OURS = {"adapter": "adapter", "adapter_native": "adapter (native_gets)"}


def _versus_peers(by_case: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The adapter's rate over the best peer's, per case (and over each peer for small GETs)."""
    parts = []
    for case, by_method in by_case.items():
        peers = {m: rate(case, s) for m, s in by_method.items() if m not in OURS}
        for method, name in OURS.items():
            if method not in by_method:
                continue
            ours = rate(case, by_method[method])
            if case == "small":
                parts += [f"{name} small GETs {ours / r:.2f}x {m}" for m, r in peers.items()]
            elif peers:
                best = max(peers, key=lambda m: peers[m])
                parts.append(
                    f"{name} {case.upper()} {ours / peers[best]:.2f}x the best peer ({best})"
                )
    return "Adapter against its peers: " + "; ".join(parts) + "." if parts else ""


def markdown(results: dict[str, Any], with_machine: bool = True) -> str:
    """One table per server and link, each method's rate beside the adapter's."""
    s = results["settings"]
    sections = []
    header = ["case", "method", "median rate", "TTFB (ms)", "peak RSS growth (MiB)", "x adapter"]
    for server, by_link in results["summary"].items():
        for link, by_case in by_link.items():
            rows = []
            for case, by_method in by_case.items():
                base = rate(case, by_method["adapter"]) if "adapter" in by_method else None
                unit = "req/s" if case == "small" else "MiB/s"
                for method, summary in by_method.items():
                    label = CASES[case][method].label
                    if not summary["all_ok"]:
                        label += " **(WRONG BYTES OR ERRORS)**"
                    value = rate(case, summary)
                    rows.append(
                        [
                            case_title(case, s),
                            label,
                            f"{value:,.0f} {unit}",
                            f"{summary['ttfb_s'] * 1000:.1f}" if "ttfb_s" in summary else "",
                            f"{summary['peak_rss_growth_mib']:.1f}",
                            f"{value / base:.2f}x" if base else "",
                        ]
                    )
            sections.append(
                f"### {server}, {link_title(link, s)}\n\n"
                + markdown_table(header, rows, left=2)
                + f"\n\n{_versus_peers(by_case)}"
            )
    note = (
        f"Median of {s['repeats']} run(s) of each method, each in a fresh child process "
        "(client built and warmed up with one request first; peak RSS growth counts only the "
        "transfer). GET bodies are checked by sha256 as they stream, uploads by reading them "
        "back from the server, small bodies one by one. MiB/s = 2^20 bytes/s; TTFB is the time "
        "from the call to holding the first bytes."
    )
    if with_machine:
        note += f"\n\nMachine: {machine_line(results['machine'])}"
    return "\n\n".join(sections) + "\n\n" + note


def main(scenario: Scenario, argv: list[str] | None = None) -> None:
    """The command line of a scenario script."""
    from _common import RESULTS_DIR

    parser = argparse.ArgumentParser(description=f"The {scenario.name} benchmark.")
    common_arguments(parser, RESULTS_DIR / f"{scenario.name}.json")
    parser.add_argument(
        "--size-mib",
        type=int,
        help=f"large object ({scenario.size_mib}; {scenario.quick_size_mib} quick)",
    )
    parser.add_argument(
        "--small-gets",
        type=int,
        help=f"small GETs timed ({scenario.small_gets}; {scenario.quick_small_gets} quick)",
    )
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    parser.add_argument("--links", nargs="+", choices=LINKS, default=list(LINKS))
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--latency-ms", type=float, default=scenario.latency_ms)
    parser.add_argument(
        "--bandwidth-mib", type=float, default=scenario.bandwidth_mib, help="0: no cap"
    )
    args = parser.parse_args(argv)
    size_mib = args.size_mib or (scenario.quick_size_mib if args.quick else scenario.size_mib)
    quick_gets = scenario.quick_small_gets if args.quick else scenario.small_gets
    settings = Settings(
        size=size_mib * MiB,
        small_gets=args.small_gets or quick_gets,
        small_bytes=scenario.small_bytes,
        small_keys=scenario.small_keys,
        small_threads=scenario.small_threads,
        latency_ms=args.latency_ms,
        bandwidth_mib=args.bandwidth_mib,
        servers=tuple(args.servers),
        links=tuple(args.links),
        cases=tuple(args.cases),
        repeats=args.repeats,
    )
    results = {"settings": asdict(settings), "machine": machine(), **benchmark(settings)}
    print(markdown(results))
    write_json(args.output, results)
