#!/usr/bin/env bash
# Mutation testing on demand (slow, so not part of .ci/run): plant one small bug at a time in a
# module and check that a test fails. Uses mutmut from the test environment (`bash
# scripts/test.sh` creates .venv).
#
#   bash scripts/mutation.sh                 # every module below (hours: run a few at a time)
#   bash scripts/mutation.sh _http _errors   # just these
#   bash scripts/mutation.sh _transfer/upload   # a module in a package: its path
#   MUTATION_JOBS=1 bash scripts/mutation.sh _session
#   MUTANTS="objstore_adapter._handlers.x_list_prefix__mutmut_4 ..." bash scripts/mutation.sh _handlers
#                                            # only these mutants (its report counts only them)
#   RESUME=1 bash scripts/mutation.sh _backends/azure   # finish a run that was stopped: keep
#                                            # its copy and results, check only the mutants left
#   RECHECK=1 bash scripts/mutation.sh _backends/azure  # a finished run's survivors again,
#                                            # against today's tests (the module unchanged)
#   RECHECK=1 RECHECK_TESTS="tests/unit/test_settings.py" bash scripts/mutation.sh _registry
#                                            # ... against these tests instead of its own file
#   bash scripts/mutation.sh --report        # the report again, from the last results
#
# Each module runs in its own copy of the project, .cache/mutation/<module>/, with a
# [tool.mutmut] section that names the one file to mutate and the tests its mutants may run;
# mutmut writes its mutants to mutants/ inside that copy, never to objstore_adapter/. Every
# mutant runs only those of its module's tests that called the mutated function (mutmut maps
# them in a first, clean run). The report, .cache/mutation/report.md, gives per module the
# mutants killed, surviving, equivalent (tests/mutation_equivalents.txt says why each cannot
# change what a user sees) and timed out, and the diff of every survivor.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ ! -x .venv/bin/mutmut ]; then
    echo "mutmut is missing from .venv: run 'bash scripts/test.sh' first" >&2
    exit 2
fi
jobs=${MUTATION_JOBS:-2}

# The tests each module's mutants run: files, then the backends their parametrized cases may
# use (the rules are the same on every backend; S3 where its own body and error paths run).
# SeaweedFS runs the same S3 code as moto and starts slower; the three token-leak tests that
# wait out SDK retries (20-40 s each) are left to the suite, and so is the constant-memory
# test: mutmut's trampoline, wrapped around every call, changes what tracemalloc measures,
# and so is the test that tells a read timeout from a connect timeout by quarter seconds:
# beside other runs, a trampolined client can take longer than that to connect; and so is the
# test that searches every frame of a failure for secrets: the trampoline's own frames hold
# the arguments of the calls it wraps (a URL with its userinfo).
# Unit tests named after the module (tests/unit/test_handlers.py for _handlers) run on every
# store they name: they are chosen for its store-specific paths.
tests_for() {
    local u=tests/unit/test b=tests/behaviour/test
    case "$1" in
    _http) echo "${u}_http.py ${u}_info.py ${b}_conformance.py" ;;
    _errors) echo "${u}_errors.py ${b}_errors.py" ;;
    _diagnose) echo "${u}_diagnose.py ${u}_errors.py ${b}_errors.py" ;;
    _redact) echo "${u}_redact.py ${b}_security.py ${u}_registry.py" ;;
    _body) echo "${b}_requests_contract.py ${u}_body.py ${b}_conformance.py" ;;
    _registry) echo "${u}_registry.py ${u}_settings.py ${u}_fileurl.py ${b}_security.py ${b}_conformance.py ${b}_protocols.py" ;;
    _session) echo "${u}_session.py ${b}_security.py ${u}_registry.py" ;;
    _adapter) echo "${u}_adapter.py ${b}_requests_contract.py ${b}_errors.py ${b}_conformance.py ${b}_s3.py" ;;
    _fileurl) echo "${u}_fileurl.py ${u}_registry.py ${b}_security.py" ;;
    _settings) echo "${u}_settings.py ${u}_registry.py" ;;
    _transfer/upload) echo "${u}_upload.py" ;;
    _transfer/__init__) echo "${u}_transfer.py ${b}_healing.py ${b}_exact.py" ;;
    _transfer/resume) echo "${u}_resume.py ${b}_healing.py" ;;
    _transfer/parallel) echo "${u}_parallel.py ${b}_healing.py" ;;
    _handlers) echo "${u}_handlers.py ${b}_conformance.py ${b}_requests_contract.py ${b}_atomic.py" ;;
    _backends/__init__ | _backends/local) echo "${u}_backends.py ${u}_local.py ${b}_conformance.py ${b}_atomic.py ${b}_backends.py" ;;
    _backends/_aio | _backends/gcs | _backends/azure) echo "${u}_gcs.py ${u}_azure.py ${u}_aio.py ${b}_conformance.py ${b}_exact.py ${b}_atomic.py ${b}_redirects.py" ;;
    _backends/s3/backend | _backends/s3/parts) echo "${u}_s3_backend.py ${u}_s3_parts.py ${u}_presigned.py ${b}_conformance.py ${b}_s3.py ${b}_exact.py" ;;
    _backends/s3/presigned) echo "${u}_presigned.py ${b}_s3.py ${b}_redirects.py" ;;
    _backends/s3/native) echo "${u}_native.py ${b}_native.py" ;;
    _backends/web) echo "${u}_web.py ${b}_security.py" ;;
    _backends/ftp) echo "${b}_protocols.py" ;;
    *) return 1 ;;
    esac
}
backends_for() {
    case "$1" in
    _errors | _diagnose | _redact) echo "s3 gs az memory file" ;;
    _body | _adapter | _transfer/*) echo "s3 memory file" ;;
    _backends/gcs) echo "gs" ;;
    _backends/azure) echo "az" ;;
    _backends/_aio) echo "s3 gs az" ;;
    _backends/s3/native) echo "s3_native" ;;
    _backends/s3/*) echo "s3 s3_native" ;;
    *) echo "memory file" ;;
    esac
}
EXCLUDED='test_(s3_session_token|gcs_tokens|azure_sas_and_account_keys)_never_leak|test_multi_mib_object_streams_in_constant_memory|test_a_store_that_never_answers_is_a_read_timeout|test_no_failure_shows_a_secret_even_with_its_frame_locals'

# mutmut over one module's copy, in its own process group: servers left by a mutant killed on
# timeout are ended with it. A resumed run adds its time to the time already recorded.
run_mutmut() {
    local module=$1 work=$2 what=$3 start status group before=0
    echo "$module: $what, $jobs workers, log in $work/run.log"
    if [ -e "$work/seconds" ]; then before=$(cat "$work/seconds"); fi
    start=$(date +%s)
    set -m
    # shellcheck disable=SC2086 # MUTANTS: names to check again (the survivors of a run)
    (cd "$work" && exec nice -n 15 "$root/.venv/bin/mutmut" run --max-children "$jobs" ${MUTANTS:-}) \
        >>"$work/run.log" 2>&1 &
    group=$!
    set +m
    trap 'kill -- -$group 2>/dev/null' EXIT
    status=0
    wait "$group" || status=$?
    kill -- -"$group" 2>/dev/null || true
    trap - EXIT
    if [ "$status" -ne 0 ]; then
        tail -c 3000 "$work/run.log" >&2
        exit "$status"
    fi
    echo $((before + $(date +%s) - start)) >"$work/seconds"
}

# A finished run's survivors checked again against today's tests, each as mutmut checks it
# (its trampolined copy of the module, MUTANT_UNDER_TEST naming the mutant). The tests that
# called its function let it survive in the run: a test written since, in the module's own
# unit file, is what may kill it now (without such a file, the run's tests again). A mutant
# a test now kills is recorded as killed in the run's results.
recheck() {
    local module=$1 work=$2
    if [ ! -e "$work/mutants/mutmut-stats.json" ]; then
        echo "$module has no finished run to check again" >&2
        exit 2
    fi
    if ! cmp -s "$work/objstore_adapter/$module.py" "objstore_adapter/$module.py"; then
        echo "$module changed since its run: run it again" >&2
        exit 2
    fi
    echo "$module: survivors against today's tests"
    MODULE=$module WORK=$work ROOT=$root .venv/bin/python - <<'PY'
import json
import os
import shutil
import subprocess
from pathlib import Path

module, work, root = os.environ["MODULE"], Path(os.environ["WORK"]), Path(os.environ["ROOT"])
mutants = work / "mutants"
# Today's tests and modules around the mutated module as it was run.
shutil.rmtree(mutants / "tests")
shutil.copytree(root / "tests", mutants / "tests", ignore=shutil.ignore_patterns("__pycache__"))
for source in (root / "objstore_adapter").rglob("*.py"):
    relative = source.relative_to(root)
    if relative != Path(f"objstore_adapter/{module}.py"):
        (mutants / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, mutants / relative)
meta_path = mutants / f"objstore_adapter/{module}.py.meta"
meta = json.loads(meta_path.read_text())
stats = json.loads((mutants / "mutmut-stats.json").read_text())["tests_by_mangled_function_name"]
named = Path(module).parent if Path(module).name == "__init__" else Path(module)  # a package
own = f"tests/unit/test_{named.name.lstrip('_')}.py"
if not (root / own).exists():  # s3/backend: tests/unit/test_s3_backend.py
    own = f"tests/unit/test_{named.parent.name}_{named.name}.py"
equivalent = {
    line.split(" | ", 1)[0].strip()
    for line in (root / "tests/mutation_equivalents.txt").read_text().splitlines()
    if " | " in line and not line.startswith("#")
}
arguments = ["-p", "no:cacheprovider", "-p", "mutation_order"]
arguments += ["-W", "ignore::pytest.PytestUnraisableExceptionWarning"]
for name, code in sorted(meta["exit_code_by_key"].items()):
    if code not in (0, 5, 33) or name in equivalent:
        continue
    function = name.rsplit("__mutmut_", 1)[0]
    tests = [own] if (root / own).exists() else sorted(set(stats.get(function, ())))
    if os.environ.get("RECHECK_TESTS"):
        tests = os.environ["RECHECK_TESTS"].split()
    done = subprocess.run(
        [str(root / ".venv/bin/python"), "-m", "pytest", "-x", "-q", *arguments, *tests],
        cwd=mutants,
        env={**os.environ, "MUTANT_UNDER_TEST": name},
        capture_output=True,
        timeout=1800,
    )
    verdict = "killed" if done.returncode in (1, 3) else f"survived ({done.returncode})"
    print(f"{name}: {verdict}", flush=True)
    if done.returncode in (1, 3):
        meta["exit_code_by_key"][name] = done.returncode
        meta_path.write_text(json.dumps(meta))
PY
}

# Everything below runs from main, which bash reads whole before it starts: editing this file
# during a run cannot change the run.
main() {
if [ "${1:-}" = "--report" ]; then
    modules=() # only rewrite the report from the last results
elif [ "$#" -gt 0 ]; then
    modules=("$@")
else
    modules=(_http _errors _diagnose _redact _body _registry _session _adapter _fileurl _settings
        _handlers _transfer/__init__ _transfer/resume _transfer/parallel _transfer/upload
        _backends/__init__ _backends/_aio _backends/local _backends/gcs _backends/azure
        _backends/s3/backend _backends/s3/presigned _backends/s3/parts _backends/s3/native
        _backends/web _backends/ftp)
fi

mkdir -p .cache/mutation
for module in "${modules[@]+"${modules[@]}"}"; do
    if ! files=$(tests_for "$module"); then
        echo "no tests configured for module $module" >&2
        exit 2
    fi
    files=$(for file in $files; do if [ -e "$file" ]; then echo "$file"; fi; done) # not yet written
    own=$(basename "${module%/__init__}") # a package's __init__: the package
    own=tests/unit/test_${own#_}.py # _handlers: tests/unit/test_handlers.py
    if [ ! -e "$own" ]; then # s3/backend: tests/unit/test_s3_backend.py
        own=tests/unit/test_$(basename "$(dirname "$module")")_$(basename "$module").py
    fi
    case "$module" in _transfer/*) own="" ;; esac # store-free rules; their e2e cases are slow
    work=.cache/mutation/${module//\//.} # _transfer/upload: .cache/mutation/_transfer.upload
    if [ -n "${RESUME:-}" ] && [ -e "$work/mutants/mutmut-stats.json" ]; then
        run_mutmut "$module" "$work" "resumed"
        continue
    fi
    if [ -n "${RECHECK:-}" ]; then
        recheck "$module" "$work"
        continue
    fi
    rm -rf "$work"
    mkdir -p "$work/mutants"
    cp -r objstore_adapter tests pyproject.toml "$work/"
    find "$work" -name __pycache__ -prune -exec rm -rf {} +
    ln -s "$root/node_modules" "$work/mutants/node_modules" # Azurite, found next to tests/
    # The selected test ids, listed one by one: -k cannot tell a backend from a word in a name.
    # shellcheck disable=SC2086 # word splitting of the file list is wanted
    ids=$(.venv/bin/python -m pytest -p no:cacheprovider --collect-only -q $files |
        grep '::' | BACKENDS=$(backends_for "$module") EXCLUDED=$EXCLUDED OWN=$own .venv/bin/python -c '
import os, re, sys
allowed = set(os.environ["BACKENDS"].split())
every = {"s3", "s3_native", "seaweed", "gs", "az", "memory", "file"}
for line in sys.stdin:
    node = line.strip()
    params = node.partition("[")[2].rstrip("]").split("-")
    if re.search(os.environ["EXCLUDED"], node):
        continue
    # Unit tests named after the module run on every store they name, others on those allowed.
    if not node.startswith(os.environ["OWN"] + "::") and (every & set(params)) - allowed:
        continue
    print(node)
')
    MODULE=$module IDS=$ids .venv/bin/python - "$work/pyproject.toml" <<'PY'
import json, os, sys

path = sys.argv[1]
ids = os.environ["IDS"].split("\n")
lines = [
    f'only_mutate = ["objstore_adapter/{os.environ["MODULE"]}.py"]',
    "pytest_add_cli_args_test_selection = " + json.dumps(ids),
    # mutmut runs pytest several times in one process: a connection one run leaves to the
    # garbage collector can be reported at the end of the next (the suite keeps it an error).
    'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "mutation_order",'
    ' "-W", "ignore::pytest.PytestUnraisableExceptionWarning"]',
    # A mutant that loops forever (a cycle check removed) is a timeout: 8x the tests' time.
    "timeout_multiplier = 8.0",
]
text = open(path).read().replace("[tool.mutmut]\n", "[tool.mutmut]\n" + "\n".join(lines) + "\n", 1)
open(path, "w").write(text)
PY
    # Fastest tests first (their durations come from mutmut's clean run): most mutants then
    # fail in the first second instead of after the slow tests that call the same function.
    cat >"$work/mutants/mutation_order.py" <<'PY'
import json
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    stats = Path("mutmut-stats.json")
    if stats.exists():
        durations = json.loads(stats.read_text())["duration_by_test"]
        items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
PY
    run_mutmut "$module" "$work" "$(echo "$ids" | wc -l) tests"
done

# The report, over every module that has results (a partial run keeps the others' figures).
.venv/bin/python - <<'PY'
import json
import re
import subprocess
from pathlib import Path

root = Path.cwd()
base = root / ".cache/mutation"
equivalents: dict[str, tuple[str, str]] = {}  # mutant -> (mutated line, why)
for line in (root / "tests/mutation_equivalents.txt").read_text().splitlines():
    if line.strip() and not line.startswith("#"):
        name, rest = line.split(" | ", 1)
        mutated, why = rest.rsplit(" | ", 1)
        equivalents[name.strip()] = (mutated.strip(), why.strip())
KILLED, SURVIVED, TIMEOUT = {1, 3, 37}, {0}, {24, -24, 152, 255, 36}


def diff(work: Path, name: str) -> str:
    shown = subprocess.run(
        [str(root / ".venv/bin/mutmut"), "show", name], cwd=work, capture_output=True, text=True
    ).stdout
    return "\n".join(
        line for line in shown.splitlines() if re.match(r"[-+] ", line) or line.startswith("@@")
    )


def added(text: str) -> str:
    return " ".join(line[2:].strip() for line in text.splitlines() if line.startswith("+ "))


rows, details = [], []
for work in sorted(p for p in base.iterdir() if (p / "seconds").exists()):
    module = work.name.replace(".", "/")  # a module in a package: _transfer.upload
    meta = work / f"mutants/objstore_adapter/{module}.py.meta"
    try:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        seconds = int((work / "seconds").read_text())
    except FileNotFoundError:
        continue  # another run of this module started over and removed its results
    count = dict(killed=0, survived=0, equivalent=0, timeout=0, other=0)
    survivors, stale = [], []
    for name, code in sorted(codes.items()):
        if code in KILLED:
            count["killed"] += 1
        elif code in TIMEOUT:
            count["timeout"] += 1
        elif code in SURVIVED or code in (5, 33):  # 33: no test calls the function
            text = diff(work, name)
            known = equivalents.get(name)
            if known and known[0] == added(text):
                count["equivalent"] += 1
            else:
                count["survived"] += 1
                survivors.append((name, text, "no test calls it" if code != 0 else ""))
                if known:
                    stale.append(name)
        else:
            count["other"] += 1
            survivors.append((name, diff(work, name), f"exit code {code}"))
    mutants = len(codes)
    scored = mutants - count["equivalent"]
    score = 100.0 * (count["killed"] + count["timeout"]) / scored if scored else 100.0
    survived, minutes = count["survived"] + count["other"], f"{seconds // 60}:{seconds % 60:02d}"
    rows.append(
        f"| `{module}.py` | {mutants} | {count['killed']} | {survived} | {count['equivalent']} "
        f"| {count['timeout']} | {score:.1f}% | {minutes} |"
    )
    if survivors or stale:
        details.append(f"\n## `{module}.py`: survivors\n")
        for name, text, note in survivors:
            extra = f" ({note})" if note else ""
            stale_note = " (listed as equivalent, but the mutant changed)" if name in stale else ""
            details.append(f"- `{name}`{extra}{stale_note}\n\n```diff\n{text}\n```\n")

report = [
    "# Mutation testing report",
    "",
    "Written by `bash scripts/mutation.sh` (mutmut). Score: killed (timeouts included) out of "
    "the mutants that are not equivalent; equivalents, with the reason for each, are listed "
    "in `tests/mutation_equivalents.txt`.",
    "",
    "| module | mutants | killed | survived | equivalent | timeouts | score | time (min:s) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    *rows,
    *details,
]
(base / "report.md").write_text("\n".join(report) + "\n")
print("\n".join(report[4:6] + rows))
print(f"report: {base / 'report.md'}")
PY
}

main "$@"
exit
