"""The adapter's own cost, with no network: memory:// and file:// against direct reads.

Run from the repository root::

    python benchmarks/bench_overhead.py [--size-mib 256] [--repeats 3] [--quick]

One object of ``--size-mib`` random bytes is stored in fsspec's memory filesystem and in a
temporary file. Each is read whole, without hashing (hashing would cost more than what is
measured), by:

* memory, adapter: ``session.get("memory://...", stream=True)`` + ``iter_content(1 MiB)``
  on a session with ``register("memory")``;
* memory, direct: ``fsspec.filesystem("memory").cat_file(path)``;
* file, adapter: ``session.get("file:///...", stream=True)`` + ``iter_content(1 MiB)`` on a
  session with ``register("file")``;
* file, direct: ``open(path, "rb")`` and ``read(1 MiB)`` until the end.

The file is read once before timing, so both file methods read from the page cache. Every
method's bytes are checked against the sha256 once, untimed, before the timed runs. Methods
are interleaved; MB/s (10**6 bytes/s) is the median over ``--repeats``, and the ratio is the
adapter's MB/s over the direct read's. Every run is in ``benchmarks/results/overhead.json``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import CHUNK, MiB, machine, markdown_table, median
from _harness import Method, Results, Script, first_line, interleaved, with_machine

Reader = Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class Stored:
    """The object, in fsspec's memory filesystem and in a local file."""

    memory_path: str
    file_path: Path


def read_adapter(url: str) -> Reader:
    import objstore_adapter

    registry = objstore_adapter.SchemeRegistry()
    registry.register("memory")
    registry.register("file")
    session = objstore_adapter.session(registry)

    def read() -> Iterator[bytes]:
        with session.get(url, stream=True) as response:
            response.raise_for_status()
            yield from response.iter_content(CHUNK)

    return read


def read_memory_direct(stored: Stored) -> Reader:
    import fsspec

    memory_fs = fsspec.filesystem("memory")

    def read() -> Iterator[bytes]:
        yield memory_fs.cat_file(stored.memory_path)

    return read


def read_file_direct(stored: Stored) -> Reader:
    def read() -> Iterator[bytes]:
        with open(stored.file_path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    return read


METHODS: dict[str, Method[Stored, Reader]] = {
    "memory-adapter": Method(
        "memory://, adapter: get(stream=True) + iter_content(1 MiB)",
        lambda stored: read_adapter(f"memory://{stored.memory_path}"),
    ),
    "memory-direct": Method("memory://, direct: fs.cat_file(path)", read_memory_direct),
    "file-adapter": Method(
        "file://, adapter: get(stream=True) + iter_content(1 MiB)",
        lambda stored: read_adapter(stored.file_path.as_uri()),
    ),
    "file-direct": Method('file://, direct: open(path, "rb") + read(1 MiB)', read_file_direct),
}


def timed(read: Reader) -> tuple[float, int]:
    received = 0
    start = time.perf_counter()
    for chunk in read():
        received += len(chunk)
    return time.perf_counter() - start, received


def checked(read: Reader, sha256: str, size: int) -> None:
    digest, received = hashlib.sha256(), 0
    for chunk in read():
        digest.update(chunk)
        received += len(chunk)
    if received != size or digest.hexdigest() != sha256:
        raise AssertionError(f"wrong body: {received} bytes")


def benchmark(size_mib: int, repeats: int) -> dict[str, Any]:
    import fsspec

    size = size_mib * MiB
    info = {"size_mib": size_mib, "repeats": repeats, "machine": machine()}
    memory_fs = fsspec.filesystem("memory")
    memory_path = f"/bench-overhead-{uuid.uuid4().hex[:8]}/object.bin"
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        stored = Stored(memory_path, Path(tmp) / "object.bin")
        data = os.urandom(size)
        sha256 = hashlib.sha256(data).hexdigest()
        memory_fs.pipe_file(memory_path, data)
        stored.file_path.write_bytes(data)
        del data
        try:
            methods = {name: method.setup(stored) for name, method in METHODS.items()}
            for read in methods.values():
                checked(read, sha256, size)  # also warms the page cache for file://

            def measurement(name: str) -> Callable[[int], dict[str, float]]:
                def measure(repeat: int) -> dict[str, float]:
                    gc.collect()
                    seconds, received = timed(methods[name])
                    if received != size:
                        raise AssertionError(f"{name}: {received} of {size} bytes")
                    return {"seconds": seconds, "mb_per_s": size / seconds / 1e6}

                return measure

            runs = interleaved(
                "overhead",
                repeats,
                {name: measurement(name) for name in METHODS},
                show=lambda r: f"{r['mb_per_s']:.0f} MB/s",
            )
        finally:
            memory_fs.rm(memory_path)
    summary: dict[str, dict[str, float]] = {
        name: {"mb_per_s": median([r["mb_per_s"] for r in rs])} for name, rs in runs.items()
    }
    ratios = {
        store: summary[f"{store}-adapter"]["mb_per_s"] / summary[f"{store}-direct"]["mb_per_s"]
        for store in ("memory", "file")
    }
    return {**info, "summary": summary, "ratios": ratios, "runs": runs}


def markdown(results: Results, show_machine: bool = True) -> str:
    summary, ratios = results["summary"], results["ratios"]
    header = ["method", "median MB/s", "adapter / direct"]
    rows = []
    for name, s in summary.items():
        store, kind = name.split("-")
        ratio = f"**{ratios[store]:.2f}**" if kind == "adapter" else ""
        rows.append([METHODS[name].label, f"{s['mb_per_s']:,.0f}", ratio])
    note = (
        f"\n\nOne {results['size_mib']} MiB object, read whole, no hashing; file:// from the "
        f"page cache. Median of {results['repeats']} repeat(s). MB/s = 10^6 bytes/s."
    )
    return with_machine(markdown_table(header, rows) + note, results, show_machine)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size-mib", type=int, help="object size (256; 32 quick)")


def run(args: argparse.Namespace) -> Results:
    return benchmark(args.size_mib or (32 if args.quick else 256), args.repeats)


SCRIPT = Script("overhead", first_line(__doc__), arguments, run, markdown)

if __name__ == "__main__":
    SCRIPT.main()
