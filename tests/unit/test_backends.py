"""The backend contract's implementation over any fsspec filesystem, driven directly on fsspec's
own filesystems (memory, local, zip, and the async wrapper over them): metadata, reads, listings,
deletes and writes, with conditions judged against the object there now."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.asyn import AsyncFileSystem
from fsspec.exceptions import FSTimeoutError
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.implementations.zip import ZipFileSystem
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

import objstore_adapter
from objstore_adapter import SchemeRegistry
from objstore_adapter._backends import (
    READ_BLOCK,
    WRITE_BLOCK,
    Backend,
    _abandon,
    _Verified,
    bucket_key,
    condition_holds,
    written,
)
from objstore_adapter._errors import StoreStatusError
from objstore_adapter._http import ByteRange, Timeouts, WriteCondition
from objstore_adapter._info import ObjectInfo, Representation, from_fsspec
from objstore_adapter._transfer import Attempts, TransferConfig, VersionChanged
from objstore_adapter._transfer.upload import FileSlice

TIMEOUTS = Timeouts(request=10, read=10, connect=10)
STORED = Representation("application/octet-stream")
CREATE = WriteCondition(create=True)
MiB = 2**20


def attempts(**settings: Any) -> Attempts:
    return Attempts(TransferConfig(backoff_base=0, **settings))


def assert_412(error: pytest.ExceptionInfo[OSError]) -> None:
    cause = error.value.__cause__
    assert isinstance(cause, StoreStatusError)
    assert cause.status == 412


def read_all(body: Any) -> bytes:
    data = b""
    while chunk := body.read(64 * 1024):
        data += chunk
    body.close()
    return data


def new_memory() -> MemoryFileSystem:
    return MemoryFileSystem(global_store=False, skip_instance_cache=True)


class Gated(MemoryFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """A memory filesystem whose calls named in ``held`` wait until ``released``: a store
    slow to answer, for the timeouts the backend passes on. It can also lose the answers
    to its next ``losses`` writes (the connection reset), having stored the body or not."""

    cachable = False  # a new store each time

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(global_store=False, **kwargs)
        self.held: set[str] = set()
        self.released = threading.Event()
        self.losses = 0
        self.store_first = True
        self.sends = 0
        self.prefixes: list[str] = []

    def _gate(self, name: str) -> None:
        if name in self.held:
            self.released.wait(2)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        self._gate("info")
        return super().info(path, **kwargs)  # type: ignore[no-any-return]

    def ls(self, path: str, detail: bool = False, **kwargs: Any) -> Any:
        self._gate("ls")  # names only unless asked for more, as s3fs' and gcsfs' _ls
        return super().ls(path, detail=detail, **kwargs)

    def rm_file(self, path: str) -> None:
        self._gate("rm_file")
        super().rm_file(path)

    def find(self, path: str, maxdepth: Any = None, withdirs: bool = False, **kwargs: Any) -> Any:
        self._gate("find")
        return super().find(path, maxdepth=maxdepth, withdirs=withdirs, **kwargs)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        self.sends += 1
        if self.store_first or not self.losses:
            super().pipe_file(path, value, mode=mode, **kwargs)
        if self.losses:
            self.losses -= 1
            raise ConnectionResetError("the answer was lost")


class StemFiltered(Gated):
    """A memory filesystem with s3fs' ``find(path, prefix=...)``: only the keys that start
    with ``path + "/" + prefix``. Its ``ls`` folds ``a//b`` into a directory named like
    ``a`` itself, as s3fs' and gcsfs' do."""

    def find(
        self,
        path: str,
        maxdepth: Any = None,
        withdirs: bool = False,
        detail: bool = False,
        prefix: str = "",
        **kwargs: Any,
    ) -> Any:
        self._gate("find")
        self.prefixes.append(prefix)
        stem = self._strip_protocol(path).rstrip("/") + "/" + prefix
        found = {
            name: MemoryFileSystem.info(self, name) for name in self.store if name.startswith(stem)
        }
        return found if detail else sorted(found)


@pytest.fixture
def memory() -> MemoryFileSystem:
    return new_memory()


@pytest.fixture
def gated() -> Iterator[Gated]:
    fs = Gated()
    yield fs
    fs.released.set()


def wrapped(fs: AbstractFileSystem) -> AsyncFileSystem:
    """``fs`` behind fsspec's async interface, as s3fs, gcsfs and adlfs are."""
    return AsyncFileSystemWrapper(fs, asynchronous=False)


# The contract's defaults: what a store without its own backend gets.


def test_defaults_of_a_store_without_its_own_backend(memory: MemoryFileSystem) -> None:
    backend = Backend()
    options = {"anon": True}
    memory.pipe_file("/r/a", b"abc")
    info = backend.stat(memory, "/r/a", TIMEOUTS)

    given = backend.storage_options(options)
    given["added"] = 1

    assert backend.bound(TransferConfig(native_gets=False)) is backend
    assert options == {"anon": True}  # the route's own options are left as they were
    assert given == {"anon": True, "added": 1}
    backend.configure(memory)  # nothing to tell a filesystem after it is built
    assert backend.open_direct(memory, "/r/a", TIMEOUTS, (0, None), {}) is None
    assert backend.can_resume(memory, info) is False
    assert backend.write_options(STORED) == {}
    assert backend.part_store(memory, "/r/a", STORED, TIMEOUTS, None) is None
    assert Backend.drops_unknown_options is False
    with pytest.raises(NotImplementedError):
        backend.open_part(memory, "/r/a", TIMEOUTS, 0, 1, info)


# stat


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_stat_of_an_object_a_folder_and_nothing(
    memory: MemoryFileSystem, asynchronous: bool
) -> None:
    memory.pipe_file("/r/sub/a.txt", b"hello")
    fs = wrapped(memory) if asynchronous else memory

    info = Backend().stat(fs, "/r/sub/a.txt", TIMEOUTS)

    assert info == from_fsspec(memory.info("/r/sub/a.txt"))
    assert info.size == 5
    assert not info.is_dir
    assert Backend().stat(fs, "/r/sub", TIMEOUTS).is_dir
    with pytest.raises(FileNotFoundError):
        Backend().stat(fs, "/r/missing", TIMEOUTS)


class _Sizeless(MemoryFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """A store that reports no sizes (as fsspec's HTTP filesystem for a chunked answer)."""

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return {**super().info(path, **kwargs), "size": None}


def test_stat_of_a_file_without_a_size_is_refused_a_folder_is_a_folder() -> None:
    sizeless = _Sizeless(global_store=False, skip_instance_cache=True)
    sizeless.pipe_file("/r/sub/a.txt", b"hello")

    with pytest.raises(OSError, match=r"reported no size") as raised:
        Backend().stat(sizeless, "/r/sub/a.txt", TIMEOUTS)
    assert type(raised.value) is OSError  # a 502: the store's answer cannot be served
    assert str(raised.value) == "the store reported no size for /r/sub/a.txt"

    assert Backend().stat(sizeless, "/r/sub", TIMEOUTS).is_dir


def test_stat_of_a_slow_async_store_gives_up_after_the_request_timeout(gated: Gated) -> None:
    gated.pipe_file("/r/a", b"x")
    gated.held = {"info", "ls", "rm_file", "find"}

    with pytest.raises(FSTimeoutError):
        Backend().stat(wrapped(gated), "/r/a", Timeouts(request=0.05))


# open


def test_open_reads_the_whole_object_or_a_range(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/a.bin", b"0123456789")
    fs = ZipFileSystem(str(archive))

    info, whole = Backend().open(fs, "inner/a.bin", TIMEOUTS)
    ranged_info, ranged = Backend().open(fs, "inner/a.bin", TIMEOUTS, ByteRange(3, 5))

    assert read_all(whole) == b"0123456789"
    assert ranged.read(3) == b"345"
    ranged.close()
    assert info.size == ranged_info.size == 10
    with pytest.raises(IsADirectoryError, match=r"^inner$"):
        Backend().open(fs, "inner", TIMEOUTS)
    with pytest.raises(FileNotFoundError):
        Backend().open(fs, "inner/missing", TIMEOUTS)


class Fetches(MemoryFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """A memory filesystem that records the byte ranges read from it."""

    cachable = False

    def __init__(self) -> None:
        super().__init__(global_store=False)
        self.fetches: list[tuple[int | None, int | None]] = []

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kw: Any
    ) -> Any:
        self.fetches.append((start, end))
        return super().cat_file(path, start, end, **kw)


def test_open_fetches_a_range_in_blocks_no_larger_than_it() -> None:
    memory = Fetches()
    memory.pipe_file("/r/a.bin", bytes(range(256)) * 4)
    fs = wrapped(memory)  # read in blocks, one ranged request each, as remote stores are

    _, body = Backend().open(fs, "/r/a.bin", TIMEOUTS, ByteRange(10, 19))
    assert isinstance(body, _Verified)

    assert body.read(10) == bytes(range(10, 20))
    assert memory.fetches == [(10, 30)]  # the range and one block read ahead, no more
    assert isinstance(body.file, AbstractBufferedFile)
    assert body.file.blocksize == 10
    body.close()
    _, whole = Backend().open(fs, "/r/a.bin", TIMEOUTS)
    assert isinstance(whole, _Verified)
    assert isinstance(whole.file, AbstractBufferedFile)
    assert whole.file.blocksize == READ_BLOCK
    assert read_all(whole) == bytes(range(256)) * 4


def test_open_of_a_slow_async_store_gives_up_after_the_request_timeout(gated: Gated) -> None:
    gated.pipe_file("/r/a", b"x")
    gated.held = {"info"}

    with pytest.raises(FSTimeoutError):
        Backend().open(wrapped(gated), "/r/a", Timeouts(request=0.05))


# list


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_list_names_what_lies_directly_under_the_prefix(gated: Gated, asynchronous: bool) -> None:
    gated.pipe_file("/r/a/one.txt", b"1")
    gated.pipe_file("/r/a/deep/two.txt", b"22")
    gated.pipe_file("/r/ab/not-under.txt", b"x")
    fs = wrapped(gated) if asynchronous else gated

    entries = Backend().list(fs, "/r/a", TIMEOUTS)

    assert [(e["name"], e["type"]) for e in entries] == [
        ("deep/", "directory"),
        ("one.txt", "file"),
    ]
    assert entries[1]["size"] == 1
    assert entries[1]["etag"] == Backend().stat(gated, "/r/a/one.txt", TIMEOUTS).etag
    assert Backend().list(fs, "/r/none", TIMEOUTS) == []


def test_list_of_a_file_is_empty(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")

    assert Backend().list(LocalFileSystem(), str(tmp_path / "a.txt" / "x"), TIMEOUTS) == []


class Cached(MemoryFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """A memory filesystem that keeps its listings and answers ``info`` from them, as s3fs,
    gcsfs and adlfs do, until told that a path (and so its folders) changed."""

    cachable = False  # a new store each time

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if path not in self.dircache:
            self.dircache[path] = super().ls(path, detail=True)
        return self.dircache[path]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        listed = self.dircache.get(self._parent(path))
        if listed is None:
            return super().info(path)  # type: ignore[no-any-return]
        for entry in listed:
            if entry["name"] == path:
                return entry  # type: ignore[no-any-return]
        raise FileNotFoundError(path)

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        while path not in ("", "/"):
            self.dircache.pop(path, None)
            path = self._parent(path)


def test_list_sees_writes_made_since_the_last_listing() -> None:
    fs = Cached(global_store=False)
    fs.pipe_file("/r/a/one.txt", b"1")
    assert [e["name"] for e in Backend().list(fs, "/r/a", TIMEOUTS)] == ["one.txt"]

    fs.pipe_file("/r/a/two.txt", b"2")  # by anyone, behind the filesystem's cache

    assert [e["name"] for e in Backend().list(fs, "/r/a", TIMEOUTS)] == ["one.txt", "two.txt"]


def test_list_of_a_slow_async_store_gives_up_after_the_request_timeout(gated: Gated) -> None:
    gated.pipe_file("/r/a/one.txt", b"1")
    gated.held = {"info", "ls", "rm_file", "find"}

    with pytest.raises(FSTimeoutError):
        Backend().list(wrapped(gated), "/r/a", Timeouts(request=0.05))


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_list_finds_keys_under_an_empty_segment(asynchronous: bool) -> None:
    fs = StemFiltered()
    fs.pipe_file("/r/a/one.txt", b"1")
    fs.pipe_file("/r/a//two.txt", b"22")
    fs.pipe_file("/r/a//deep/three.txt", b"333")
    fs.pipe_file("/r/ab/x.txt", b"x")

    entries = Backend().list(wrapped(fs) if asynchronous else fs, "/r/a", TIMEOUTS)

    assert [(e["name"], e["type"]) for e in entries] == [
        ("/deep/", "directory"),
        ("/two.txt", "file"),
        ("one.txt", "file"),
    ]
    assert entries[1]["size"] == 2
    assert fs.prefixes == ["/"]  # only the keys under the empty segment, not the whole tree


def test_list_without_a_stem_filter_lists_what_ls_gives(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/a/one.txt", b"1")
    memory.pipe_file("/r/a//two.txt", b"22")  # folded by ls, and no find(prefix=) to ask

    entries = Backend().list(memory, "/r/a", TIMEOUTS)

    assert [(e["name"], e["type"]) for e in entries] == [("one.txt", "file")]


def test_keys_under_an_empty_segment_of_a_slow_async_store_time_out() -> None:
    fs = StemFiltered()
    fs.pipe_file("/r/a//two.txt", b"22")
    calls = 0
    ls = fs.ls

    def ls_then_hold(path: str, detail: bool = True, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        found = ls(path, detail=detail, **kwargs)
        fs.held.add("find")  # the listing answers; the find after it is slow
        return found

    fs.ls = ls_then_hold  # type: ignore[method-assign]
    try:
        with pytest.raises(FSTimeoutError):
            Backend().list(wrapped(fs), "/r/a", Timeouts(request=0.05))
    finally:
        fs.released.set()
    assert calls == 1


# delete


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_delete_removes_the_object(memory: MemoryFileSystem, asynchronous: bool) -> None:
    memory.pipe_file("/r/a", b"x")
    memory.pipe_file("/r/b", b"y")
    fs = wrapped(memory) if asynchronous else memory

    Backend().delete(fs, "/r/a", TIMEOUTS)
    with pytest.raises(FileNotFoundError):
        Backend().delete(fs, "/r/missing", TIMEOUTS)

    assert not memory.exists("/r/a")
    assert memory.cat_file("/r/b") == b"y"


def test_delete_of_a_slow_async_store_gives_up_after_the_request_timeout(gated: Gated) -> None:
    gated.pipe_file("/r/a", b"x")
    gated.held = {"info", "ls", "rm_file", "find"}

    with pytest.raises(FSTimeoutError):
        Backend().delete(wrapped(gated), "/r/a", Timeouts(request=0.05))


def test_a_version_is_judged_within_the_request_timeout(gated: Gated) -> None:
    gated.pipe_file("/r/a", b"x")
    etag = Backend().stat(gated, "/r/a", TIMEOUTS).etag
    gated.held = {"info"}  # asking for the version is slow; the rest is not
    fs, slow = wrapped(gated), Timeouts(request=0.05)
    backend = Backend()
    large = [bytes(MiB)] * 9

    with pytest.raises(FSTimeoutError):
        backend.delete(fs, "/r/a", slow, etag=etag)
    with pytest.raises(FSTimeoutError):
        backend.write_whole(fs, "/r/a", b"y", STORED, WriteCondition(etag=etag), slow)
    with pytest.raises(FSTimeoutError):
        backend.write(fs, "/r/a", [b"y"], STORED, slow, attempts(max_attempts=1), CREATE)
    with pytest.raises(FSTimeoutError):
        backend.write(fs, "/r/a", large, STORED, slow, attempts(max_attempts=1), CREATE)
    assert gated.cat_file("/r/a") == b"x"


def test_delete_of_a_version_removes_only_that_version(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/a", b"first")
    first = Backend().stat(memory, "/r/a", TIMEOUTS).etag
    assert first is not None
    memory.pipe_file("/r/a", b"second!")  # another version (another size: another ETag)

    with pytest.raises(OSError, match="answered 412") as error:
        Backend().delete(memory, "/r/a", TIMEOUTS, etag=first)
    assert_412(error)
    assert memory.cat_file("/r/a") == b"second!"

    current = Backend().stat(memory, "/r/a", TIMEOUTS).etag
    Backend().delete(memory, "/r/a", TIMEOUTS, etag=current)
    assert not memory.exists("/r/a")
    with pytest.raises(OSError, match="answered 412") as gone:
        Backend().delete(memory, "/r/a", TIMEOUTS, etag=current)
    assert_412(gone)


def test_delete_forgets_what_the_filesystem_cached() -> None:
    fs = Cached(global_store=False)
    fs.pipe_file("/r/a/one.txt", b"1")
    fs.pipe_file("/r/a/two.txt", b"2")
    assert len(fs.ls("/r/a")) == 2

    Backend().delete(fs, "/r/a/one.txt", TIMEOUTS)

    assert [entry["name"] for entry in fs.ls("/r/a")] == ["/r/a/two.txt"]


# conditions


def test_condition_holds() -> None:
    current = ObjectInfo(size=1, etag='"v1"')

    assert condition_holds(CREATE, None)
    assert not condition_holds(CREATE, current)
    assert condition_holds(WriteCondition(etag='"v1"'), current)
    assert not condition_holds(WriteCondition(etag='"v2"'), current)
    assert not condition_holds(WriteCondition(etag='"v1"'), None)


def test_a_condition_is_judged_against_what_is_there_now() -> None:
    fs = Cached(global_store=False)
    fs.pipe_file("/r/a/gone.txt", b"1")
    fs.pipe_file("/r/b/keep.txt", b"2")
    fs.ls("/r/a")  # listed: info() now answers from these listings
    fs.ls("/r/b")
    del fs.store["/r/a/gone.txt"]  # removed by someone else
    fs.pipe_file("/r/b/new.txt", b"theirs")  # and made by someone else

    Backend().write_whole(fs, "/r/a/gone.txt", b"mine", STORED, CREATE, TIMEOUTS)
    with pytest.raises(OSError, match="answered 412") as error:
        Backend().write_whole(fs, "/r/b/new.txt", b"mine", STORED, CREATE, TIMEOUTS)

    assert_412(error)
    assert fs.cat_file("/r/a/gone.txt") == b"mine"
    assert fs.cat_file("/r/b/new.txt") == b"theirs"


# writes


def test_write_whole_stores_the_body_if_the_condition_holds(memory: MemoryFileSystem) -> None:
    backend = Backend()

    assert backend.write_whole(memory, "/r/a", b"first", STORED, CREATE, TIMEOUTS) is None
    with pytest.raises(OSError, match="answered 412") as error:
        backend.write_whole(memory, "/r/a", b"second", STORED, CREATE, TIMEOUTS)
    assert_412(error)
    etag = backend.stat(memory, "/r/a", TIMEOUTS).etag
    backend.write_whole(memory, "/r/a", b"third!", STORED, WriteCondition(etag=etag), TIMEOUTS)
    backend.write_whole(memory, "/r/a", b"fourth!!", STORED, None, TIMEOUTS)

    assert memory.cat_file("/r/a") == b"fourth!!"


@pytest.mark.parametrize("size", [0, 1000, WRITE_BLOCK], ids=["empty", "small", "one-block"])
def test_a_body_of_one_block_is_one_request(memory: MemoryFileSystem, size: int) -> None:
    body = bytes(size)
    sent: list[bytes] = []

    class Counted(Backend):
        def write_whole(self, fs: Any, path: str, data: bytes, *args: Any) -> ObjectInfo | None:
            sent.append(data)
            return super().write_whole(fs, path, data, *args)

    chunks = [body[i : i + MiB] for i in range(0, size, MiB)]
    Counted().write(memory, "/r/a", chunks, STORED, TIMEOUTS, attempts())

    assert [len(data) for data in sent] == [size]
    assert memory.cat_file("/r/a") == body


def test_a_larger_body_is_streamed_and_committed_whole(memory: MemoryFileSystem) -> None:
    body = bytes(range(256)) * (WRITE_BLOCK // 256 + MiB // 256) + b"tail"  # 9 MiB and more
    sent: list[bytes] = []

    class Counted(Backend):
        def write_whole(self, fs: Any, path: str, data: bytes, *args: Any) -> ObjectInfo | None:
            sent.append(data)
            return super().write_whole(fs, path, data, *args)

    chunks = [body[i : i + MiB] for i in range(0, len(body), MiB)]
    result = Counted().write(memory, "/r/a", chunks, STORED, TIMEOUTS, attempts())

    assert result is None
    assert sent == []
    assert memory.cat_file("/r/a") == body


def _failing(size: int) -> Iterator[bytes]:
    yield bytes(size)
    raise OSError("the caller's body failed")


def test_a_larger_local_file_that_fails_part_way_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"  # where fsspec's local files are written before commit
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    target = tmp_path / "store" / "a.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    fs = LocalFileSystem()

    with pytest.raises(OSError, match="body failed"):
        Backend().write(fs, str(target), _failing(WRITE_BLOCK + 1), STORED, TIMEOUTS, attempts())

    assert target.read_bytes() == b"old"
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.bin"]


def test_a_larger_local_file_is_written_into_new_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = tmp_path / "x" / "y" / "a.bin"
    body = b"z" * (WRITE_BLOCK + 10)

    Backend().write(LocalFileSystem(), str(target), [body], STORED, TIMEOUTS, attempts())

    assert target.read_bytes() == body


class Recorded(LocalFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """Local files, with what every ``open`` was asked for."""

    cachable = False

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[tuple[str, Any, dict[str, Any]]] = []

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        self.opened.append((mode, block_size, kwargs))
        return super()._open(path, mode, block_size=block_size, **kwargs)


class ObjectStore(Backend):
    """The generic backend, for a store whose writes land whole at their path (an object
    store's PUT): nothing staged beside the object."""

    atomic_writes = True


class Typed(ObjectStore):
    """A backend that stores the type with the bytes, as GCS's does."""

    def write_options(self, stored: Representation) -> dict[str, Any]:
        return {"content_type": stored.content_type}


def test_writes_open_the_file_with_the_backends_options(tmp_path: Path) -> None:
    fs = Recorded()
    stored = Representation("text/csv")
    large = [bytes(MiB)] * 9

    Typed().write(fs, str(tmp_path / "small.csv"), [b"a,b"], stored, TIMEOUTS, attempts())
    Typed().write(fs, str(tmp_path / "large.csv"), large, stored, TIMEOUTS, attempts())

    options = {"cache_options": None, "content_type": "text/csv"}
    assert fs.opened == [
        ("wb", None, {"autocommit": True, **options}),
        ("wb", WRITE_BLOCK, {"autocommit": False, **options}),
    ]
    assert (tmp_path / "large.csv").read_bytes() == bytes(9 * MiB)


def test_a_small_local_file_is_written_into_new_folders(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "a.bin"

    Backend().write(LocalFileSystem(), str(target), [b"small"], STORED, TIMEOUTS, attempts())

    assert target.read_bytes() == b"small"


def test_a_larger_body_is_committed_only_if_the_condition_holds(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/a", b"old")
    body = [bytes(WRITE_BLOCK), b"tail"]

    with pytest.raises(OSError, match="answered 412") as error:
        Backend().write(memory, "/r/a", body, STORED, TIMEOUTS, attempts(), CREATE)
    assert_412(error)
    assert memory.cat_file("/r/a") == b"old"

    etag = Backend().stat(memory, "/r/a", TIMEOUTS).etag
    Backend().write(memory, "/r/a", body, STORED, TIMEOUTS, attempts(), WriteCondition(etag=etag))
    assert memory.cat_file("/r/a") == b"".join(body)


class PartsInMemory:
    """A part store that keeps its parts in a dict and makes the object on commit."""

    takes_buffers = False

    def __init__(self, fs: MemoryFileSystem, path: str) -> None:
        self.fs, self.path = fs, path
        self.parts: dict[int, bytes] = {}
        self.kinds: set[str] = set()  # what the parts came as

    def begin(self) -> None:
        pass

    def send(self, number: int, data: Any) -> str:
        self.kinds.add(type(data).__name__)
        self.parts[number] = b"".join(data) if isinstance(data, FileSlice) else bytes(data)
        return str(number)

    def commit(self, tokens: list[str]) -> ObjectInfo | None:
        body = b"".join(self.parts[int(token)] for token in tokens)
        self.fs.pipe_file(self.path, body)
        return written(len(body), hashlib.md5(body, usedforsecurity=False).hexdigest())

    def committed(self, tokens: list[str]) -> ObjectInfo | None:
        return None

    def abort(self) -> None:
        self.parts.clear()


class WithParts(ObjectStore):
    """A backend with parallel parts, as S3's and Azure's are."""

    def __init__(self) -> None:
        self.stores: list[PartsInMemory] = []
        self.asked: list[tuple[Any, ...]] = []
        self.whole: list[int] = []

    def part_store(self, fs: Any, path: str, *args: Any) -> PartsInMemory:
        self.asked.append((fs, path, *args))
        self.stores.append(PartsInMemory(fs, path))
        return self.stores[-1]

    def write_whole(self, fs: Any, path: str, data: bytes, *args: Any) -> ObjectInfo | None:
        self.whole.append(len(data))
        return super().write_whole(fs, path, data, *args)


PART = 5 * MiB
IN_PARTS = TransferConfig(backoff_base=0, part_size=PART)


@pytest.mark.parametrize("parts", [2, 3])
def test_a_body_larger_than_a_part_goes_in_parts(memory: MemoryFileSystem, parts: int) -> None:
    size = (parts - 1) * PART + MiB  # the last part 1 MiB; 6 MiB in all is less than a block
    body = bytes(range(256)) * (size // 256) + b"tail"
    chunks = [body[i : i + MiB] for i in range(0, len(body), MiB)]
    backend = WithParts()
    condition = WriteCondition(etag='"v1"')

    info = backend.write(memory, "/r/a", chunks, STORED, TIMEOUTS, Attempts(IN_PARTS), condition)

    assert memory.cat_file("/r/a") == body
    assert backend.asked == [(memory, "/r/a", STORED, TIMEOUTS, condition)]
    assert sorted(backend.stores[-1].parts) == list(range(1, parts + 1))
    assert len(backend.stores[-1].parts[1]) == PART
    assert backend.whole == []
    assert info is not None
    assert info.size == len(body)


def test_a_body_of_one_part_is_one_request_even_where_parts_exist(
    memory: MemoryFileSystem,
) -> None:
    body = bytes(PART)
    backend = WithParts()

    backend.write(memory, "/r/a", [body[:MiB], body[MiB:]], STORED, TIMEOUTS, Attempts(IN_PARTS))

    assert backend.whole == [PART]
    assert backend.stores[-1].parts == {}
    assert memory.cat_file("/r/a") == body


def test_a_large_file_goes_in_parts_read_as_they_are_sent(
    memory: MemoryFileSystem, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = bytes(range(256)) * (PART // 256) + b"tail"
    source.write_bytes(data)
    backend = WithParts()

    with source.open("rb") as file:
        info = backend.write(
            memory,
            "/r/a",
            FileSlice(file.fileno(), 0, len(data)),
            STORED,
            TIMEOUTS,
            Attempts(IN_PARTS),
        )

    assert memory.cat_file("/r/a") == data
    assert sorted(backend.stores[-1].parts) == [1, 2]
    assert backend.stores[-1].kinds == {"FileSlice"}  # read from the file as they are sent
    assert info is not None
    assert info.size == len(data)


def test_a_file_of_one_part_is_one_request(memory: MemoryFileSystem, tmp_path: Path) -> None:
    source = tmp_path / "part.bin"
    source.write_bytes(bytes(PART))
    backend = WithParts()

    with source.open("rb") as file:
        backend.write(
            memory, "/r/a", FileSlice(file.fileno(), 0, PART), STORED, TIMEOUTS, Attempts(IN_PARTS)
        )

    assert backend.whole == [PART]
    assert memory.cat_file("/r/a") == bytes(PART)


def test_a_file_larger_than_a_part_where_there_are_no_parts(
    memory: MemoryFileSystem, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = bytes(range(256)) * (7 * MiB // 256)  # over the default part size, in one block
    source.write_bytes(data)
    sent: list[int] = []

    class Counted(Backend):
        def write_whole(self, fs: Any, path: str, body: bytes, *args: Any) -> ObjectInfo | None:
            sent.append(len(body))
            return super().write_whole(fs, path, body, *args)

    with source.open("rb") as file:
        Counted().write(
            memory, "/r/a", FileSlice(file.fileno(), 0, len(data)), STORED, TIMEOUTS, attempts()
        )

    assert sent == [len(data)]
    assert memory.cat_file("/r/a") == data


def test_a_write_makes_no_folder_of_a_store_without_folders(memory: MemoryFileSystem) -> None:
    ObjectStore().write(memory, "/r/sub/a", [b"x"], STORED, TIMEOUTS, attempts())
    Backend().delete(memory, "/r/sub/a", TIMEOUTS)

    assert Backend().list(memory, "/r", TIMEOUTS) == []  # no folder left behind


class WithMD5(Gated):
    """A store whose ``info`` reports the MD5 of the bytes as the ETag, as S3's does."""

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        found = super().info(path, **kwargs)
        if found["type"] == "file":
            data = bytes(self.store[self._strip_protocol(path)].getbuffer())
            found["ETag"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return found


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_write_whose_answer_was_lost_is_not_sent_again_once_stored(asynchronous: bool) -> None:
    fs = WithMD5()
    fs.losses = 1
    store = wrapped(fs) if asynchronous else fs

    info = ObjectStore().write(store, "/r/a", [b"bo", b"dy"], STORED, TIMEOUTS, attempts())

    assert fs.sends == 1
    assert info is not None
    assert info.md5 == hashlib.md5(b"body", usedforsecurity=False).hexdigest()
    assert fs.cat_file("/r/a") == b"body"


def test_a_write_whose_answer_was_lost_is_sent_again_if_not_stored() -> None:
    fs = WithMD5()
    fs.losses, fs.store_first = 1, False

    info = ObjectStore().write(fs, "/r/a", [b"body"], STORED, TIMEOUTS, attempts())

    assert fs.sends == 2
    assert info is None  # the second answer arrived: it gave no validators
    assert fs.cat_file("/r/a") == b"body"


def test_a_write_lost_over_other_bytes_is_sent_again() -> None:
    fs = WithMD5()
    fs.pipe_file("/r/a", b"other bytes")
    fs.losses, fs.store_first = 1, False

    ObjectStore().write(fs, "/r/a", [b"body"], STORED, TIMEOUTS, attempts())

    assert fs.sends == 3
    assert fs.cat_file("/r/a") == b"body"


def test_a_lost_answer_is_asked_about_within_the_request_timeout() -> None:
    fs = WithMD5()
    fs.losses = 1
    pipe_file = fs.pipe_file

    def then_slow(path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        fs.held.add("info")  # the store took the body; asking it about that is slow
        pipe_file(path, value, mode=mode, **kwargs)

    fs.pipe_file = then_slow  # type: ignore[method-assign]
    try:
        with pytest.raises(ConnectionResetError):  # the lost answer's own failure
            ObjectStore().write(
                wrapped(fs),
                "/r/a",
                [b"body"],
                STORED,
                Timeouts(request=0.05),
                attempts(max_attempts=2),
            )
    finally:
        fs.released.set()


# helpers


def test_bucket_key_refuses_a_bucket_alone() -> None:
    class Split:
        @staticmethod
        def split_path(path: str) -> tuple[str, str, str | None]:
            bucket, _, key = path.partition("/")
            return bucket, key, "v1" if key.endswith("@v1") else None

    assert bucket_key(Split(), "b/k/x") == ("b", "k/x", None)
    assert bucket_key(Split(), "b/k@v1") == ("b", "k@v1", "v1")
    with pytest.raises(IsADirectoryError) as error:
        bucket_key(Split(), "b")
    assert str(error.value) == "b"


def test_written_gives_the_validators_of_an_answer() -> None:
    digest = hashlib.md5(b"x", usedforsecurity=False).hexdigest()

    info = written(1, digest, "2026-01-02T03:04:05Z")

    assert info.size == 1
    assert info.etag == f'"{digest}"'
    assert info.md5 == digest
    assert info.last_modified == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert written(2, None) == ObjectInfo(size=2)
    assert written(3, b"raw").etag is None


class Unfinished(AbstractBufferedFile):  # type: ignore[misc]  # fsspec ships no types
    """An upload in blocks that records what would have been committed."""

    def __init__(self, fs: Any, path: str) -> None:
        super().__init__(fs, path, mode="wb", block_size=5 * MiB)
        self.flushed: list[bool] = []
        self.discarded = False

    def _initiate_upload(self) -> None:
        pass

    def _upload_chunk(self, final: bool = False) -> bool:
        self.flushed.append(final)
        return True

    def discard(self) -> None:
        self.discarded = True
        raise OSError("the store failed to throw the parts away")


def test_abandon_discards_a_buffered_upload_without_committing_it(memory: MemoryFileSystem) -> None:
    file = Unfinished(memory, "/r/a")
    file.write(b"staged")

    _abandon(file)
    file.close()  # as __del__ would: nothing more is flushed

    assert memory.store == {}


def test_abandon_marks_a_buffered_upload_closed(memory: MemoryFileSystem) -> None:
    file = Unfinished(memory, "/r/a")
    file.write(b"staged")

    _abandon(file)
    file.close()

    assert file.discarded
    assert file.closed
    assert file.flushed == []


def test_abandon_closes_and_drops_a_local_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = tmp_path / "a.bin"
    file = LocalFileSystem().open(str(target), "wb", autocommit=False)
    file.write(b"staged")

    _abandon(file)

    assert file.closed
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_abandon_of_a_file_that_cannot_close_still_drops_it(memory: MemoryFileSystem) -> None:
    class Failing:
        def __init__(self) -> None:
            self.discarded = False

        def close(self) -> None:
            raise OSError("the disk is full")

        def discard(self) -> None:
            self.discarded = True
            raise OSError("already gone")

    file = Failing()

    _abandon(file)

    assert file.discarded


def test_a_wrapper_of_a_synchronous_filesystem_is_asked_synchronously() -> None:
    # fsspec's dir filesystem is async, with coroutine methods that call its target's: over
    # memory://, which has none, they fail; its plain methods work.
    root = f"/dir-{uuid.uuid4().hex[:8]}"
    registry = SchemeRegistry()
    registry.register("dirmem", protocol="dir", path=root, target_protocol="memory")
    session = objstore_adapter.session(registry)
    fsspec.filesystem("memory").pipe_file(f"{root}/b/a.txt", b"one")

    assert session.get("dirmem://b/a.txt").content == b"one"
    assert session.put("dirmem://b/a.txt", data=b"two").status_code == 200
    assert [entry["name"] for entry in session.get("dirmem://b/").json()["entries"]] == ["a.txt"]
    assert session.delete("dirmem://b/a.txt").status_code == 204
    assert session.head("dirmem://b/a.txt").status_code == 404


class Moves(Backend):
    """The generic backend, recording each move into place."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []

    def move_into_place(
        self, fs: AbstractFileSystem, staging: str, path: str, timeouts: Timeouts
    ) -> None:
        self.moves.append((staging, path))
        assert fs.exists(staging)
        super().move_into_place(fs, staging, path, timeouts)


@pytest.mark.parametrize("size", [5, WRITE_BLOCK + 5], ids=["one block", "streamed"])
def test_a_write_not_atomic_at_its_path_is_staged_beside_it_and_moved(
    memory: MemoryFileSystem, size: int
) -> None:
    memory.pipe_file("/r/d/a", b"old")
    backend = Moves()

    backend.write(memory, "/r/d/a", [b"n" * size], STORED, TIMEOUTS, attempts())

    [(staging, path)] = backend.moves
    assert path == "/r/d/a"
    assert staging.startswith("/r/d/.a.")
    assert staging.endswith(".partial")
    assert len(staging) == len("/r/d/.a.") + 16 + len(".partial")
    assert memory.cat_file("/r/d/a") == b"n" * size
    assert memory.ls("/r/d", detail=False) == ["/r/d/a"]


def _fails_after(chunks: list[bytes]) -> Iterator[bytes]:
    yield from chunks
    raise OSError("the caller's body failed")


@pytest.mark.parametrize("size", [5, WRITE_BLOCK + 5], ids=["one block", "streamed"])
def test_a_staged_write_that_fails_leaves_the_object_and_removes_the_staging(
    memory: MemoryFileSystem, size: int
) -> None:
    memory.pipe_file("/r/d/a", b"old")
    backend = Moves()

    with pytest.raises(OSError, match="caller's body failed"):
        backend.write(memory, "/r/d/a", _fails_after([b"n" * size]), STORED, TIMEOUTS, attempts())

    assert backend.moves == []
    assert memory.ls("/r/d", detail=False) == ["/r/d/a"]
    assert memory.cat_file("/r/d/a") == b"old"


def test_a_staged_write_is_judged_when_it_moves_into_place(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/d/a", b"old")
    backend = Moves()
    stale = WriteCondition(etag='"not-the-current-one"')

    with pytest.raises(OSError, match="/r/d/a") as error:
        backend.write(memory, "/r/d/a", [b"new"], STORED, TIMEOUTS, attempts(), stale)

    assert_412(error)
    assert backend.moves == []
    assert memory.ls("/r/d", detail=False) == ["/r/d/a"]
    assert memory.cat_file("/r/d/a") == b"old"
    backend.write(
        memory, "/r/d/b", [b"new"], STORED, TIMEOUTS, attempts(), WriteCondition(create=True)
    )
    assert memory.cat_file("/r/d/b") == b"new"


class ReplacedOnOpen(MemoryFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """A memory filesystem whose next ``replacements`` opens for reading find the object
    replaced since its metadata was read (another writer between the two requests)."""

    cachable = False

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[str, Any] = {}
        self.pseudo_dirs = [""]
        self.replacements = 0

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode == "rb" and self.replacements:
            self.replacements -= 1
            self.pipe_file(path, f"version {self.replacements} of it".encode())
        return super()._open(path, mode, **kwargs)


@pytest.mark.parametrize("replacements", [1, 3])
def test_a_body_opened_after_a_replacement_is_opened_again_not_served_torn(
    replacements: int,
) -> None:
    fs = ReplacedOnOpen()
    fs.pipe_file("/r/a", b"the first")
    fs.replacements = replacements

    info, body = Backend().open(fs, "/r/a", TIMEOUTS)

    assert body.read(100) == b"version 0 of it"
    assert info.size == len(b"version 0 of it")
    assert info == Backend().stat(fs, "/r/a", TIMEOUTS)


def test_a_body_replaced_faster_than_it_can_be_read_is_503() -> None:
    fs = ReplacedOnOpen()
    fs.pipe_file("/r/a", b"the first")
    fs.replacements = 10

    with pytest.raises(OSError, match="/r/a") as error:
        Backend().open(fs, "/r/a", TIMEOUTS)

    cause = error.value.__cause__
    assert isinstance(cause, StoreStatusError)
    assert cause.status == 503


class RemovedOnOpen(MemoryFileSystem):  # type: ignore[misc]  # fsspec ships no types
    """A memory filesystem whose object is removed right after it is opened for reading
    (another client's DELETE), and which keeps the files it opened."""

    cachable = False

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[str, Any] = {}
        self.pseudo_dirs = [""]
        self.opened: list[Any] = []

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        file = super()._open(path, mode, **kwargs)
        if mode != "rb":
            return file
        self.opened.append(io.BytesIO(file.getvalue()))  # a MemoryFile's close does nothing
        self.rm_file(path)
        return self.opened[-1]


@pytest.mark.parametrize("byte_range", [None, ByteRange(2, 5)], ids=["whole", "range"])
def test_a_body_whose_first_block_fails_is_closed_not_left_to_the_collector(
    byte_range: ByteRange | None,
) -> None:
    # sshfs's close, run by the garbage collector in an SFTP server's own event-loop thread,
    # deadlocked sixteen threads of mixed load.
    fs = RemovedOnOpen()
    fs.pipe_file("/r/a", b"the first version")

    with pytest.raises(FileNotFoundError):
        Backend().open(fs, "/r/a", TIMEOUTS, byte_range)

    assert [file.closed for file in fs.opened] == [True]


def test_a_body_replaced_after_its_first_block_raises_rather_than_splice(
    memory: MemoryFileSystem,
) -> None:
    memory.pipe_file("/r/a", b"o" * (READ_BLOCK + 10))

    info, body = Backend().open(memory, "/r/a", TIMEOUTS)
    first = b""
    while len(first) < READ_BLOCK:
        first += body.read(READ_BLOCK - len(first))
    assert first == b"o" * READ_BLOCK
    memory.pipe_file("/r/a", b"n" * (READ_BLOCK + 10))

    with pytest.raises(VersionChanged):
        body.read(READ_BLOCK)
    assert info.size == READ_BLOCK + 10


def test_a_staged_write_answers_the_validators_of_what_it_wrote_where_a_rename_keeps_them(
    memory: MemoryFileSystem,
) -> None:
    class Renames(Moves):
        renames_into_place = True

    copied = Moves().write(memory, "/r/d/a", [b"copied"], STORED, TIMEOUTS, attempts())
    renamed = Renames().write(memory, "/r/d/b", [b"renamed"], STORED, TIMEOUTS, attempts())

    assert copied is None  # fsspec's mv may copy: the caller reads the object back
    assert renamed is not None
    assert renamed.size == len(b"renamed")
    assert renamed.etag is not None


def test_a_body_on_its_way_is_no_object_in_a_listing(memory: MemoryFileSystem) -> None:
    memory.pipe_file("/r/d/a", b"a")
    memory.pipe_file("/r/d/.a.0123456789abcdef.partial", b"on its way")
    memory.pipe_file("/r/d/.a.partial", b"a key of its own")

    staged = [entry["name"] for entry in Backend().list(memory, "/r/d", TIMEOUTS)]
    whole = [entry["name"] for entry in ObjectStore().list(memory, "/r/d", TIMEOUTS)]

    assert staged == [".a.partial", "a"]
    assert whole == [".a.0123456789abcdef.partial", ".a.partial", "a"]
