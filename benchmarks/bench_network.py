"""Large GETs and PUTs and many small GETs, on moto and SeaweedFS, direct and over a slow link.

Run from the repository root (needs the ``test`` extra, which brings the ``bench`` one)::

    python benchmarks/bench_network.py [--quick] [--repeats 3] [--servers seaweedfs]
        [--links shaped] [--cases get put small] [--latency-ms 20] [--bandwidth-mib 40]

The adapter against boto3 (``get_object``, and s3transfer's ``download_fileobj`` and
``upload_file`` with their default ``TransferConfig``), obstore and s3fs: one 128 MiB object
(16 MiB with ``--quick``) read whole and uploaded from a local file, and 2,000 GETs of 4 KiB
(400 quick) from 16 threads sharing one session or client. Both servers run on this machine;
the shaped link is a proxy that adds 20 ms before each response and caps each connection at
40 MiB/s, as a cloud store's does. One table per server and link; every run in
``benchmarks/results/network.json``. The harness is ``_network.py``, the methods ``_peers.py``.
"""

from __future__ import annotations

from _network import Scenario, main, markdown

SCENARIO = Scenario(
    name="network",
    size_mib=128,
    quick_size_mib=16,
    small_gets=2000,
    quick_small_gets=400,
)

__all__ = ["markdown"]

if __name__ == "__main__":
    main(SCENARIO)
