#!/usr/bin/env bash
# Build the sdist and the wheel as a release would, install the wheel (not editable) into a fresh
# venv, and run the demo and a smoke test against it. The suite runs on an editable install, which
# reads the source tree: a file the wheel or the sdist leaves out would only be found here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.cache/wheel-smoke

pip_install() { # VENV REQUIREMENT...
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$root/constraints.txt" "${@:2}"
}

rm -rf "$work"
mkdir -p "$work"

# The build frontend gets its own venv, so the venv under test holds only the wheel and its extra.
python3 -m venv "$work/tools"
pip_install "$work/tools" build
# build makes the sdist from the tree and the wheel from the sdist, so a file missing from the
# sdist fails the wheel too. PIP_CONSTRAINT pins hatchling in build's isolated environment.
if ! PIP_CONSTRAINT="$root/constraints.txt" "$work/tools/bin/python" -m build \
    --outdir "$work/dist" . >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    exit 1
fi

# What each archive must carry: every module and py.typed, and the license text.
"$work/tools/bin/python" - "$root" "$work/dist" <<'EOF'
import pathlib
import sys
import tarfile
import zipfile

root, dist = (pathlib.Path(arg) for arg in sys.argv[1:])
package = sorted(
    path.relative_to(root).as_posix()
    for path in (root / "objstore_adapter").rglob("*")
    if path.suffix == ".py" or path.name == "py.typed"
)
(wheel,) = dist.glob("*.whl")
(sdist,) = dist.glob("*.tar.gz")
with zipfile.ZipFile(wheel) as archive:
    in_wheel = set(archive.namelist())
with tarfile.open(sdist) as archive:
    in_sdist = {name.partition("/")[2] for name in archive.getnames()}
dist_info = next(name.split("/")[0] for name in in_wheel if ".dist-info/" in name)
missing = [f"{wheel.name}: {name}" for name in package if name not in in_wheel]
if f"{dist_info}/licenses/LICENSE" not in in_wheel:
    missing.append(f"{wheel.name}: {dist_info}/licenses/LICENSE")
wanted_in_sdist = [*package, "LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"]
missing += [f"{sdist.name}: {name}" for name in wanted_in_sdist if name not in in_sdist]
if missing:
    sys.exit("missing from the archives:\n  " + "\n  ".join(missing))
print(f"archives: {wheel.name} and {sdist.name} carry {len(package)} package files and LICENSE")
EOF

wheel=$(echo "$work"/dist/*.whl)
python3 -m venv "$work/venv"
pip_install "$work/venv" "${wheel}[demo]"

# From an empty directory with -I, so nothing can be imported from the source tree.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
# The demo and the smoke test only talk to their own server on 127.0.0.1.
export AWS_EC2_METADATA_DISABLED=true
"$work/venv/bin/objstore" demo >"$work/demo.log" 2>&1 || {
    cat "$work/demo.log" >&2
    exit 1
}
echo "objstore demo: $(tail -n 1 "$work/demo.log" | sed 's/^ *//')"
"$work/venv/bin/python" -I - <<'EOF'
import importlib.metadata
import pathlib
import sysconfig

import objstore_adapter
from objstore_adapter.testing import ensure_bucket, local_s3, s3_registry

site_packages = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
package = pathlib.Path(objstore_adapter.__file__).resolve().parent
assert package.parent == site_packages, f"imported {package}, not the wheel in {site_packages}"
assert (package / "py.typed").is_file(), "py.typed is not installed"
dist = importlib.metadata.distribution("objstore-adapter")
assert dist.version == objstore_adapter.__version__, (dist.version, objstore_adapter.__version__)
assert any(str(path).endswith(".dist-info/licenses/LICENSE") for path in dist.files or ())
groups = {(ep.group, ep.name) for ep in dist.entry_points}
for expected in [
    ("console_scripts", "objstore"),
    ("conda", "objstore-adapter"),
    ("httpie.plugins.transport.v1", "objstore_s3"),
    ("httpie.plugins.transport.v1", "objstore_gs"),
    ("httpie.plugins.transport.v1", "objstore_az"),
]:
    assert expected in groups, f"entry point {expected} is not installed"

body = b"hello from the installed wheel\n"
with local_s3() as endpoint:
    registry = s3_registry(endpoint)
    ensure_bucket(registry, "smoke")
    url = "s3://smoke/dir/hello.txt"
    with objstore_adapter.session(registry) as s:
        r = s.put(url, data=body)
        assert r.status_code == 200, r.status_code
        r = s.get(url)
        assert (r.status_code, r.content) == (200, body), (r.status_code, r.content)
        r = s.head(url)
        assert r.status_code == 200, r.status_code
        assert r.headers["Content-Length"] == str(len(body)), r.headers
        assert r.content == b""
        r = s.get(url, headers={"Range": "bytes=6-9"})
        assert (r.status_code, r.content) == (206, body[6:10]), (r.status_code, r.content)
        assert r.headers["Content-Range"] == f"bytes 6-9/{len(body)}", r.headers
        r = s.delete(url)
        assert r.status_code == 204, r.status_code
        r = s.get(url)
        assert r.status_code == 404, r.status_code
print(f"wheel smoke test: {objstore_adapter.__version__} from {package}: PUT/GET/HEAD/Range/DELETE ok")
EOF
echo "wheel smoke: passed in ${SECONDS}s"
