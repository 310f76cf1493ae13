"""Small writes: 4 KiB PUTs and DELETEs, from one thread and from 16, on moto and SeaweedFS.

Run from the repository root (needs the ``test`` extra, which brings the ``bench`` one)::

    python benchmarks/bench_writes.py [--quick] [--repeats 3] [--servers moto seaweedfs]
        [--objects 400] [--threaded-objects 1600] [--threads 16]

The adapter (``session.put(url, data=body)``, ``session.delete(url)``) against boto3
(``put_object``, ``delete_object``) and obstore (``obstore.put``, ``obstore.delete`` on an
``S3Store``; left out when the ``native`` extra is not installed). Each measurement builds its
client, warms it up (every thread PUTs and DELETEs two objects of its own, so connections are
open and lazily built clients exist), then times ``--objects`` PUTs of new keys (400; 100
with ``--quick``) from one thread, or ``--threaded-objects`` (1,600; 400 quick) shared out
among ``--threads`` threads that share one session, client or store (boto3's client is
thread-safe, its pool sized to the threads), started together; then it times the DELETEs of
the same keys the same way. Outside the timed spans, the bucket is listed: after the PUTs
every key must be there with the MD5 of its body as ETag, after the DELETEs none.

Methods, modes and servers are interleaved (one measurement of each, then the next repeat),
so load on a shared machine is spread. The table shows requests/s, the median over
``--repeats``, and the adapter's rate over boto3's and obstore's; every run is in
``benchmarks/results/writes.json``. Servers and peers come from the network harness
(``_network.py``, ``_peers.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from _common import adapter_session, boto3_client, machine, markdown_table, median, unique_bucket
from _harness import Method, Results, Script, burst, first_line, interleaved, with_machine
from _network import SERVERS
from _peers import Job, obstore_store, small_body

OPS = ("put", "delete")
WARMUP_PER_THREAD = 2


@dataclass(frozen=True)
class Writer:
    """One client's two operations, called from many threads at once."""

    put: Callable[[str, bytes], None]  # key, body
    delete: Callable[[str], None]  # key


@dataclass(frozen=True)
class Settings:
    """What one run measures, after ``--quick``."""

    objects: int  # written from one thread
    threaded_objects: int  # written from ``threads`` threads
    threads: int
    size: int
    servers: tuple[str, ...]
    methods: tuple[str, ...]
    repeats: int

    def modes(self) -> dict[str, tuple[int, int]]:
        """Mode name -> (threads, objects)."""
        return {
            "sequential": (1, self.objects),
            "threaded": (self.threads, self.threaded_objects),
        }


# --- the methods --------------------------------------------------------------------------------


def writer_adapter(job: Job) -> Writer:
    session = adapter_session(job.endpoint)
    base = f"s3://{job.bucket}/"

    def put(key: str, body: bytes) -> None:
        session.put(base + key, data=body).raise_for_status()

    def delete(key: str) -> None:
        session.delete(base + key).raise_for_status()

    return Writer(put, delete)


def writer_boto3(job: Job) -> Writer:
    client = boto3_client(job.endpoint, max_pool_connections=max(10, job.threads))

    def put(key: str, body: bytes) -> None:
        client.put_object(Bucket=job.bucket, Key=key, Body=body)

    def delete(key: str) -> None:
        client.delete_object(Bucket=job.bucket, Key=key)

    return Writer(put, delete)


def writer_obstore(job: Job) -> Writer:
    import obstore

    store = obstore_store(job)

    def put(key: str, body: bytes) -> None:
        obstore.put(store, key, body)

    def delete(key: str) -> None:
        obstore.delete(store, key)

    return Writer(put, delete)


METHODS: dict[str, Method[Job, Writer]] = {
    "adapter": Method("adapter: session.put(url, data=body), session.delete(url)", writer_adapter),
    "boto3": Method("boto3: put_object(Body=body), delete_object, one client", writer_boto3),
    "obstore": Method("obstore: put(store, key, body), delete(store, key)", writer_obstore),
}


def available_methods() -> tuple[str, ...]:
    """The methods whose client is installed (obstore comes with the ``native`` extra)."""
    native = importlib.util.find_spec("obstore") is not None
    return tuple(name for name in METHODS if name != "obstore" or native)


# --- one measurement ----------------------------------------------------------------------------


def stored_etags(client: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Key -> ETag (quotes stripped) of every object under ``prefix``."""
    etags = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            etags[entry["Key"]] = entry["ETag"].strip('"')
    return etags


def measure(job: Job, bodies: list[bytes], md5s: list[str], reference: Any) -> dict[str, Any]:
    """Time ``job.count`` PUTs of new keys under ``job.key``, then their DELETEs; the bucket is
    listed (by ``reference``, a boto3 client) after each, untimed, to check what they did."""
    writer = METHODS[job.method].setup(job)
    warm = f"warmup/{job.key}"
    warmups = WARMUP_PER_THREAD * job.threads
    for op in (
        lambda i: writer.put(f"{warm}{i:05d}", bodies[i]),
        lambda i: writer.delete(f"{warm}{i:05d}"),
    ):
        _, errors = burst(op, warmups, job.threads)
        if errors:
            raise RuntimeError(f"{job.method} failed to warm up: {errors[0]}")

    keys = [f"{job.key}{i:05d}.bin" for i in range(job.count)]
    result: dict[str, Any] = {}
    seconds, errors = burst(lambda i: writer.put(keys[i], bodies[i]), job.count, job.threads)
    stored = stored_etags(reference, job.bucket, job.key)
    wrong = sum(stored.get(key) != md5s[i] for i, key in enumerate(keys))
    result["put"] = _outcome(job.count, seconds, errors, wrong, "missing or wrong")

    seconds, errors = burst(lambda i: writer.delete(keys[i]), job.count, job.threads)
    left = len(stored_etags(reference, job.bucket, job.key))
    result["delete"] = _outcome(job.count, seconds, errors, left, "left behind")
    for prefix in (warm, job.key):  # what a failed run left
        for key in stored_etags(reference, job.bucket, prefix):
            reference.delete_object(Bucket=job.bucket, Key=key)
    return result


def _outcome(count: int, seconds: float, errors: list[str], bad: int, what: str) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "requests_per_s": count / seconds,
        "errors": len(errors),
        "first_errors": errors[:3],
        what.replace(" ", "_"): bad,
        "ok": not errors and not bad,
    }


# --- the run ------------------------------------------------------------------------------------

Runs = dict[str, dict[str, dict[str, dict[str, list[dict[str, Any]]]]]]
# server -> mode -> op -> method -> one result per repeat


def benchmark(settings: Settings) -> dict[str, Any]:
    """Every server, mode and method ``settings.repeats`` times, interleaved; runs and medians."""
    most = max(settings.objects, settings.threaded_objects, WARMUP_PER_THREAD * settings.threads)
    bodies = [small_body(i, settings.size) for i in range(most)]
    runs: Runs = {}
    for server in settings.servers:
        with SERVERS[server]() as endpoint:
            runs[server] = measure_server(settings, server, endpoint, bodies)
    return {"runs": runs, **summarize(runs)}


def measure_server(
    settings: Settings, server: str, endpoint: str, bodies: list[bytes]
) -> dict[str, dict[str, dict[str, list[dict[str, Any]]]]]:
    """Every mode and method on one server; mode -> op -> method -> one result per repeat."""
    md5s = [hashlib.md5(body).hexdigest() for body in bodies]
    reference = boto3_client(endpoint)
    bucket = unique_bucket("writes")
    reference.create_bucket(Bucket=bucket)

    def measurement(mode: str, method: str) -> Callable[[int], dict[str, Any]]:
        threads, count = settings.modes()[mode]

        def measure_once(repeat: int) -> dict[str, Any]:
            prefix = f"writes/{method}/{mode}/{repeat}/"
            job = Job(
                "writes", method, endpoint, bucket, prefix, settings.size,
                count=count, threads=threads,
            )  # fmt: skip
            return measure(job, bodies, md5s, reference)

        return measure_once

    by_key = interleaved(
        f"writes: {server}",
        settings.repeats,
        {
            (mode, method): measurement(mode, method)
            for mode in settings.modes()
            for method in settings.methods
        },
        show=_show,
        name=" ".join,
    )
    runs: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    for (mode, method), results in by_key.items():
        for op in OPS:
            by_method = runs.setdefault(mode, {}).setdefault(op, {})
            by_method[method] = [result[op] for result in results]
    return runs


def _show(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{op} {result[op]['requests_per_s']:,.0f}/s"
        + ("" if result[op]["ok"] else f" NOT OK {result[op]}")
        for op in OPS
    )


def summarize(runs: Runs) -> dict[str, Any]:
    """Median requests/s per server, mode, op and method; the adapter's ratios to its peers."""
    summary = {
        server: {
            mode: {
                op: {
                    method: {
                        "requests_per_s": median([r["requests_per_s"] for r in results]),
                        "all_ok": all(r["ok"] for r in results),
                    }
                    for method, results in by_method.items()
                }
                for op, by_method in by_op.items()
            }
            for mode, by_op in by_mode.items()
        }
        for server, by_mode in runs.items()
    }
    ratios = {
        server: {
            mode: {
                op: {
                    f"adapter_over_{peer}": rates["adapter"]["requests_per_s"]
                    / rates[peer]["requests_per_s"]
                    for peer in rates
                    if peer != "adapter"
                }
                for op, rates in by_op.items()
            }
            for mode, by_op in by_mode.items()
        }
        for server, by_mode in summary.items()
    }
    return {"summary": summary, "ratios": ratios}


# --- the table ----------------------------------------------------------------------------------


def markdown(results: Results, show_machine: bool = True) -> str:
    """One table: per server, mode and op, each method's req/s and the adapter's ratios."""
    s = results["settings"]
    methods, peers = list(s["methods"]), [m for m in s["methods"] if m != "adapter"]
    header = ["server", "writers", "op", *(f"{m} (req/s)" for m in methods)]
    header += [f"adapter / {peer}" for peer in peers]
    rows = []
    for server, by_mode in results["summary"].items():
        for mode, by_op in by_mode.items():
            threads = 1 if mode == "sequential" else s["threads"]
            count = s["objects"] if mode == "sequential" else s["threaded_objects"]
            writers = f"{threads} thread{'s' if threads > 1 else ''} ({count:,} objects)"
            for op, by_method in by_op.items():
                cells = []
                for method in methods:
                    rate = by_method[method]
                    bad = "" if rate["all_ok"] else " **(ERRORS)**"
                    cells.append(f"{rate['requests_per_s']:,.0f}{bad}")
                ratios = results["ratios"][server][mode][op]
                cells += [f"{ratios[f'adapter_over_{peer}']:.2f}x" for peer in peers]
                rows.append([server, writers, op.upper(), *cells])
    labels = "; ".join(METHODS[m].label for m in methods)
    note = (
        f"Objects of {s['size']:,} bytes, new keys; the DELETEs remove the objects just "
        f"written. Threads share one adapter session, one boto3 client (pool of "
        f"{max(10, s['threads'])}) or one obstore store. Median over {s['repeats']} repeat(s) "
        "of requests/s, each measurement after a warm-up of its client (two PUTs and DELETEs "
        "per thread); after each timed span the bucket is listed to check every key's ETag "
        f"(MD5 of its body) or its absence. Methods: {labels}."
    )
    return with_machine(markdown_table(header, rows, left=3) + "\n\n" + note, results, show_machine)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--objects", type=int, help="PUTs and DELETEs from one thread (400; 100 quick)"
    )
    parser.add_argument(
        "--threaded-objects", type=int, help="PUTs and DELETEs from --threads (1600; 400 quick)"
    )
    parser.add_argument("--threads", type=int, default=16, help="threads sharing one client")
    parser.add_argument("--size", type=int, default=4096, help="bytes per object")
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS))


def run(args: argparse.Namespace) -> Results:
    settings = Settings(
        objects=args.objects or (100 if args.quick else 400),
        threaded_objects=args.threaded_objects or (400 if args.quick else 1600),
        threads=args.threads,
        size=args.size,
        servers=tuple(args.servers),
        methods=available_methods(),
        repeats=args.repeats,
    )
    return {"settings": asdict(settings), "machine": machine(), **benchmark(settings)}


SCRIPT = Script("writes", first_line(__doc__), arguments, run, markdown)

if __name__ == "__main__":
    SCRIPT.main()
