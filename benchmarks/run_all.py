"""Run every benchmark and write one report: markdown, JSON and a PNG of the main numbers.

Run from the repository root (needs the ``test`` extra and matplotlib)::

    python benchmarks/run_all.py [--quick] [--repeats 3] [--only small ranges ...]

Each benchmark runs as its own script in a fresh interpreter (``bench_large.py``,
``bench_small.py``, ``bench_ranges.py``, ``bench_concurrency.py``, ``bench_network.py``,
``bench_writes.py``, ``bench_overhead.py``, ``bench_conda.py``: every ``bench_*.py`` here,
each a scenario of ``_harness.py``), starting and stopping its own servers (moto; SeaweedFS
for ``network`` and ``writes``) where it needs them, and repeats each measurement
``--repeats`` times (medians are reported). ``--quick`` shrinks sizes and counts so the whole
run takes a few minutes (the network benchmark about two); the full run takes longer (the
network benchmark about eight). ``conda`` needs the conda snapshot in ``../shared/vendor/``.
Written to ``benchmarks/results/``:

* ``report.md``: the report printed at the end, one section per benchmark;
* ``results.json``: every benchmark's full results (and ``<name>.json`` per benchmark);
* ``benchmarks.png``: large-object throughput, small-GET and ranged-GET latency, throughput
  against thread count, the adapter's overhead without a network, and peak memory;
* ``network.png``: the ``network`` benchmark, one row per server and link.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import HERE, RESULTS_DIR, machine, markdown_table, progress, write_json


@dataclass(frozen=True)
class Bench:
    name: str
    title: str
    what: str


BENCHES = [
    Bench(
        "large",
        "Large object: whole-object read throughput",
        "One large object on moto read whole by each method, each read in a fresh child "
        "process (peak RSS growth is measured there), sha256 checked.",
    ),
    Bench(
        "small",
        "Small objects: per-request latency",
        "Sequential GETs of 1 KiB objects on moto, each request timed alone.",
    ),
    Bench(
        "ranges",
        "Ranged reads: 64 KiB ranges from one object",
        "Random 64 KiB ranges of one object on moto, each read timed alone.",
    ),
    Bench(
        "concurrency",
        "Concurrency: threads sharing one session",
        "A fixed number of 1 MiB GETs on moto shared out among 1, 4 and 16 threads that "
        "share one adapter session (and, for reference, one boto3 client).",
    ),
    Bench(
        "network",
        "Networks: moto and SeaweedFS, direct and over a slow link, against every peer",
        "One large object read whole and uploaded from a file, and many small GETs from 16 "
        "threads sharing one client, on moto and on SeaweedFS (a real S3 server), each directly "
        "and through a proxy that adds latency to each response and caps each connection's "
        "bandwidth. Peers: boto3 (`get_object`, s3transfer's `download_fileobj` and "
        "`upload_file`), obstore and s3fs. Each method in a child process of its own, kept "
        "for all its runs (as an application keeps its client); runs alternate between the "
        "methods, each round starting one method further on, large GETs at least five times, "
        "after the large object was read back once, untimed.",
    ),
    Bench(
        "writes",
        "Small writes: 4 KiB PUTs and DELETEs, one thread and 16",
        "PUTs of new 4 KiB objects, then DELETEs of them, from one thread and from 16 threads "
        "sharing one session or client, on moto and on SeaweedFS, beside boto3 (`put_object`, "
        "`delete_object`) and obstore (`put`, `delete`); every key's ETag checked afterwards.",
    ),
    Bench(
        "overhead",
        "Overhead without a network: memory:// and file://",
        "One object streamed through the adapter from fsspec's memory filesystem and from a "
        "local file, against reading it directly.",
    ),
    Bench(
        "conda",
        "conda: packages from an s3:// channel, plugin against conda's own S3Adapter",
        "The real conda (`conda create --download-only`, classic solver) fetching one large "
        "package, and eight smaller ones at once, from an s3:// channel on moto, each run in a "
        "fresh process with a fresh package cache: objstore-adapter's conda plugin against "
        "conda's own S3Adapter (boto3), wall time and the conda process's peak RSS.",
    ),
]
NAMES = [bench.name for bench in BENCHES]
_UNLISTED = {path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py")} - set(NAMES)
if _UNLISTED:  # a scenario run_all would silently leave out
    raise RuntimeError(f"benchmarks not in run_all.BENCHES: {sorted(_UNLISTED)}")


def module(name: str) -> Any:
    """The ``bench_<name>`` module, for its ``markdown()`` and ``LABELS``/``METHODS``."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(f"bench_{name}")


def run(name: str, repeats: int, quick: bool, output: Path) -> float:
    """Run one benchmark script; its progress goes to our stderr. Returns seconds taken."""
    argv = [sys.executable, str(HERE / f"bench_{name}.py"), "--repeats", str(repeats)]
    argv += ["--output", str(output)] + (["--quick"] if quick else [])
    progress(f"== {name}: {' '.join(argv[1:])}")
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    return time.perf_counter() - start


def header(info: dict[str, Any]) -> str:
    m = info["machine"]
    lines = [
        "# objstore_adapter benchmarks",
        "",
        f"Run {info['started']} with `{info['command']}` ({info['mode']} sizes), every measurement "
        f"repeated {info['repeats']} times (medians reported); took "
        f"{info['total_seconds']:.0f} s. All S3 numbers are against servers on this machine: "
        "moto's (Python) everywhere, and SeaweedFS (Go, a real S3 server) in the network "
        "benchmark, directly over loopback or through a shaping proxy; compare methods with "
        "each other, not with a real S3 endpoint. MB/s = 10^6 bytes/s, MiB/s = 2^20 bytes/s.",
        "",
        "## Machine",
        "",
        markdown_table(
            ["what", "value"],
            [
                ["CPUs (nproc)", str(m["nproc"])],
                ["CPU model", m["cpu"]],
                ["Python", m["python"]],
                ["platform", m["platform"]],
                ["load average at start", " ".join(str(x) for x in m["loadavg_at_start"])],
                ["objstore_adapter commit", m["git"]],
            ],
            left=2,
        ),
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
    ]
    return "\n".join(lines)


def report(info: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    sections = [header(info)]
    for bench in BENCHES:
        if bench.name not in results:
            continue
        seconds = info["durations_s"][bench.name]
        body = module(bench.name).markdown(results[bench.name], False)
        sections.append(
            f"## {bench.title} (`bench_{bench.name}.py`, {seconds:.0f} s)\n\n{bench.what}\n\n{body}"
        )
    plots = "## Plot\n\n![benchmarks](benchmarks.png)"
    if "network" in results:
        plots += "\n\n![network](network.png)"
    sections.append(plots)
    return "\n\n".join(sections) + "\n"


def plot(results: dict[str, dict[str, Any]], path: Path, title: str) -> bool:
    """The main numbers as a 2x3 PNG; False (and a warning) without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        progress("matplotlib is not installed: no PNG (pip install matplotlib)")
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    fig, grid = plt.subplots(2, 3, figsize=(17, 9.5))
    axes: list[Axes] = list(grid.flat)
    panels: list[tuple[str, Callable[[Axes, dict[str, Any]], None]]] = [
        ("large", _large_throughput),
        ("small", _small_latency),
        ("ranges", _range_latency),
        ("concurrency", _concurrency),
        ("overhead", _overhead),
        ("large", _large_memory),
    ]
    for ax, (name, draw) in zip(axes, panels, strict=True):
        if name in results:
            draw(ax, results[name])
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{name}: not run", ha="center", va="center")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_network(r: dict[str, Any], path: Path, title: str) -> bool:
    """The network benchmark as a PNG, one row per server and link, one column per case."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from _network import case_title, link_title, rate

    settings, summary = r["settings"], r["summary"]
    rows = [(server, link) for server, by_link in summary.items() for link in by_link]
    cases = list(settings["cases"])
    fig, grid = plt.subplots(
        len(rows), len(cases), figsize=(6.2 * len(cases), 2.7 * len(rows)), squeeze=False
    )
    for (server, link), axes in zip(rows, grid, strict=True):
        for case, ax in zip(cases, axes, strict=True):
            by_method = summary[server][link].get(case, {})
            _bars(ax, list(by_method), [rate(case, v) for v in by_method.values()], "{:,.0f}")
            ax.set_xlabel("requests/s" if case == "small" else "MiB/s (higher is better)")
            ax.set_title(
                f"{server}, {link_title(link, settings)}\n{case_title(case, settings)}",
                fontsize=9,
            )
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _bars(
    ax: Any, labels: list[str], values: list[float], fmt: str, p90: list[float] | None = None
) -> None:
    """Horizontal bars (the adapter's blue), each labelled; ``p90`` adds a whisker to it."""
    colors = ["tab:blue" if label.startswith("adapter") else "tab:gray" for label in labels]
    ax.barh(labels, values, color=colors)
    ends = values
    if p90 is not None:
        upper = [max(p - v, 0.0) for p, v in zip(p90, values, strict=True)]
        ax.errorbar(
            values, labels, xerr=[[0.0] * len(values), upper], fmt="none", ecolor="k", capsize=5
        )
        ends = [max(p, v) for p, v in zip(p90, values, strict=True)]
    for label, value, end in zip(labels, values, ends, strict=True):
        ax.annotate(
            fmt.format(value),
            (end, label),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.margins(x=0.3)


def _large_throughput(ax: Any, r: dict[str, Any]) -> None:
    s = r["summary"]
    _bars(ax, list(s), [v["mb_per_s"] for v in s.values()], "{:.0f}")
    ax.set_xlabel("MB/s (higher is better)")
    ax.set_title(f"Large object ({r['size_mib']} MiB): throughput")


def _large_memory(ax: Any, r: dict[str, Any]) -> None:
    s = r["summary"]
    _bars(ax, list(s), [v["peak_rss_growth_mib"] for v in s.values()], "{:.1f}")
    ax.set_xlabel("peak RSS growth, MiB (lower is better)")
    ax.set_title(f"Large object ({r['size_mib']} MiB): memory")


def _small_latency(ax: Any, r: dict[str, Any]) -> None:
    s = r["summary"]
    labels = [f"{name} (n={v['gets_timed']})" for name, v in s.items()]
    medians = [v["median_us"] / 1e3 for v in s.values()]
    _bars(ax, labels, medians, "{:.1f} ms", [v["p90_us"] / 1e3 for v in s.values()])
    ax.set_xscale("log")
    ax.set_xlabel("ms per GET, log scale: bar median, whisker to p90 (lower is better)")
    ax.set_title(f"Small objects ({r['object_bytes']} B): GET latency")


def _range_latency(ax: Any, r: dict[str, Any]) -> None:
    s = r["summary"]
    medians = [v["median_ms"] for v in s.values()]
    _bars(ax, list(s), medians, "{:.1f} ms", [v["p90_ms"] for v in s.values()])
    ax.set_xlabel("ms per range: bar median, whisker to p90 (lower is better)")
    ax.set_title(f"{r['range_kib']} KiB ranges of a {r['object_mib']} MiB object")


def _concurrency(ax: Any, r: dict[str, Any]) -> None:
    for name, by_threads in r["summary"].items():
        threads = [int(t) for t in by_threads]
        style = "o-" if name == "adapter" else "s--"
        ax.plot(threads, [v["mb_per_s"] for v in by_threads.values()], style, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(r["threads"], [str(t) for t in r["threads"]])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("threads sharing one session / client")
    ax.set_ylabel("aggregate MB/s")
    ax.legend()
    ax.set_title(f"Concurrency: {r['gets_per_measurement']} GETs of {r['object_mib']} MiB")


def _overhead(ax: Any, r: dict[str, Any]) -> None:
    s, stores = r["summary"], ["memory", "file"]
    width = 0.38
    for offset, kind, color in ((-width / 2, "adapter", "tab:blue"), (width / 2, "direct", "0.6")):
        xs = [i + offset for i in range(len(stores))]
        values = [s[f"{store}-{kind}"]["mb_per_s"] for store in stores]
        bars = ax.bar(xs, values, width, label=kind, color=color)
        ax.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=8)
    labels = [f"{store}://\nadapter/direct = {r['ratios'][store]:.2f}" for store in stores]
    ax.set_xticks(range(len(stores)), labels)
    ax.set_ylabel("MB/s (higher is better)")
    ax.legend()
    ax.set_title(f"No network: {r['size_mib']} MiB object")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: about a minute")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per method")
    parser.add_argument("--only", nargs="+", choices=NAMES, help="run only these benchmarks")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    info: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "benchmarks/run_all.py", *sys.argv[1:]]),
        "mode": "quick" if args.quick else "full",
        "quick": args.quick,
        "repeats": args.repeats,
        "machine": machine(),
        "durations_s": {},
    }
    results: dict[str, dict[str, Any]] = {}
    clock = time.perf_counter()
    for name in args.only or NAMES:
        output = args.results_dir / f"{name}.json"
        info["durations_s"][name] = run(name, args.repeats, args.quick, output)
        results[name] = json.loads(output.read_text())
    info["total_seconds"] = time.perf_counter() - clock
    text = report(info, results)
    print(text)
    write_json(args.results_dir / "results.json", {**info, "benchmarks": results})
    (args.results_dir / "report.md").write_text(text)
    m = info["machine"]
    title = (
        f"objstore_adapter benchmarks ({info['mode']} sizes, median of {args.repeats}) on "
        f"{m['nproc']} x {m['cpu']}, Python {m['python']}, {info['started']}, "
        f"adapter at {m['git']}; S3 = moto on loopback"
    )
    if plot(results, args.results_dir / "benchmarks.png", title):
        progress(f"wrote {args.results_dir / 'benchmarks.png'}")
    network_title = title.replace("; S3 = moto on loopback", ": network")
    if "network" in results and plot_network(
        results["network"], args.results_dir / "network.png", network_title
    ):
        progress(f"wrote {args.results_dir / 'network.png'}")
    progress(f"wrote {args.results_dir / 'report.md'} and {args.results_dir / 'results.json'}")


if __name__ == "__main__":
    main()
