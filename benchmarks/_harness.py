"""The harness every benchmark script runs on: its command line, repeats, children, output.

A script declares a :class:`Script` (its name, its own options, a ``run`` that measures and
returns the results, a ``markdown`` that renders them) and calls :meth:`Script.main`, which
adds the options every script takes (``--repeats``, ``--quick``, ``--output``), prints the
table and writes the JSON to ``benchmarks/results/<name>.json``. What the scripts measure with:

* :class:`Method`: one way of doing the measured thing, a label for the table and a setup
  that builds (and warms up) its client and returns the operation to time;
* :func:`interleaved`: every measurement once per repeat, one after another, so load on a
  shared machine is spread over all of them;
* :func:`in_child`: one measurement in a fresh process, forked from a fork server that has
  imported the clients once (a child then starts in milliseconds); :class:`Worker`: such a
  process kept for many measurements, so what it builds (a client) serves all of them;
* :func:`time_read` (one body read whole), :func:`latencies` (each call timed alone, and
  :func:`latency_summary` of them), :func:`burst` (calls shared out among threads started
  together).

Servers, clients, machine facts and statistics are in ``_common.py``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import resource
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Generic, TypeVar

from _common import (
    RESULTS_DIR,
    latency_stats,
    machine_line,
    median,
    peak_rss_growth,
    progress,
    reset_peak_rss,
    write_json,
)

Results = dict[str, Any]
Sink = Callable[[bytes | memoryview], None]
Reader = Callable[[Sink], None]  # hands every chunk of one body to a sink
Ctx = TypeVar("Ctx")
Op = TypeVar("Op")
Arg = TypeVar("Arg")
Key = TypeVar("Key", bound=Hashable)
R = TypeVar("R")


# --- the command line ---------------------------------------------------------------------------


def first_line(doc: str | None) -> str | None:
    """A module docstring's first line: a script's ``--help`` description."""
    return doc.splitlines()[0] if doc else None


@dataclass(frozen=True)
class Script:
    """One benchmark script: its options, what it measures and how its results read."""

    name: str  # the results file: benchmarks/results/<name>.json
    description: str | None
    arguments: Callable[[argparse.ArgumentParser], None]  # the script's own options
    run: Callable[[argparse.Namespace], Results]
    markdown: Callable[[Results, bool], str]  # results, with the machine line

    def main(self, argv: list[str] | None = None) -> None:
        """Parse the command line, measure, print the table and write the JSON."""
        parser = argparse.ArgumentParser(description=self.description)
        parser.add_argument("--repeats", type=int, default=3, help="measurements per method")
        parser.add_argument("--quick", action="store_true", help="smaller sizes and counts")
        parser.add_argument(
            "--output",
            type=Path,
            default=RESULTS_DIR / f"{self.name}.json",
            help="where the JSON goes",
        )
        self.arguments(parser)
        args = parser.parse_args(argv)
        results = self.run(args)
        print(self.markdown(results, True))
        write_json(args.output, results)


def with_machine(text: str, results: Results, show: bool) -> str:
    """``text``, and the machine the results were measured on when ``show``."""
    return text + (f"\n\nMachine: {machine_line(results['machine'])}" if show else "")


# --- methods and repeats ------------------------------------------------------------------------


@dataclass(frozen=True)
class Method(Generic[Ctx, Op]):
    """A label for the table and a setup that builds its client from ``Ctx`` (where the data
    is), warms it up and returns the operation to time."""

    label: str
    setup: Callable[[Ctx], Op]


def interleaved(
    title: str,
    repeats: int,
    measurements: Mapping[Key, Callable[[int], R]],
    show: Callable[[R], str] = json.dumps,
    name: Callable[[Key], str] = str,
    counts: Mapping[Key, int] | None = None,
) -> dict[Key, list[R]]:
    """Each measurement (called with the repeat's index) once per repeat, in turn; each
    one's results in order. Each round starts one measurement further on, so that the one
    listed first does not run first in every round (right after the setup before it); the
    rest keep their order, so most keep the measurement they follow. A measurement in
    ``counts`` runs that many times instead, the rounds past ``repeats`` taking only those
    that still have runs to make. Every result is shown on stderr as it comes."""
    wanted = {key: (counts or {}).get(key, repeats) for key in measurements}
    runs: dict[Key, list[R]] = {key: [] for key in measurements}
    keys = list(measurements)
    for repeat in range(max(wanted.values(), default=0)):
        start = repeat % len(keys)
        for key in keys[start:] + keys[:start]:
            if repeat >= wanted[key]:
                continue
            result = measurements[key](repeat)
            runs[key].append(result)
            progress(f"{title}: run {repeat + 1}/{wanted[key]} {name(key)}: {show(result)}")
    return runs


# --- in a child process -------------------------------------------------------------------------

#: Imported once by the fork server, so each child starts in milliseconds with them loaded.
#: obstore is left out: its Rust runtime is not to be shared across a fork.
PRELOAD = (
    "_harness",
    "_peers",
    "boto3",
    "botocore.session",
    "s3fs",
    "requests",
    "objstore_adapter",
)


def _forkserver(preload: Sequence[str]) -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, *preload])
    return context


def _receive(
    results: Connection, process: multiprocessing.process.BaseProcess, what: str, timeout: float
) -> Results:
    """The child's next result; its death or a timeout raised, naming ``what`` it ran."""
    try:
        if not results.poll(timeout):
            process.kill()
            raise TimeoutError(f"{what} took over {timeout} s")
        result: Results = results.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"{what} failed: exit code {process.exitcode}") from None
    return result


def _child_main(measure: Callable[[Any], Results], argument: Any, results: Connection) -> None:
    results.send(measure(argument))
    results.close()


def in_child(
    measure: Callable[[Arg], Results],
    argument: Arg,
    preload: Sequence[str] = (),
    timeout: float = 1800,
) -> Results:
    """``measure(argument)`` in a fresh process, forked from a server that preloaded the
    clients (and ``preload``); ``measure`` is pickled by name, so it is a module's function."""
    context = _forkserver(preload)
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(measure, argument, sender), daemon=True)
    process.start()
    sender.close()
    try:
        return _receive(receiver, process, f"{measure.__name__}({argument!r})", timeout)
    finally:
        receiver.close()
        process.join(10)
        if process.is_alive():  # interrupted while it measured
            process.kill()
            process.join()


def _worker_main(measure: Callable[[Any], Results], calls: Connection) -> None:
    while True:
        try:
            argument = calls.recv()
        except EOFError:  # the parent closed its end: no more calls
            return
        calls.send(measure(argument))


class Worker(Generic[Arg]):
    """A child process, forked as :func:`in_child`'s are, that runs ``measure(argument)`` once
    per :meth:`call` and keeps its memory in between: what ``measure`` builds and caches (a
    client, warmed up) serves every call, as it would in an application. A context manager;
    leaving it ends the process."""

    def __init__(
        self, measure: Callable[[Arg], Results], preload: Sequence[str] = (), timeout: float = 1800
    ) -> None:
        context = _forkserver(preload)
        self._calls, child_end = context.Pipe()
        self._process = context.Process(target=_worker_main, args=(measure, child_end), daemon=True)
        self._process.start()
        child_end.close()
        self._name = measure.__name__
        self._timeout = timeout

    def call(self, argument: Arg) -> Results:
        """``measure(argument)`` in the worker; its result."""
        what = f"{self._name}({argument!r})"
        try:
            self._calls.send(argument)
        except OSError:  # the worker died after an earlier call
            self._process.join()
            raise RuntimeError(f"{what}: exit code {self._process.exitcode}") from None
        return _receive(self._calls, self._process, what, self._timeout)

    def __enter__(self) -> Worker[Arg]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._calls.close()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


# --- timing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadTiming:
    """One body read whole: how long, the first bytes' delay, what came and the memory."""

    seconds: float
    ttfb: float  # from the call to holding the first bytes
    bytes: int
    sha256: str
    peak_rss_growth_bytes: int  # since the mark was reset, after the client's setup
    ru_maxrss_growth_bytes: int  # getrusage's peak, which cannot be reset, against the same


def time_read(read: Reader) -> ReadTiming:
    """Call ``read`` once, hashing what it hands over, with the peak-RSS mark reset first
    (so the setup and imports before it do not count)."""
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
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return ReadTiming(
        seconds=seconds,
        ttfb=ttfb,
        bytes=size,
        sha256=digest.hexdigest(),
        peak_rss_growth_bytes=peak_rss_growth(rss_before),
        ru_maxrss_growth_bytes=ru_maxrss - rss_before,
    )


def time_each(
    call: Callable[[Arg], bytes], args: Sequence[Arg], expected: Callable[[Arg], bytes]
) -> list[float]:
    """Seconds each ``call(arg)`` took, timed alone; every answer is checked against
    ``expected(arg)`` outside the timed span."""
    latencies = []
    for arg in args:
        start = time.perf_counter()
        body = call(arg)
        latencies.append(time.perf_counter() - start)
        if body != expected(arg):
            raise AssertionError(f"wrong body for {arg!r}: {len(body)} bytes")
    return latencies


def latencies(
    call: Callable[[Arg], bytes],
    warmup: Sequence[Arg],
    timed: Sequence[Arg],
    expected: Callable[[Arg], bytes],
) -> Callable[[int], list[float]]:
    """A measurement for :func:`interleaved`: the ``warmup`` calls untimed, then the seconds
    of each ``timed`` call."""

    def measure(repeat: int) -> list[float]:
        time_each(call, warmup, expected)
        return time_each(call, timed, expected)

    return measure


def show_latencies(seconds: Sequence[float], unit: str = "us") -> str:
    """One repeat's median and p90, in ``us`` or ``ms``, for the progress lines."""
    stats, scale = latency_stats(seconds), 1e3 if unit == "ms" else 1.0
    digits = 1 if unit == "ms" else 0
    median_, p90 = stats["median_us"] / scale, stats["p90_us"] / scale
    return f"median {median_:.{digits}f} {unit}, p90 {p90:.{digits}f} {unit}"


def latency_summary(runs: Mapping[str, list[list[float]]]) -> dict[str, dict[str, float]]:
    """Per method, the median over its repeats of each repeat's median and p90, in us."""
    per_run = {name: [latency_stats(r) for r in rs] for name, rs in runs.items()}
    return {
        name: {
            "median_us": median([s["median_us"] for s in stats]),
            "p90_us": median([s["p90_us"] for s in stats]),
        }
        for name, stats in per_run.items()
    }


def burst(op: Callable[[int], None], count: int, threads: int) -> tuple[float, list[str]]:
    """``op(i)`` for ``i`` in ``range(count)``, shared out among ``threads`` threads started
    together; seconds from their release to the last one's end, and the errors."""
    errors: list[str] = []
    ready = threading.Barrier(threads + 1)

    def worker(first: int) -> None:
        ready.wait()
        for i in range(first, count, threads):
            try:
                op(i)
            except Exception as exc:  # counted and shown, not raised: one run, all errors
                errors.append(repr(exc))

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in workers:
        thread.start()
    ready.wait()
    start = time.perf_counter()
    for thread in workers:
        thread.join()
    return time.perf_counter() - start, errors
