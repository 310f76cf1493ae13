"""requests-file's own test suite, unchanged, with its FileAdapter swapped for ours.

scripts/test.sh fetches the sdist pinned in constraints.txt into .cache/sdists. Its tests run
in a pytest subprocess whose ``requests_file`` module is a shadow: ``FileAdapter`` is an
:class:`~objstore_adapter.ObjectStoreAdapter` serving ``file``. Every test must pass except the
deliberate differences below, each of which must still show, and for the reason given.
"""

from __future__ import annotations

import importlib.metadata
import locale
import os
import subprocess
import sys
import tarfile
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the suite's POSIX paths")

VERSION = importlib.metadata.version("requests-file")
SDIST = Path(__file__).parents[2] / ".cache" / "sdists" / f"requests_file-{VERSION}.tar.gz"

SHADOW = '''
"""requests-file's FileAdapter, swapped for objstore_adapter's."""
from objstore_adapter import ObjectStoreAdapter, SchemeRegistry


class FileAdapter(ObjectStoreAdapter):
    def __init__(self, set_content_length: bool = True) -> None:
        registry = SchemeRegistry()
        registry.register("file")
        super().__init__(registry)
'''


@dataclass(frozen=True)
class Difference:
    """A test of theirs that fails with our adapter on purpose."""

    reason: str
    shows: str  # text their failure report must hold: this difference, not another failure


REASON_PHRASE = (
    "Response.reason is the standard HTTP phrase on every backend; the path is in the JSON "
    "body's url, not in the reason"
)
DIFFERENCES = {
    "test_fetch_missing": Difference(REASON_PHRASE, "'/no/such/path' not found in 'Not Found'"),
    "test_fetch_missing_localized": Difference(REASON_PHRASE, "not found in 'Not Found'"),
    "test_fetch_no_access": Difference(REASON_PHRASE, "not found in 'Forbidden'"),
    "test_fetch_post": Difference(
        "a method that is not served answers 405 with Allow, before any I/O, as on every "
        "scheme; requests-file raises ValueError",
        "ValueError not raised by post",
    ),
    "test_funny_names": Difference(
        "an encoded separator (%2F) in a path raises InvalidURL before any I/O, as encoded "
        "dot segments do; requests-file answers 404",
        "decodes to a separator",
    ),
}


def _has_locale(name: str) -> bool:
    saved = locale.setlocale(locale.LC_MESSAGES)
    try:
        locale.setlocale(locale.LC_MESSAGES, name)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_MESSAGES, saved)
    return True


def _expected(name: str, ours: bool) -> str:
    """The outcome of their test ``name`` on this machine, with our adapter or theirs."""
    if name == "test_windows_legacy" or (name == "test_fetch_no_access" and os.geteuid() == 0):
        return "skipped"  # their own skipIf
    if name == "test_fetch_missing_localized" and not _has_locale("ru_RU.UTF-8"):
        return "passed"  # their test then checks nothing
    return "failed" if ours and name in DIFFERENCES else "passed"


@pytest.fixture(scope="module")
def sdist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SDIST.exists():
        pytest.fail(f"{SDIST} is missing: scripts/test.sh fetches it (pip download)")
    into = tmp_path_factory.mktemp("sdist")
    with tarfile.open(SDIST) as archive:
        archive.extractall(into, filter="data")
    return into / f"requests_file-{VERSION}"


def _run_their_suite(sdist_root: Path, module_dir: Path, run_dir: Path) -> dict[str, str]:
    """Run their tests with ``requests_file`` imported from ``module_dir``: name → outcome;
    a failure's outcome is ``failed: <its report>``."""
    (run_dir / "pytest.ini").write_text("[pytest]\n")  # their suite, not our settings
    env = {**os.environ, "PYTHONPATH": str(module_dir), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    imported = subprocess.run(
        [sys.executable, "-c", "import requests_file; print(requests_file.__file__)"],
        cwd=run_dir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(imported).is_relative_to(module_dir), imported
    report = run_dir / "report.xml"
    subprocess.run(
        [
            *(sys.executable, "-m", "pytest", str(sdist_root / "tests"), "-q"),
            *("-p", "no:cacheprovider", "-c", str(run_dir / "pytest.ini")),
            *("--rootdir", str(run_dir), f"--junitxml={report}"),
            # Its own temporary root: not the numbered pytest-N folders of this session,
            # which its exit would otherwise list and prune while this session runs.
            f"--basetemp={run_dir / 'tmp'}",
        ],
        cwd=run_dir,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = f"failed: {child.get('message', '')}\n{child.text or ''}"
            elif child.tag == "skipped":
                outcome = "skipped"
        outcomes[case.get("name", "")] = outcome
    assert outcomes, "their suite ran no test"
    return outcomes


def test_their_suite_passes_with_their_own_adapter(sdist_root: Path, tmp_path: Path) -> None:
    outcomes = _run_their_suite(sdist_root, sdist_root, tmp_path)

    assert {name: outcome.split(":")[0] for name, outcome in outcomes.items()} == {
        name: _expected(name, ours=False) for name in outcomes
    }


def test_their_suite_passes_with_ours_but_for_the_listed_differences(
    sdist_root: Path, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "requests_file.py").write_text(textwrap.dedent(SHADOW))
    (tmp_path / "run").mkdir()

    outcomes = _run_their_suite(sdist_root, shadow, tmp_path / "run")

    assert {name: outcome.split(":")[0] for name, outcome in outcomes.items()} == {
        name: _expected(name, ours=True) for name in outcomes
    }
    for name, outcome in outcomes.items():
        if outcome.startswith("failed"):
            assert DIFFERENCES[name].shows in outcome, (DIFFERENCES[name].reason, outcome)
