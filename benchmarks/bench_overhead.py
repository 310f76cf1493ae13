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
from pathlib import Path
from typing import Any

import requests
from _common import (
    CHUNK,
    RESULTS_DIR,
    MiB,
    common_arguments,
    machine,
    machine_line,
    markdown_table,
    median,
    progress,
    write_json,
)

RESULTS = RESULTS_DIR / "overhead.json"
Reader = Callable[[], Iterator[bytes]]

LABELS = {
    "memory-adapter": "memory://, adapter: get(stream=True) + iter_content(1 MiB)",
    "memory-direct": "memory://, direct: fs.cat_file(path)",
    "file-adapter": "file://, adapter: get(stream=True) + iter_content(1 MiB)",
    "file-direct": 'file://, direct: open(path, "rb") + read(1 MiB)',
}


def adapter_reader(session: requests.Session, url: str) -> Reader:
    def read() -> Iterator[bytes]:
        with session.get(url, stream=True) as response:
            response.raise_for_status()
            yield from response.iter_content(CHUNK)

    return read


def readers(memory_path: str, file_path: Path) -> dict[str, Reader]:
    import fsspec

    import objstore_adapter

    registry = objstore_adapter.SchemeRegistry()
    registry.register("memory")
    registry.register("file")
    session = objstore_adapter.session(registry)
    memory_fs = fsspec.filesystem("memory")

    def memory_direct() -> Iterator[bytes]:
        yield memory_fs.cat_file(memory_path)

    def file_direct() -> Iterator[bytes]:
        with open(file_path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    return {
        "memory-adapter": adapter_reader(session, f"memory://{memory_path}"),
        "memory-direct": memory_direct,
        "file-adapter": adapter_reader(session, file_path.as_uri()),
        "file-direct": file_direct,
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
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in LABELS}
    memory_fs = fsspec.filesystem("memory")
    memory_path = f"/bench-overhead-{uuid.uuid4().hex[:8]}/object.bin"
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        file_path = Path(tmp) / "object.bin"
        data = os.urandom(size)
        sha256 = hashlib.sha256(data).hexdigest()
        memory_fs.pipe_file(memory_path, data)
        file_path.write_bytes(data)
        del data
        try:
            methods = readers(memory_path, file_path)
            for read in methods.values():
                checked(read, sha256, size)  # also warms the page cache for file://
            for repeat in range(repeats):
                for name, read in methods.items():
                    gc.collect()
                    seconds, received = timed(read)
                    if received != size:
                        raise AssertionError(f"{name}: {received} of {size} bytes")
                    runs[name].append({"seconds": seconds, "mb_per_s": size / seconds / 1e6})
                    progress(
                        f"overhead: run {repeat + 1}/{repeats} {name}: "
                        f"{size / seconds / 1e6:.0f} MB/s"
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


def markdown(results: dict[str, Any], with_machine: bool = True) -> str:
    summary, ratios = results["summary"], results["ratios"]
    header = ["method", "median MB/s", "adapter / direct"]
    rows = []
    for name, s in summary.items():
        store, kind = name.split("-")
        ratio = f"**{ratios[store]:.2f}**" if kind == "adapter" else ""
        rows.append([LABELS[name], f"{s['mb_per_s']:,.0f}", ratio])
    note = (
        f"\n\nOne {results['size_mib']} MiB object, read whole, no hashing; file:// from the "
        f"page cache. Median of {results['repeats']} repeat(s). MB/s = 10^6 bytes/s."
    )
    if with_machine:
        note += f"\n\nMachine: {machine_line(results['machine'])}"
    return markdown_table(header, rows) + note


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_arguments(parser, RESULTS)
    parser.add_argument("--size-mib", type=int, help="object size (256; 32 quick)")
    args = parser.parse_args(argv)
    size_mib = args.size_mib or (32 if args.quick else 256)
    results = benchmark(size_mib, args.repeats)
    print(markdown(results))
    write_json(args.output, results)


if __name__ == "__main__":
    main()
