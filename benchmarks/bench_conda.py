"""conda downloading packages from an s3:// channel: the plugin against conda's own S3Adapter.

Run from the repository root (needs the ``test`` extra, which brings conda's dependencies,
and the conda snapshot in ``../shared/vendor/``)::

    python benchmarks/bench_conda.py [--size-mib 256] [--repeats 3] [--quick]
        [--link direct|shaped] [--server moto|seaweedfs]

An S3 server (moto's, or SeaweedFS, a real one) is started on free local ports and holds
one channel: a package of
``--size-mib`` random bytes, and eight more of an eighth of that size each. Each run is the
real conda (``python -m conda create --download-only -y``, classic solver) in a fresh child
process with a fresh package cache, timed from start to exit: repodata, download, sha256
check and extraction, as a user waits for them. Two scenarios, ``one`` (the large package)
and ``eight`` (the eight smaller ones, which conda fetches in parallel threads), each with:

* ``plugin``: objstore-adapter's conda plugin, configured by ``FSSPEC_S3_*`` variables;
* ``conda``: conda's own S3Adapter (``CONDA_NO_PLUGINS=true``), boto3 pointed at the same
  server by ``AWS_ENDPOINT_URL``; it downloads with s3transfer's parallel ranged GETs.

Peak RSS is the conda process's own (VmHWM, reset when its interpreter starts, read at exit);
extraction runs in conda's worker processes and is not counted. Medians of ``--repeats`` runs,
interleaved, are printed as a markdown table; every run goes to
``benchmarks/results/conda.json``. ``--quick`` uses 64 MiB. ``--link shaped`` puts the
shaping proxy of ``bench_network.py`` between conda and the server (+20 ms per response,
40 MiB/s per connection). moto copies the whole object for every ranged GET, which
parallel downloads pay for; SeaweedFS serves a range as a real store does.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from _common import (
    KEY,
    REGION,
    REPO,
    SECRET,
    MiB,
    boto3_client,
    machine,
    markdown_table,
    median,
    unique_bucket,
)
from _harness import Results, Script, first_line, interleaved, with_machine
from _network import SERVERS
from _shaping import ShapingProxy

from objstore_adapter.testing.conda_channel import PLATFORM, Channel, Package, build_package

QUICK_SIZE_MIB = 64
VENDOR = REPO.parent / "shared" / "vendor"
MODES = {
    "plugin": "objstore-adapter's conda plugin",
    "conda": "conda's own S3Adapter (plugins off, boto3)",
}
SCENARIOS = {"one": "one large package", "eight": "eight packages at once"}

#: Runs conda in this process after resetting the peak-RSS mark; writes VmHWM at exit.
LAUNCHER = """
import atexit, os, sys
from pathlib import Path
try:
    Path("/proc/self/clear_refs").write_text("5")
except OSError:
    pass
def report():
    status = Path("/proc/self/status").read_text()
    peak_kib = int(status.split("\\nVmHWM:", 1)[1].split()[0])
    Path(os.environ["BENCH_PEAK_RSS_FILE"]).write_text(str(peak_kib * 1024))
atexit.register(report)
from conda.cli import main
sys.exit(main())
"""


def unpack_conda(into: Path) -> Path:
    snapshots = sorted(VENDOR.glob("conda-*.tar.gz"))
    if not snapshots:
        raise SystemExit(f"the conda snapshot is absent ({VENDOR}/conda-*.tar.gz)")
    with tarfile.open(snapshots[-1]) as tar:
        tar.extractall(into, filter="data")
    return into


def environment(mode: str, endpoint: str, conda_source: Path, work: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "HOME": str(work / "home"),
        "PYTHONPATH": str(conda_source),
        "CONDA_SOLVER": "classic",
        "CONDA_PKGS_DIRS": str(work / "pkgs"),
        "CONDA_ENVS_DIRS": str(work / "envs"),
        "CONDA_SUBDIR": PLATFORM,
        "AWS_EC2_METADATA_DISABLED": "true",
        "BENCH_PEAK_RSS_FILE": str(work / "peak-rss"),
    }
    if mode == "plugin":
        env |= {"FSSPEC_S3_ENDPOINT_URL": endpoint, "FSSPEC_S3_KEY": KEY}
        env |= {"FSSPEC_S3_SECRET": SECRET}
    else:
        env |= {"CONDA_NO_PLUGINS": "true", "AWS_ENDPOINT_URL": endpoint}
        env |= {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
        env |= {"AWS_DEFAULT_REGION": REGION}
    return env


def run_once(
    mode: str,
    channel: str,
    packages: list[Package],
    endpoint: str,
    conda_source: Path,
    repeat: int = 0,
) -> dict[str, Any]:
    """One ``conda create --download-only`` from a fresh package cache (any repeat)."""
    with tempfile.TemporaryDirectory(prefix="bench-conda-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        names = [package.name for package in packages]
        argv = [sys.executable, "-c", LAUNCHER, "create", "-n", "bench", "--download-only"]
        argv += ["-y", "-q", "-c", channel, "--override-channels", *names]
        env = environment(mode, endpoint, conda_source, work)
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"conda failed ({mode}): {done.stdout}\n{done.stderr}")
        fetched_ok = all(
            _sha256(work / "pkgs" / package.filename) == package.record["sha256"]
            for package in packages
        )
        return {
            "seconds": seconds,
            "peak_rss_bytes": int((work / "peak-rss").read_text()),
            "sha_ok": fetched_ok,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def benchmark(
    size_mib: int, repeats: int, link: str = "direct", server: str = "moto"
) -> dict[str, Any]:
    info = {"size_mib": size_mib, "repeats": repeats, "link": link, "server": server}
    info["machine"] = machine()
    conda_dir = Path(tempfile.mkdtemp(prefix="bench-conda-src-"))
    links = contextlib.ExitStack()
    try:
        conda_source = unpack_conda(conda_dir)
        with SERVERS[server]() as endpoint:
            bucket, client = unique_bucket("conda"), boto3_client(endpoint)
            client.create_bucket(Bucket=bucket)
            large = build_package("large", files={"blob.bin": os.urandom(size_mib * MiB)})
            small = [
                build_package(f"part{i}", files={"blob.bin": os.urandom(size_mib * MiB // 8)})
                for i in range(8)
            ]
            for key, data in Channel([large, *small]).objects():
                client.upload_fileobj(_Bytes(data), bucket, f"channel/{key}")
            sets = {"one": [large], "eight": small}
            # Keep only the records: children spawned from this process inherit its peak RSS.
            sets = {name: [_record_only(p) for p in ps] for name, ps in sets.items()}
            del large, small, client
            gc.collect()
            channel = f"s3://{bucket}/channel"
            if link == "shaped":  # conda reads through the capped link; the channel went direct
                endpoint = links.enter_context(ShapingProxy(endpoint)).endpoint
            by_key = interleaved(
                "conda",
                repeats,
                {
                    (scenario, mode): partial(
                        run_once, mode, channel, packages, endpoint, conda_source
                    )
                    for scenario, packages in sets.items()
                    for mode in MODES
                },
                name=" ".join,
            )
            runs = {
                scenario: {mode: by_key[scenario, mode] for mode in MODES} for scenario in SCENARIOS
            }
    finally:
        links.close()
        shutil.rmtree(conda_dir, ignore_errors=True)
    summary = {
        scenario: {
            mode: {
                "seconds": median([r["seconds"] for r in rs]),
                "peak_rss_mib": median([r["peak_rss_bytes"] for r in rs]) / MiB,
                "all_sha_ok": all(r["sha_ok"] for r in rs),
            }
            for mode, rs in by_mode.items()
        }
        for scenario, by_mode in runs.items()
    }
    return {**info, "summary": summary, "runs": runs}


class _Bytes:
    """A read-only file over bytes, without the copy ``io.BytesIO`` makes."""

    def __init__(self, data: bytes) -> None:
        self._view, self._offset = memoryview(data), 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else self._offset + size
        chunk = bytes(self._view[self._offset : end])
        self._offset += len(chunk)
        return chunk


def _record_only(package: Package) -> Package:
    return Package(package.filename, b"", package.record)


def markdown(results: Results, show_machine: bool = True) -> str:
    header = [
        "scenario",
        "method",
        "median wall time (s)",
        "median peak RSS (MiB)",
        "plugin speed-up",
        "plugin memory vs this",
    ]
    rows = []
    for scenario, by_mode in results["summary"].items():
        plugin = by_mode["plugin"]
        for mode, s in by_mode.items():
            label = MODES[mode] + ("" if s["all_sha_ok"] else " **(sha256 MISMATCH)**")
            rows.append(
                [
                    SCENARIOS[scenario],
                    label,
                    f"{s['seconds']:.2f}",
                    f"{s['peak_rss_mib']:.0f}",
                    f"{s['seconds'] / plugin['seconds']:.2f}x",
                    f"{plugin['peak_rss_mib'] / s['peak_rss_mib']:.2f}",
                ]
            )
    size = results["size_mib"]
    where = "over loopback"
    if results.get("link") == "shaped":
        where = "through the shaping proxy (+20 ms per response, 40 MiB/s per connection)"
    note = (
        f"\n\n`conda create --download-only` from a fresh package cache, on "
        f"{results.get('server', 'moto')} {where}: "
        f"one package of {size} MiB, or eight of {size / 8:g} MiB fetched at once; wall time "
        "of the whole command, peak RSS of the conda process; median of "
        f"{results['repeats']} run(s)."
    )
    return with_machine(markdown_table(header, rows, left=2) + note, results, show_machine)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size-mib", type=int, help=f"default 256 ({QUICK_SIZE_MIB} quick)")
    parser.add_argument("--link", choices=["direct", "shaped"], default="direct")
    parser.add_argument("--server", choices=list(SERVERS), default="moto")


def run(args: argparse.Namespace) -> Results:
    size_mib = args.size_mib or (QUICK_SIZE_MIB if args.quick else 256)
    return benchmark(size_mib, args.repeats, args.link, args.server)


SCRIPT = Script("conda", first_line(__doc__), arguments, run, markdown)

if __name__ == "__main__":
    SCRIPT.main()
