"""The harness of the network benchmarks: servers, links, peers, child processes, tables.

A scenario file (``bench_network.py``) declares its sizes in a :class:`Scenario` and calls
:func:`main`. For every server (moto's S3 server, SeaweedFS) and every link (``direct``, or
``shaped`` through :class:`_shaping.ShapingProxy`), each repeat measures every method of every
case, interleaved so load on a shared machine is spread (large GETs at least five times, the
median the issue's targets are read from):

* ``get``: one large object read whole (MiB/s, time to first byte, peak RSS growth, sha256);
* ``put``: one large object uploaded from a local file (MiB/s, peak RSS growth); the parent
  reads each upload back from the server, directly, and checks its sha256;
* ``small``: many small GETs from threads sharing one session or client (requests/s; every
  body checked).

Each method runs in a child process of its own, kept for all its runs
(``_harness.Worker``, forked from a fork server that has imported the clients once), as one
application would use one client: the client is built and warmed up with one request before
its first run, and the peak-RSS mark is reset before each run, so growth counts only the
transfer. The methods are in ``_peers.py``; the command line, repeats and output are
``_harness.py``'s.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import (
    CHUNK,
    MiB,
    boto3_client,
    machine,
    markdown_table,
    median,
    moto_server,
    peak_rss_growth,
    reset_peak_rss,
    seaweed_server,
    unique_bucket,
)
from _harness import (
    Method,
    Results,
    Script,
    Worker,
    burst,
    interleaved,
    time_read,
    with_machine,
)
from _peers import GET, PUT, SMALL, Job, sha256_file, small_body, small_key
from _shaping import ShapingProxy

SERVERS: dict[str, Callable[[], AbstractContextManager[str]]] = {
    "moto": moto_server,
    "seaweedfs": seaweed_server,
}
CASES: dict[str, dict[str, Method[Job, Any]]] = {"get": GET, "put": PUT, "small": SMALL}
LINKS = ("direct", "shaped")
GET_KEY = "large/object.bin"
GET_REPEATS = 5  # at least: large GETs are read from the median of five


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
    get_repeats: int


# --- in the child: one measurement -------------------------------------------------------------

#: What each job's setup built in this worker process: its first run builds it, the rest reuse it.
_built: dict[Job, Any] = {}


def _set_up(job: Job) -> Any:
    if job not in _built:
        _built[job] = CASES[job.case][job.method].setup(job)
    return _built[job]


def measure(job: Job) -> dict[str, Any]:
    """One run of ``job`` in this worker process; what the parent reads back as JSON."""
    if job.case == "get":
        return _measure_get(job)
    if job.case == "put":
        return _measure_put(job)
    return _measure_small(job)


def _measure_get(job: Job) -> dict[str, Any]:
    read = time_read(_set_up(job))
    return {
        "seconds": read.seconds,
        "ttfb": read.ttfb,
        "bytes": read.bytes,
        "peak_rss_growth_bytes": read.peak_rss_growth_bytes,
        "ok": read.bytes == job.size and read.sha256 == job.sha256,
    }


def _measure_put(job: Job) -> dict[str, Any]:
    write = _set_up(job)
    gc.collect()
    rss_before = reset_peak_rss()
    start = time.perf_counter()
    write()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_growth_bytes": peak_rss_growth(rss_before)}


def _measure_small(job: Job) -> dict[str, Any]:
    get = _set_up(job)
    bodies = {small_key(i): small_body(i, job.size) for i in range(job.keys)}
    keys = list(bodies)

    def fetch(i: int) -> None:
        key = keys[i % len(keys)]
        if get(key) != bodies[key]:
            raise AssertionError(f"wrong body for {key}")

    burst(fetch, 2 * job.threads, job.threads)  # warm-up: every thread's connection open
    gc.collect()
    rss_before = reset_peak_rss()
    seconds, errors = burst(fetch, job.count, job.threads)
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
    """Every job ``settings.repeats`` times (large GETs ``settings.get_repeats``), interleaved,
    each job in a worker process of its own; uploads are read back and checked."""
    with ExitStack() as stack:
        workers = {job: stack.enter_context(Worker(measure, preload=["_network"])) for job in jobs}

        def measurement(job: Job) -> Callable[[int], dict[str, Any]]:
            def measure_once(repeat: int) -> dict[str, Any]:
                result = workers[job].call(job)
                if job.case == "put":
                    result["ok"] = _stored_sha256(client, job.bucket, job.key) == job.sha256
                return result

            return measure_once

        by_job = interleaved(
            f"network {where}",
            settings.repeats,
            {job: measurement(job) for job in jobs},
            name=lambda job: f"{job.case} {job.method}",
            counts={job: settings.get_repeats for job in jobs if job.case == "get"},
        )
    runs: Runs = {}
    for job, results in by_job.items():
        runs.setdefault(job.case, {})[job.method] = results
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
                # Read back once, untimed: the upload is checked, and no method's first run
                # pays for the server's first read of a freshly written object.
                if _stored_sha256(client, bucket, GET_KEY) != sha256:
                    raise RuntimeError(f"{server} stored the large object wrongly")
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
            # The largest of the runs: a method's first run, as a rule, which its process made
            # fresh (later runs reuse memory the allocator kept from it).
            "peak_rss_growth_mib": max(r["peak_rss_growth_bytes"] for r in results) / MiB,
            "all_ok": all(r["ok"] for r in results),
        }
        if case == "small":
            rates = [r["requests_per_s"] for r in results]
            summary["requests_per_s"] = median(rates)
        else:
            rates = [settings.size / r["seconds"] / MiB for r in results]
            summary["mib_per_s"] = median(rates)
        # The spread of a method's runs: what a difference between medians must exceed.
        summary["slowest_fastest"] = [min(rates), max(rates)]
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


#: The adapter's own methods: its default route, one with ``native_gets``, and ``readinto``.
OURS = {
    "adapter": "adapter",
    "adapter_native": "adapter (native_gets)",
    "adapter_into": "adapter (readinto)",
}


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


def markdown(results: Results, show_machine: bool = True) -> str:
    """One table per server and link, each method's rate beside the adapter's."""
    s = results["settings"]
    sections = []
    header = [
        "case",
        "method",
        "median rate",
        "runs from",
        "TTFB (ms)",
        "peak RSS growth (MiB)",
        "x adapter",
    ]
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
                    spread = summary.get("slowest_fastest")  # not in results recorded before it
                    rows.append(
                        [
                            case_title(case, s),
                            label,
                            f"{value:,.0f} {unit}",
                            f"{spread[0]:,.0f}-{spread[1]:,.0f}" if spread else "",
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
    if "get_repeats" in s:
        runs = (
            f"Median of {s['get_repeats']} runs of each large GET and {s['repeats']} of the "
            "rest, alternating; each method in a child process of its own, kept for all its "
            "runs (client built and warmed up with one request before the first). Peak RSS "
            "growth counts only the transfer, the largest of a method's runs (its first, as a "
            "rule, in a fresh process)."
        )
    else:  # results recorded before methods kept their process
        runs = (
            f"Median of {s['repeats']} run(s) of each method, each in a fresh child process "
            "(client built and warmed up with one request first; peak RSS growth counts only "
            "the transfer)."
        )
    note = (
        f"{runs} GET bodies are checked by sha256 as they stream, uploads by reading them "
        'back from the server, small bodies one by one. MiB/s = 2^20 bytes/s; "runs from" is '
        "the slowest and fastest run, the spread a difference between medians must exceed to "
        "mean something on this shared machine; TTFB is the time from the call to holding the "
        "first bytes."
    )
    return with_machine("\n\n".join(sections) + "\n\n" + note, results, show_machine)


def script(scenario: Scenario) -> Script:
    """A scenario's command line: its sizes (full and ``--quick``), servers, links, cases."""

    def arguments(parser: argparse.ArgumentParser) -> None:
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

    def run(args: argparse.Namespace) -> Results:
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
            get_repeats=max(args.repeats, GET_REPEATS),
        )
        return {"settings": asdict(settings), "machine": machine(), **benchmark(settings)}

    return Script(scenario.name, f"The {scenario.name} benchmark.", arguments, run, markdown)


def main(scenario: Scenario, argv: list[str] | None = None) -> None:
    """The command line of a scenario script."""
    script(scenario).main(argv)
