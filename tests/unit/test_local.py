"""The memory:// and file:// backends, driven directly: one version per answer, writes that
publish whole or not at all, and conditions judged against the object there now."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from objstore_adapter._backends.local import (
    LOCAL_TEMP_PREFIX,
    LocalBackend,
    MemoryBackend,
    _make_directories,
)
from objstore_adapter._body import LoadedBody
from objstore_adapter._errors import StoreStatusError
from objstore_adapter._http import ByteRange, Timeouts, WriteCondition
from objstore_adapter._info import Representation, from_fsspec
from objstore_adapter._transfer import Attempts, TransferConfig

TIMEOUTS = Timeouts(request=10, read=10, connect=10)
STORED = Representation("application/octet-stream")
CREATE = WriteCondition(create=True)


def attempts() -> Attempts:
    return Attempts(TransferConfig(max_attempts=1))


def assert_412(error: pytest.ExceptionInfo[OSError]) -> None:
    cause = error.value.__cause__
    assert isinstance(cause, StoreStatusError)
    assert cause.status == 412


def read_all(body: Any) -> bytes:
    data = b""
    while chunk := body.read(7):
        data += chunk
    body.close()
    return data


# memory://


@pytest.fixture
def memory() -> MemoryFileSystem:
    return MemoryFileSystem(global_store=False, skip_instance_cache=True)


def test_memory_stat_describes_the_stored_file_object(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/a.txt", b"hello")
    stored = memory.store["/r/a.txt"]

    info = MemoryBackend().stat(memory, "/r/a.txt", TIMEOUTS)

    assert info == from_fsspec(memory.info("/r/a.txt"))
    assert info.size == 5
    assert info.last_modified == stored.created
    assert info.etag is not None
    assert info.etag.endswith('-5"')
    assert not info.is_dir


def test_memory_stat_of_a_key_that_is_also_a_folder_is_the_object(
    memory: MemoryFileSystem,
) -> None:
    memory.pipe_file("/r/a/b", b"under")
    memory.pipe_file("/r/a", b"both")  # as S3 keys a and a/b

    info = MemoryBackend().stat(memory, "/r/a", TIMEOUTS)
    opened, body = MemoryBackend().open(memory, "/r/a", TIMEOUTS)

    assert not info.is_dir
    assert info.size == 4
    assert opened == info
    assert read_all(body) == b"both"


def test_memory_stat_of_a_folder_and_of_nothing(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/sub/a.txt", b"x")
    memory.mkdir("/r/empty")

    assert MemoryBackend().stat(memory, "/r/sub", TIMEOUTS).is_dir
    assert MemoryBackend().stat(memory, "/r/empty", TIMEOUTS).is_dir
    with pytest.raises(FileNotFoundError):
        MemoryBackend().stat(memory, "/r/missing", TIMEOUTS)


class _VanishingStore(dict[str, Any]):
    """A store whose object is removed between the memory filesystem's two looks at it
    (``path in store``, then ``store[path]``), as a racing delete would."""

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)


def test_memory_stat_of_an_object_deleted_meanwhile_is_not_found(
    memory: MemoryFileSystem,
) -> None:
    memory.pipe_file("/r/a.txt", b"x")
    memory.store = _VanishingStore(memory.store)

    with pytest.raises(FileNotFoundError) as error:
        MemoryBackend().stat(memory, "/r/a.txt", TIMEOUTS)

    assert str(error.value) == "/r/a.txt"
    assert isinstance(error.value.__cause__, KeyError)


def test_memory_open_answers_from_one_file_object(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/a.bin", b"0123456789")
    before = MemoryBackend().stat(memory, "/r/a.bin", TIMEOUTS)

    info, body = MemoryBackend().open(memory, "/r/a.bin", TIMEOUTS)
    memory.pipe_file("/r/a.bin", b"replaced, longer")  # a write after the open

    assert isinstance(body, LoadedBody)
    assert read_all(body) == b"0123456789"
    assert info == before


def test_memory_open_of_a_range_is_its_bytes_with_the_whole_objects_info(
    memory: MemoryFileSystem,
) -> None:
    memory.pipe_file("/r/a.bin", b"0123456789")

    info, body = MemoryBackend().open(memory, "/r/a.bin", TIMEOUTS, ByteRange(2, 5))
    _, last = MemoryBackend().open(memory, "/r/a.bin", TIMEOUTS, ByteRange(9, 9))

    assert read_all(body) == b"2345"
    assert read_all(last) == b"9"
    assert info.size == 10
    assert info == MemoryBackend().stat(memory, "/r/a.bin", TIMEOUTS)


def test_memory_open_of_a_folder_or_of_nothing(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/sub/a.txt", b"x")

    with pytest.raises(IsADirectoryError) as folder:
        MemoryBackend().open(memory, "/r/sub", TIMEOUTS)
    with pytest.raises(FileNotFoundError) as missing:
        MemoryBackend().open(memory, "/r/missing", TIMEOUTS)

    assert str(folder.value) == "/r/sub"
    assert str(missing.value) == "/r/missing"
    assert not isinstance(missing.value, IsADirectoryError)


def test_memory_list_names_what_lies_directly_under_the_prefix(
    memory: MemoryFileSystem,
) -> None:
    memory.pipe_file("/r/a/one.txt", b"1")
    memory.pipe_file("/r/a/two.bin", b"22")
    memory.pipe_file("/r/a/deep/three.txt", b"333")
    memory.mkdir("/r/a/empty")
    memory.pipe_file("/r/ab/not-under.txt", b"x")  # same stem, another folder
    stored = memory.store["/r/a/two.bin"]

    for prefix in ("/r/a", "/r/a/"):
        entries = MemoryBackend().list(memory, prefix, TIMEOUTS)

        assert [(e["name"], e["type"]) for e in entries] == [
            ("deep/", "directory"),
            ("empty/", "directory"),
            ("one.txt", "file"),
            ("two.bin", "file"),
        ]
        two = entries[3]
        assert two["size"] == 2
        assert two["last_modified"] == stored.created.isoformat().replace("+00:00", "Z")
        assert two["etag"] == MemoryBackend().stat(memory, "/r/a/two.bin", TIMEOUTS).etag


def test_memory_list_of_nothing_is_empty(memory: MemoryFileSystem) -> None:
    assert MemoryBackend().list(memory, "/r/none", TIMEOUTS) == []


def test_memory_list_keeps_the_prefix_as_written(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/boX/in.txt", b"1")
    memory.pipe_file("/r/bo/out.txt", b"2")

    entries = MemoryBackend().list(memory, "/r/boX", TIMEOUTS)

    assert [e["name"] for e in entries] == ["in.txt"]


def test_memory_write_publishes_the_whole_body_and_answers_its_validators(
    memory: MemoryFileSystem,
) -> None:
    chunks = iter([b"abc", b"", b"defg"])

    info = MemoryBackend().write(memory, "/r/new.bin", chunks, STORED, TIMEOUTS, attempts())

    assert memory.cat_file("/r/new.bin") == b"abcdefg"
    assert info == MemoryBackend().stat(memory, "/r/new.bin", TIMEOUTS)
    assert info is not None
    assert info.size == 7


def test_memory_write_whose_body_fails_keeps_the_old_object(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/a.bin", b"old")

    def failing() -> Iterator[bytes]:
        yield b"new"
        raise OSError("the caller's body failed")

    with pytest.raises(OSError, match="body failed"):
        MemoryBackend().write(memory, "/r/a.bin", failing(), STORED, TIMEOUTS, attempts())

    assert memory.cat_file("/r/a.bin") == b"old"


def test_memory_create_only_write(memory: MemoryFileSystem) -> None:
    backend = MemoryBackend()
    backend.write(memory, "/r/a.bin", [b"first"], STORED, TIMEOUTS, attempts(), CREATE)

    with pytest.raises(OSError, match="answered 412") as error:
        backend.write(memory, "/r/a.bin", [b"second"], STORED, TIMEOUTS, attempts(), CREATE)

    assert_412(error)
    assert memory.cat_file("/r/a.bin") == b"first"


def test_memory_write_if_match_replaces_only_that_version(memory: MemoryFileSystem) -> None:
    backend = MemoryBackend()
    first = backend.write(memory, "/r/a.bin", [b"first"], STORED, TIMEOUTS, attempts())
    assert first is not None
    assert first.etag is not None
    second = backend.write(
        memory,
        "/r/a.bin",
        [b"second!"],
        STORED,
        TIMEOUTS,
        attempts(),
        WriteCondition(etag=first.etag),
    )

    with pytest.raises(OSError, match="answered 412") as error:  # the first version is gone
        backend.write(
            memory,
            "/r/a.bin",
            [b"third"],
            STORED,
            TIMEOUTS,
            attempts(),
            WriteCondition(etag=first.etag),
        )

    assert_412(error)
    assert second is not None
    assert second.size == 7
    assert memory.cat_file("/r/a.bin") == b"second!"
    with pytest.raises(
        OSError, match="answered 412"
    ) as absent:  # nothing there: no version matches
        backend.write(
            memory,
            "/r/b.bin",
            [b"x"],
            STORED,
            TIMEOUTS,
            attempts(),
            WriteCondition(etag=first.etag),
        )
    assert_412(absent)
    assert not memory.exists("/r/b.bin")


# file://


@pytest.fixture
def local() -> LocalFileSystem:
    return LocalFileSystem()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(LOCAL_TEMP_PREFIX))


def test_local_open_answers_from_the_file_it_opened(local: LocalFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"0123456789")
    os.utime(target, (1_700_000_000, 1_700_000_000.5))

    info, body = LocalBackend().open(local, str(target), TIMEOUTS)
    os.replace(_new(tmp_path, b"replaced"), target)  # renamed over it after the open

    assert read_all(body) == b"0123456789"
    assert info.size == 10
    assert info.last_modified == dt.datetime.fromtimestamp(1_700_000_000.5, dt.timezone.utc)
    assert info.etag == f'"{1_700_000_000_500_000:x}-a"'
    assert not info.is_dir


def _new(folder: Path, data: bytes) -> Path:
    other = folder / "other"
    other.write_bytes(data)
    return other


def test_local_open_of_a_range_starts_at_its_first_byte(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"0123456789")

    info, body = LocalBackend().open(local, str(target), TIMEOUTS, ByteRange(3, 5))

    assert body.read(3) == b"345"
    body.close()
    assert info.size == 10


def test_local_open_of_a_folder_or_of_nothing(local: LocalFileSystem, tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        LocalBackend().open(local, str(tmp_path), TIMEOUTS)
    with pytest.raises(FileNotFoundError):
        LocalBackend().open(local, str(tmp_path / "missing"), TIMEOUTS)


def test_local_list_hides_unfinished_writes(local: LocalFileSystem, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / f"{LOCAL_TEMP_PREFIX}0123").write_bytes(b"half")
    (tmp_path / "sub").mkdir()
    (tmp_path / "x.objstore-tmp-1").write_bytes(b"its name only contains the prefix")

    entries = LocalBackend().list(local, str(tmp_path), TIMEOUTS)

    assert [(e["name"], e["type"]) for e in entries] == [
        ("a.txt", "file"),
        ("sub/", "directory"),
        ("x.objstore-tmp-1", "file"),
    ]
    assert entries[0]["size"] == 1


def test_local_write_renames_a_whole_file_into_place(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    target = tmp_path / "a.bin"

    info = LocalBackend().write(
        local, str(target), iter([b"abc", b"def"]), STORED, TIMEOUTS, attempts()
    )

    assert target.read_bytes() == b"abcdef"
    assert info == from_fsspec(local.info(str(target)))
    assert info is not None
    assert info.size == 6
    assert leftovers(tmp_path) == []


def test_local_write_fills_a_hidden_temporary_beside_the_file(
    local: LocalFileSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    target = tmp_path / "store" / "a.bin"
    seen: list[list[str]] = []

    def body() -> Iterator[bytes]:
        yield b"first half, "
        seen.append(sorted(os.listdir(tmp_path / "store")))
        seen.append([e["name"] for e in LocalBackend().list(local, str(target.parent), TIMEOUTS)])
        yield b"second half"

    LocalBackend().write(local, str(target), body(), STORED, TIMEOUTS, attempts())

    assert len(seen[0]) == 1
    assert seen[0][0].startswith(LOCAL_TEMP_PREFIX)
    assert seen[1] == []  # an unfinished write is no object
    assert target.read_bytes() == b"first half, second half"
    assert os.listdir(tmp_path / "store") == ["a.bin"]
    assert os.listdir(tmp_path / "elsewhere") == []


def test_local_write_under_a_dangling_link_is_not_found(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    target = tmp_path / "dangling" / "sub" / "a.bin"

    with pytest.raises(FileNotFoundError):
        LocalBackend().write(local, str(target), [b"x"], STORED, TIMEOUTS, attempts())

    assert not (tmp_path / "nowhere").exists()


def test_local_write_creates_missing_folders(local: LocalFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "z" / "a.bin"

    LocalBackend().write(local, str(target), [b"deep"], STORED, TIMEOUTS, attempts())

    assert target.read_bytes() == b"deep"


def test_local_write_into_the_working_folder(
    local: LocalFileSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    LocalBackend().write(local, "here.bin", [b"here"], STORED, TIMEOUTS, attempts())

    assert (tmp_path / "here.bin").read_bytes() == b"here"
    assert os.listdir(tmp_path) == ["here.bin"]  # no temporary, no folder made for it


def test_local_write_through_a_link_replaces_its_target(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "a.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)

    LocalBackend().write(local, str(link), [b"new"], STORED, TIMEOUTS, attempts())

    assert link.is_symlink()
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path / "real") == []
    assert leftovers(tmp_path) == []


def test_local_write_keeps_the_files_permissions(local: LocalFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    target.chmod(0o604)

    LocalBackend().write(local, str(target), [b"new"], STORED, TIMEOUTS, attempts())
    LocalBackend().write(local, str(tmp_path / "b.bin"), [b"new"], STORED, TIMEOUTS, attempts())

    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o666 & ~umask


def test_local_write_whose_body_fails_keeps_the_old_file(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")

    def failing() -> Iterator[bytes]:
        yield b"new"
        raise OSError("the caller's body failed")

    with pytest.raises(OSError, match="body failed"):
        LocalBackend().write(local, str(target), failing(), STORED, TIMEOUTS, attempts())

    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_local_create_only_write_links_or_refuses(local: LocalFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    backend = LocalBackend()
    made = backend.write(local, str(target), [b"first"], STORED, TIMEOUTS, attempts(), CREATE)

    with pytest.raises(OSError, match="answered 412") as error:
        backend.write(local, str(target), [b"second"], STORED, TIMEOUTS, attempts(), CREATE)

    assert_412(error)
    assert str(target) in str(error.value)
    assert target.read_bytes() == b"first"
    assert made == from_fsspec(local.info(str(target)))
    assert target.stat().st_nlink == 1  # the temporary's name is gone
    assert leftovers(tmp_path) == []


class Racing(LocalFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """Local files, where another process creates the file just after it is found absent."""

    cachable = False

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return super().info(path, **kwargs)  # type: ignore[no-any-return]
        finally:
            Path(path).write_bytes(b"theirs")


def test_local_create_only_write_is_exact_against_other_processes(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"

    with pytest.raises(OSError, match="answered 412") as error:
        LocalBackend().write(Racing(), str(target), [b"mine"], STORED, TIMEOUTS, attempts(), CREATE)

    assert_412(error)
    assert str(target) in str(error.value)
    assert target.read_bytes() == b"theirs"
    assert leftovers(tmp_path) == []


def test_local_write_if_match_replaces_only_that_version(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"first")
    os.utime(target, (1_700_000_000, 1_700_000_000))
    first = from_fsspec(local.info(str(target)))
    assert first.etag is not None
    backend = LocalBackend()

    backend.write(
        local,
        str(target),
        [b"second!"],
        STORED,
        TIMEOUTS,
        attempts(),
        WriteCondition(etag=first.etag),
    )
    with pytest.raises(OSError, match="answered 412") as error:
        backend.write(
            local,
            str(target),
            [b"third"],
            STORED,
            TIMEOUTS,
            attempts(),
            WriteCondition(etag=first.etag),
        )

    assert_412(error)
    assert target.read_bytes() == b"second!"
    assert leftovers(tmp_path) == []


def test_concurrent_create_only_writes_make_one_winner(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    target = tmp_path / "a.bin"
    results: list[str] = []
    start = threading.Barrier(8)

    def create(number: int) -> None:
        start.wait()
        try:
            LocalBackend().write(
                local, str(target), [b"%d" % number], STORED, TIMEOUTS, attempts(), CREATE
            )
        except OSError:
            results.append("refused")
        else:
            results.append(str(number))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [r for r in results if r != "refused"]
    assert len(winners) == 1
    assert target.read_bytes() == winners[0].encode()


def test_make_directories_goes_deeper_than_recursion_allows(tmp_path: Path) -> None:
    deep = os.path.join(str(tmp_path), *["d"] * 1200)

    try:
        _make_directories(deep)
        _make_directories(deep)  # all there already: nothing to do

        assert os.path.isdir(deep)
    finally:  # shutil.rmtree, which pytest cleans up with, recurses too
        folder = deep
        while folder != str(tmp_path):
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(folder)
            folder = os.path.dirname(folder)


def test_make_directories_of_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    _make_directories(os.path.join("p", "q"))

    assert (tmp_path / "p" / "q").is_dir()
