#!/usr/bin/env bash
# Install everything into .venv, then run ruff, mypy and the test suite (which starts its own
# local object-store servers). Works on a fresh machine with Python 3.11, pip and Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".[test]"
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

# requests-file's own test suite runs against this adapter
# (tests/integrations/test_requests_file_suite.py); its sdist, pinned in constraints.txt, is
# fetched here since the suite never uses the network.
requests_file=$(sed -n 's/^requests-file==//p' constraints.txt)
if [ ! -f ".cache/sdists/requests_file-$requests_file.tar.gz" ]; then
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
        --no-binary :all: --dest .cache/sdists "requests-file==$requests_file"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet
# The suite runs on the editable install; this checks what a release ships (sdist, wheel).
bash scripts/wheel_smoke.sh
.venv/bin/python -m pytest "$@"
