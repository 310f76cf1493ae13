"""The ``objstore`` console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def test_demo_fetches_through_an_embedded_s3_server() -> None:
    script = shutil.which("objstore", path=str(Path(sys.executable).parent))
    assert script is not None, "the objstore console script is not installed"

    result = subprocess.run(
        [script, "demo", "--size-mib", "3"], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "$ GET s3://objstore-demo/hello.txt\n  200 OK" in out
    assert "Hello from an object store!" in out
    assert "$ HEAD s3://objstore-demo/data/table.csv\n  200 OK" in out
    assert "404 Not Found" in out
    assert "3 MiB in" in out
    assert "sha256 verified" in out
