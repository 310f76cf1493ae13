"""``_fileurl``: file:// URLs follow RFC 8089: local hosts only, percent-decoded paths, roots
matched decoded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

import objstore_adapter
from objstore_adapter import (
    SchemeRegistry,
)
from objstore_adapter._fileurl import local_path, within

#: File names that need percent-encoding in a URL, and one that is not valid UTF-8.
FUNNY_NAMES = [
    "spa ces.txt",
    "per%cent.txt",
    "%2F-literally.txt",
    "hash#tag.txt",
    "ques?tion.txt",
    "plus+semi;colon&amp=.txt",
    "日本語 é.txt",
    os.fsdecode(b"latin1-caf\xe9.txt"),
]


def _file_session(*prefixes: str) -> requests.Session:
    registry = SchemeRegistry()
    for prefix in prefixes:
        registry.register(prefix, protocol="file")
    return objstore_adapter.session(registry)


@pytest.mark.parametrize("name", FUNNY_NAMES)
def test_as_uri_round_trips_every_file_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"funny")
    session = _file_session("file")

    assert session.get(path.as_uri()).content == b"funny"
    assert session.head(path.as_uri()).headers["Content-Length"] == "5"
    written = tmp_path / f"new {name}"
    assert session.put(written.as_uri(), data=b"put").status_code == 200
    assert written.read_bytes() == b"put"
    assert session.delete(written.as_uri()).status_code == 204
    assert not written.exists()


def test_localhost_is_this_machine(tmp_path: Path) -> None:
    (tmp_path / "a b.txt").write_bytes(b"local")
    session = _file_session("file")
    path = (tmp_path / "a b.txt").as_uri().removeprefix("file://")

    assert session.get(f"file://localhost{path}").content == b"local"
    assert session.get(f"file://LocalHost{path}").content == b"local"
    # A query or fragment is not part of the path (as urllib and requests-file read it).
    assert session.get(f"file://{path}?download=1#top").content == b"local"


@pytest.mark.parametrize(
    "authority",
    ["example.com", "localhost:8080", "user@localhost", "user:pw@localhost", "127.0.0.1", "~"],
)
def test_other_hosts_are_refused(tmp_path: Path, authority: str) -> None:
    (tmp_path / "x.txt").write_bytes(b"x")
    session = _file_session("file")

    with pytest.raises(requests.exceptions.InvalidURL, match="name files on this machine") as err:
        session.get(f"file://{authority}{tmp_path}/x.txt")
    assert "pw" not in str(err.value)


def test_a_host_is_never_a_path_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "secret.txt").write_bytes(b"relative secret")
    monkeypatch.chdir(tmp_path)
    session = _file_session("file")

    for url in ("file://etc/secret.txt", "file://etc/", "file://etc"):
        with pytest.raises(requests.exceptions.InvalidURL):
            session.get(url)
    with pytest.raises(requests.exceptions.InvalidURL, match="names no path"):
        session.get("file://localhost")


@pytest.mark.parametrize(
    "segment", ["%2e%2e", "%2E%2e", ".%2e", "%2e", "%2E", "x%2F..%2Foutside.txt", "a%00b"]
)
def test_encoded_dots_separators_and_nul_are_refused_before_any_io(
    tmp_path: Path, segment: str
) -> None:
    root = tmp_path / "root"
    (root / "x").mkdir(parents=True)
    (tmp_path / "outside.txt").write_bytes(b"outside")
    session = _file_session(root.as_uri() + "/")

    for method in ("GET", "HEAD", "PUT", "DELETE"):
        with pytest.raises(requests.exceptions.InvalidURL, match=r"refused|separator"):
            session.request(method, f"{root.as_uri()}/{segment}/outside.txt", data=b"w")
    assert (tmp_path / "outside.txt").read_bytes() == b"outside"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "root"]


def test_an_encoded_separator_never_reaches_the_file_it_spells(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inner.txt").write_bytes(b"inner")
    session = _file_session("file")

    with pytest.raises(requests.exceptions.InvalidURL, match="separator"):
        session.get(f"{tmp_path.as_uri()}/dir%2Finner.txt")


def test_roots_match_on_the_decoded_path(tmp_path: Path) -> None:
    root = tmp_path / "my data é"
    root.mkdir()
    (root / "a b.txt").write_bytes(b"inside")
    session = _file_session(root.as_uri() + "/")

    decoded = f"{tmp_path}/my data é"
    for url in (
        (root / "a b.txt").as_uri(),
        f"file://{decoded}/a b.txt",
        f"file://localhost{decoded}/a%20b.txt",
        f"file:///{decoded}//a%20b.txt",  # repeated slashes name the same file
    ):
        assert session.get(url).content == b"inside", url
    assert session.get(f"file://{decoded}/").json()["entries"][0]["name"] == "a b.txt"


def test_a_root_spelled_with_localhost_or_raw_serves_as_uri_urls(tmp_path: Path) -> None:
    root = tmp_path / "sp ace"
    root.mkdir()
    (root / "f.txt").write_bytes(b"f")

    assert _file_session(f"file://localhost{root}/").get((root / "f.txt").as_uri()).text == "f"
    assert _file_session(f"file://{root}").get((root / "f.txt").as_uri()).text == "f"


def test_the_most_specific_root_wins_however_spelled(tmp_path: Path) -> None:
    registry = SchemeRegistry()
    outer = f"file://localhost{tmp_path}/"  # the longer string, but the shorter path
    inner = f"file://{tmp_path}/in/"
    registry.register(outer, protocol="file")
    registry.register(inner, protocol="file")

    assert registry.route_for(f"file://{tmp_path}/in/x.txt").prefix == inner
    assert registry.route_for(f"{tmp_path.as_uri()}/in/x.txt").prefix == inner
    assert registry.route_for(f"file://{tmp_path}/out/x.txt").prefix == outer


def test_a_url_outside_every_root_names_the_roots(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "database").mkdir()
    (tmp_path / "database" / "x.txt").write_bytes(b"sibling")
    (tmp_path / "logs").mkdir()
    with_slash = _file_session(f"file://{tmp_path}/data/", f"file://{tmp_path}/logs/")
    without_slash = _file_session(f"file://{tmp_path}/data")

    messages = []
    for session in (with_slash, without_slash):
        with pytest.raises(requests.exceptions.InvalidSchema) as err:
            session.get(f"file://{tmp_path}/database/x.txt")
        messages.append(str(err.value))
    for message in messages:
        assert "outside every prefix" in message
        assert f"file://{tmp_path}/data" in message
        assert "register(" not in message  # never advise serving the whole filesystem
    assert f"file://{tmp_path}/logs/" in messages[0]


def test_object_store_keys_stay_literal() -> None:
    registry = SchemeRegistry()
    registry.register("memory")
    session = objstore_adapter.session(registry)
    session.put("memory://literal-keys/a%20b%2e%2e", data=b"encoded")

    assert session.get("memory://literal-keys/a%20b%2e%2e").content == b"encoded"
    assert session.get("memory://literal-keys/a b..").status_code == 404


def test_listing_urls_lead_back_to_every_file(tmp_path: Path) -> None:
    for name in FUNNY_NAMES:
        (tmp_path / name).write_bytes(name.encode("utf-8", "surrogateescape"))
    session = _file_session("file")

    listing = session.get(tmp_path.as_uri() + "/").json()

    assert sorted(entry["name"] for entry in listing["entries"]) == sorted(FUNNY_NAMES)
    for entry in listing["entries"]:
        assert session.get(entry["url"]).content == entry["name"].encode("utf-8", "surrogateescape")


@pytest.fixture
def linked_root(tmp_path: Path) -> Path:
    """A root holding a link that stays inside it and links that lead out of it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "inside.txt").write_bytes(b"inside")
    (outside / "secret.txt").write_bytes(b"outside")
    (root / "local-link.txt").symlink_to(root / "inside.txt")
    (root / "file-link.txt").symlink_to(outside / "secret.txt")
    (root / "dir-link").symlink_to(outside)
    (root / "dangling-link.txt").symlink_to(outside / "new.txt")
    return root


def _outside(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (root.parent / "outside").iterdir()}


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("GET", "file-link.txt"),
        ("HEAD", "file-link.txt"),
        ("GET", "dir-link/secret.txt"),
        ("GET", "dir-link/"),
        ("PUT", "dir-link/new.txt"),
        ("PUT", "dir-link/secret.txt"),
        ("PUT", "dangling-link.txt"),
        ("DELETE", "dir-link/secret.txt"),
        ("DELETE", "file-link.txt"),
    ],
)
def test_a_link_out_of_a_file_root_is_refused_before_any_read_or_write(
    linked_root: Path, method: str, name: str
) -> None:
    session = _file_session(linked_root.as_uri() + "/")

    response = session.request(method, f"{linked_root.as_uri()}/{name}", data=b"written")

    assert response.status_code == 403
    assert b"outside" not in response.content
    assert _outside(linked_root) == {"secret.txt": b"outside"}
    assert (linked_root / "file-link.txt").is_symlink()


def test_links_inside_a_file_root_and_a_root_reached_through_a_link_are_served(
    linked_root: Path,
) -> None:
    alias = linked_root.parent / "alias"
    alias.symlink_to(linked_root)

    for root in (linked_root, alias):
        session = _file_session(root.as_uri() + "/")
        assert session.get(f"{root.as_uri()}/local-link.txt").content == b"inside"
        assert session.put(f"{root.as_uri()}/new/dirs/file.txt", data=b"new").ok
        listing = session.get(f"{root.as_uri()}/").json()["entries"]
        assert "file-link.txt" in {entry["name"] for entry in listing}  # named, never followed
        assert session.get(f"{root.as_uri()}/file-link.txt").status_code == 403
    assert (linked_root / "new" / "dirs" / "file.txt").read_bytes() == b"new"


def test_only_a_root_is_a_boundary_and_a_route_may_follow_links_out_of_it(
    linked_root: Path,
) -> None:
    registry = SchemeRegistry()
    registry.register(linked_root.as_uri() + "/", follow_symlinks=True)
    following = objstore_adapter.session(registry)
    bare = _file_session("file")
    confined = _file_session(linked_root.as_uri() + "/")
    url = f"{linked_root.as_uri()}/dir-link/secret.txt"

    assert following.get(url).content == b"outside"
    assert bare.get(url).content == b"outside"
    assert confined.get(url).status_code == 403
    assert following.put(f"{linked_root.as_uri()}/dir-link/followed.txt", data=b"out").ok
    assert _outside(linked_root) == {"secret.txt": b"outside", "followed.txt": b"out"}


@pytest.fixture
def fresh_paths() -> None:
    """local_path remembers URLs it parsed: clear it, so each URL here is parsed anew."""
    local_path.cache_clear()


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/srv/data", "/srv/data", True),
        ("/srv/data/", "/srv/data", True),
        ("/srv/data/x", "/srv/data", True),
        ("/srv/database", "/srv/data", False),
        ("/srv", "/srv/data", False),
        ("/srv/data/x", "/srv/data/", True),
        ("/srv/data/", "/srv/data/", True),
        ("/srv/data", "/srv/data/", False),
        ("/srv/database", "/srv/data/", False),
    ],
)
def test_within(path: str, root: str, inside: bool) -> None:
    assert within(path, root) is inside


@pytest.mark.usefixtures("fresh_paths")
@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file:///srv/a%20b/c.csv", "/srv/a b/c.csv"),
        ("file:///srv/%41%42", "/srv/AB"),
        ("file:///srv/caf%C3%A9", "/srv/caf\u00e9"),
        ("file:///srv/raw%FFname", "/srv/raw\udcffname"),  # not UTF-8: round-trips as bytes
        ("file:///srv/100%", "/srv/100%"),
        ("file:///srv/x.", "/srv/x."),
        ("file:///srv/...", "/srv/..."),
    ],
)
def test_file_url_segments_decode(url: str, path: str) -> None:
    assert local_path(url) == path


@pytest.mark.usefixtures("fresh_paths")
@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("%2e", "'.' and '..' path segments are refused, percent-encoded ones too"),
        ("%2E%2e", "'.' and '..' path segments are refused, percent-encoded ones too"),
        ("..", "'.' and '..' path segments are refused, percent-encoded ones too"),
        (
            "a%2Fb",
            "the segment 'a%2Fb' decodes to a separator or NUL byte, which no file name holds",
        ),
        (
            "a%00b",
            "the segment 'a%00b' decodes to a separator or NUL byte, which no file name holds",
        ),
    ],
)
def test_file_url_segments_that_are_refused(segment: str, message: str) -> None:
    url = f"file:///srv/{segment}/x"

    with pytest.raises(requests.exceptions.InvalidURL) as caught:
        local_path(url)

    assert str(caught.value) == f"{url!r}: {message}"
