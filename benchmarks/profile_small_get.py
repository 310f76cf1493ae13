"""Where one small GET's time goes: cProfile of sequential 4 KiB GETs through the adapter.

Run from the repository root (needs the ``test`` extra)::

    python benchmarks/profile_small_get.py [--gets 2000] [--server seaweedfs] [--link direct]
        [--top 25]

The server (SeaweedFS by default) is started on free ports and ``--keys`` objects of 4 KiB
are uploaded. One adapter session then GETs them in turn from one thread: first ``--gets``
GETs without the profiler (the time per GET it prints), then as many under cProfile. The
top entries by own time and by cumulative time are printed; ``--output FILE`` also writes the
profile (for ``snakeviz`` or ``pstats``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable
from pathlib import Path

import requests
from _common import adapter_session, boto3_client, unique_bucket
from _harness import first_line
from _network import LINKS, SERVERS, link_to
from _peers import small_body, small_key


def run(get: Callable[[str], bytes], keys: int, gets: int, size: int) -> float:
    """Seconds for ``gets`` sequential GETs, cycling through ``keys`` objects (checked)."""
    start = time.perf_counter()
    for i in range(gets):
        if get(small_key(i % keys)) != small_body(i % keys, size):
            raise AssertionError(f"wrong body for {small_key(i % keys)}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--gets", type=int, default=2000, help="GETs per pass")
    parser.add_argument("--keys", type=int, default=100, help="distinct objects, cycled")
    parser.add_argument("--size", type=int, default=4096, help="bytes per object")
    parser.add_argument("--server", choices=list(SERVERS), default="seaweedfs")
    parser.add_argument("--link", choices=LINKS, default="direct")
    parser.add_argument("--top", type=int, default=25, help="entries printed per ordering")
    parser.add_argument("--output", type=Path, help="write the profile here")
    args = parser.parse_args(argv)
    with SERVERS[args.server]() as endpoint:
        client = boto3_client(endpoint)
        bucket = unique_bucket("profile")
        client.create_bucket(Bucket=bucket)
        for i in range(args.keys):
            client.put_object(Bucket=bucket, Key=small_key(i), Body=small_body(i, args.size))
        with link_to(endpoint, args.link, 20.0, 40.0) as url:
            session = adapter_session(url)

            def get(key: str) -> bytes:
                response: requests.Response = session.get(f"s3://{bucket}/{key}")
                response.raise_for_status()
                return response.content

            run(get, args.keys, 20, args.size)  # warm-up: connections, lazily built clients
            plain = run(get, args.keys, args.gets, args.size)
            profiler = cProfile.Profile()
            profiled = profiler.runcall(run, get, args.keys, args.gets, args.size)
    print(
        f"{args.gets} sequential GETs of {args.size} B through the adapter on {args.server} "
        f"({args.link}): {plain / args.gets * 1e3:.3f} ms per GET without the profiler, "
        f"{profiled / args.gets * 1e3:.3f} ms with it.\n"
    )
    if args.output:
        profiler.dump_stats(args.output)
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        print(f"== by {order}\n{out.getvalue().split('Ordered by:', 1)[1]}")


if __name__ == "__main__":
    main()
