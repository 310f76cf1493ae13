"""Azure Blob Storage through adlfs and the Azure SDK: ranged GETs of one chunk, blocks staged
in parallel and committed with their content settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fsspec.asyn import sync
from fsspec.spec import AbstractFileSystem

from .. import _info
from .._body import ChunkSource, StoreGet
from .._errors import status_error
from .._http import ByteRange, Timeouts, WriteCondition
from .._info import ObjectInfo, Representation, quote_etag, to_datetime
from .._listing import listing_entries
from .._transfer import VersionChanged
from .._transfer.upload import FileSlice, Part, PartStore
from . import Backend, bucket_key, written
from ._aio import LoopBody, no_resend

#: Size of each ranged GET the Azure SDK makes while streaming a blob.
AZURE_CHUNK = 4 * 2**20


def _no_redirects(policies: Iterable[Any]) -> None:
    """Turn off azure-core's redirect policy among ``policies``, the pipeline's (shared by
    every container and blob client made from its service client): a store's 3xx is then
    raised as the ``HttpResponseError`` it is, a 502 naming the ``Location``."""
    from azure.core.pipeline.policies import AsyncRedirectPolicy, RedirectPolicy

    for policy in policies:
        if isinstance(policy, (AsyncRedirectPolicy, RedirectPolicy)):
            policy.allow = False


class AzureBackend(Backend):
    """adlfs: blob properties for metadata; the bytes in ranged GETs of :data:`AZURE_CHUNK`.

    The Azure SDK streams a blob as a series of ranged GETs anyway, and its default first
    request buffers 32 MiB; asking for the ranges here keeps memory at one chunk. The first
    range carries the blob's properties and the caller's preconditions, so a GET of a blob
    up to one chunk is one request; every later range is conditional on the first one's ETag,
    so a blob replaced mid-stream fails the read instead of splicing two versions.
    """

    atomic_writes = True  # a blob's staged blocks are committed in one request

    drops_unknown_options = True

    def list(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> list[dict[str, Any]]:
        # The blob service's own listing by delimiter: adlfs' ls drops keys under an empty
        # segment (a//b is not listed under a/), which the service reports as the prefix a//.
        container, _, prefix = path.strip("/").partition("/")
        if not container:
            return super().list(fs, path, timeouts)
        client = fs.service_client.get_container_client(container)
        prefix = prefix + "/" if prefix else ""
        try:
            found = sync(fs.loop, _azure_walk, client, container, prefix, timeout=timeouts.request)
            if any(item["name"] == f"{container}/{prefix}/" for item in found):
                # Keys under an empty segment (prefix//...): listed with their leading "/".
                found += sync(
                    fs.loop, _azure_walk, client, container, prefix + "/", timeout=timeouts.request
                )
        except FileNotFoundError:
            return []
        return listing_entries(path, found)

    def configure(self, fs: AbstractFileSystem) -> None:
        # The SDK's retry policy (3 retries, up to 81 s) is not an adlfs option.
        client = getattr(fs, "service_client", None)
        policy = getattr(client, "_config", None)
        if policy is not None and getattr(policy, "retry_policy", None) is not None:
            policy.retry_policy.total_retries = 0
        pipeline = getattr(client, "_pipeline", None)
        _no_redirects(getattr(pipeline, "_impl_policies", ()))
        transport = getattr(pipeline, "_transport", None)
        if transport is not None and hasattr(transport, "open"):
            sync(fs.loop, transport.open)  # every blob client of this filesystem shares it
            no_resend(getattr(transport, "session", None))

    def stat(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> ObjectInfo:
        return _azure_info(self._properties(fs, path, timeouts))

    def open(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        byte_range: ByteRange | None = None,
    ) -> tuple[ObjectInfo, ChunkSource]:
        span = (byte_range.start, byte_range.end) if byte_range else None
        answer = self.open_direct(fs, path, timeouts, span, {})
        if answer is None or answer.body is None:  # an empty blob has no range to ask for
            props = self._properties(fs, path, timeouts)
            return _azure_info(props), LoopBody(fs.loop, _no_bytes, _noop_close, None)
        return answer.info, answer.body

    def open_direct(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        span: tuple[int, int | None] | None,
        conditions: Mapping[str, str],
    ) -> StoreGet | None:
        from azure.core import MatchConditions

        options: dict[str, Any] = {}
        if "If-Match" in conditions and "If-None-Match" in conditions:
            return None  # the SDK takes one ETag condition
        if "If-Match" in conditions:
            options.update(
                etag=conditions["If-Match"], match_condition=MatchConditions.IfNotModified
            )
        if "If-None-Match" in conditions:
            options.update(
                etag=conditions["If-None-Match"], match_condition=MatchConditions.IfModified
            )
        for header, option in (
            ("If-Modified-Since", "if_modified_since"),
            ("If-Unmodified-Since", "if_unmodified_since"),
        ):
            if header in conditions:
                options[option] = _info.to_datetime(conditions[header])
        start, end = span if span is not None else (0, None)
        length = AZURE_CHUNK if end is None else min(AZURE_CHUNK, end - start + 1)
        blob = self._blob_client(fs, path)
        found = sync(
            fs.loop,
            _azure_first_range,
            blob,
            path,
            start,
            length,
            options,
            timeout=timeouts.request,
        )
        if isinstance(found, StoreGet):
            return found
        if found is None:
            return None
        props, first = found
        # A ranged download's properties give the range's size; Content-Range the blob's.
        size = _info.total_size(getattr(props, "content_range", None), props.size)
        info = dataclasses.replace(_azure_info(props), size=size)
        if start >= info.size:  # Azurite serves an empty range here; HTTP says 416
            return None
        stop = info.size if end is None else min(end + 1, info.size)
        chunks = _AzureChunks(blob, start + len(first), stop, props.etag, first)
        body = LoopBody(fs.loop, chunks.read, _noop_close, timeouts.read)
        served = ByteRange(start, stop - 1) if span is not None else None
        return StoreGet(206 if served else 200, info, body, served)

    def can_resume(self, fs: AbstractFileSystem, info: ObjectInfo) -> bool:
        return info.etag is not None

    def open_part(
        self,
        fs: AbstractFileSystem,
        path: str,
        timeouts: Timeouts,
        start: int,
        stop: int,
        info: ObjectInfo,
    ) -> ChunkSource:
        assert info.etag is not None  # can_resume said so
        chunks = _AzureChunks(self._blob_client(fs, path), start, stop, info.etag)
        return LoopBody(fs.loop, chunks.read, _noop_close, timeouts.read)

    def write_options(self, stored: Representation) -> dict[str, Any]:
        # Azure keeps no Expires; the other stored headers are its content settings.
        settings = {"content_type": stored.content_type}
        for name, value in stored.headers.items():
            if name != "Expires":
                settings[name.lower().replace("-", "_")] = value
        return {"content_settings": settings, "metadata": dict(stored.metadata) or None}

    def write_whole(
        self,
        fs: AbstractFileSystem,
        path: str,
        data: bytes,
        stored: Representation,
        condition: WriteCondition | None,
        timeouts: Timeouts,
    ) -> ObjectInfo | None:
        # adlfs' pipe_file sets the blob's metadata itself: upload through the blob client.
        from azure.storage.blob import ContentSettings

        options = self.write_options(stored)
        answer = sync(
            fs.loop,
            self._blob_client(fs, path).upload_blob,
            data,
            overwrite=True,
            content_settings=ContentSettings(**options["content_settings"]),
            metadata=options["metadata"],
            **azure_condition(condition),
            timeout=timeouts.request,
        )
        return written(len(data), answer.get("etag"), answer.get("last_modified"))

    def delete(
        self, fs: AbstractFileSystem, path: str, timeouts: Timeouts, etag: str | None = None
    ) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        condition = None if etag is None else WriteCondition(etag=etag)
        try:
            sync(
                fs.loop,
                self._blob_client(fs, path).delete_blob,
                **azure_condition(condition),
                timeout=timeouts.request,
            )
        except ResourceNotFoundError as exc:  # the backend contract: missing is FileNotFoundError
            raise FileNotFoundError(path) from exc
        finally:
            fs.invalidate_cache(path)

    def part_store(
        self,
        fs: AbstractFileSystem,
        path: str,
        stored: Representation,
        timeouts: Timeouts,
        condition: WriteCondition | None,
    ) -> PartStore | None:
        options = self.write_options(stored)
        return AzureBlocks(fs, path, options, timeouts, azure_condition(condition))

    def _properties(self, fs: AbstractFileSystem, path: str, timeouts: Timeouts) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._blob_client(fs, path)
        try:
            return sync(fs.loop, blob.get_blob_properties, timeout=timeouts.request)
        except ResourceNotFoundError as exc:  # the backend contract: missing is FileNotFoundError
            raise FileNotFoundError(path) from exc

    @staticmethod
    def _blob_client(fs: Any, path: str) -> Any:
        container, blob, version = bucket_key(fs, path)
        return fs.service_client.get_blob_client(container, blob, version_id=version)


async def _azure_first_range(
    blob: Any, path: str, start: int, length: int, options: dict[str, Any]
) -> tuple[Any, bytes] | StoreGet | None:
    """The first range of a blob with its properties; a 304/412 answer when a precondition
    stopped it; ``None`` when the range is not satisfiable (the careful path answers)."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        download = await blob.download_blob(
            offset=start, length=length, max_concurrency=1, decompress=False, **options
        )
        first: bytes = await download.readall()
    except ResourceNotFoundError as exc:
        raise FileNotFoundError(path) from exc
    except HttpResponseError as exc:
        if exc.status_code in (304, 412):  # the SDK's class differs by condition: not the status
            info = _info.from_http_headers(getattr(exc.response, "headers", None) or {})
            if exc.status_code == 304 and info.etag is None:
                return None  # a 304 must name the validators (Azurite's does not): ask them
            return StoreGet(exc.status_code, info, None, None)
        if exc.status_code == 416:
            return None
        if exc.status_code is None:  # the SDK's wrapping of a cut or failed transfer
            raise ConnectionError(f"reading {path} from the store failed") from exc
        raise
    return download.properties, first


async def _no_bytes(n: int) -> bytes:
    return b""


class _AzureChunks:
    def __init__(self, blob: Any, start: int, stop: int, etag: str, first: bytes = b"") -> None:
        self._blob = blob
        self._offset = start
        self._stop = stop
        self._etag = etag
        self._first = first  # read with the properties, before any further range

    async def read(self, n: int) -> bytes:
        if self._first:
            part, self._first = self._first[:n], self._first[n:]
            return part
        length = min(n, AZURE_CHUNK, self._stop - self._offset)
        if length <= 0:
            return b""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        try:
            download = await self._blob.download_blob(
                offset=self._offset,
                length=length,
                etag=self._etag,
                match_condition=MatchConditions.IfNotModified,
                max_concurrency=1,
                decompress=False,  # the stored bytes: Content-Encoding is the reader's to apply
            )
        except ResourceModifiedError as exc:
            raise VersionChanged(self._blob.blob_name) from exc
        data: bytes = await download.readall()
        self._offset += len(data)
        return data


async def _azure_walk(client: Any, container: str, prefix: str) -> list[dict[str, Any]]:
    """What lies directly under ``prefix`` in ``container``, as fsspec's ``ls`` entries."""
    from azure.core.exceptions import ResourceNotFoundError

    found: list[dict[str, Any]] = []
    try:
        # The metadata marks adlfs' directory markers; the service leaves it out unless asked.
        listing = client.walk_blobs(name_starts_with=prefix, delimiter="/", include=["metadata"])
        async for item in listing:
            name = f"{container}/{item.name}"
            if not hasattr(item, "size"):  # a BlobPrefix: what lies deeper
                found.append({"name": name, "type": "directory", "size": 0})
                continue
            metadata = item.metadata or {}
            if metadata.get("is_directory") == "true" or metadata.get("hdi_isfolder") == "true":
                found.append({"name": name.rstrip("/"), "type": "directory", "size": 0})
                continue
            found.append(
                {
                    "name": name,
                    "type": "file",
                    "size": item.size,
                    "last_modified": item.last_modified,
                    "etag": item.etag,
                }
            )
    except ResourceNotFoundError as exc:
        raise FileNotFoundError(container) from exc
    return found


def azure_condition(condition: WriteCondition | None) -> dict[str, Any]:
    """``condition`` as the Azure SDK's ``etag``/``match_condition`` keywords."""
    from azure.core import MatchConditions

    if condition is None:
        return {}
    if condition.create:
        return {"match_condition": MatchConditions.IfMissing}
    return {"etag": condition.etag, "match_condition": MatchConditions.IfNotModified}


def _azure_info(props: Any) -> ObjectInfo:
    settings = props.content_settings
    return ObjectInfo(
        md5=_info.md5_of(None, getattr(settings, "content_md5", None)),
        size=int(props.size),
        content_type=_info.stored_type(getattr(settings, "content_type", None)),
        last_modified=_info.to_datetime(props.last_modified),
        etag=_info.quote_etag(props.etag),
        headers=_info.stored_headers({"content_settings": settings, "metadata": props.metadata}),
    )


async def _noop_close() -> None:
    return None


class AzureBlocks:
    """Blocks of a block blob, staged in parallel and committed with their content settings.

    Args:
        fs: an ``adlfs.AzureBlobFileSystem``.
        path: ``container/blob``.
        options: ``content_settings`` (a dict of ``ContentSettings`` fields) and ``metadata``,
            as ``AzureBackend.write_options`` builds them.
        timeouts: the caller's ``timeout=``.
    """

    takes_buffers = False  # azure-storage-blob copies a body that is not ``bytes``

    def __init__(
        self,
        fs: Any,
        path: str,
        options: Mapping[str, Any],
        timeouts: Timeouts,
        condition: Mapping[str, Any] | None = None,
    ) -> None:
        container, blob, _ = fs.split_path(path)
        if not blob:
            raise IsADirectoryError(path)
        self._fs = fs
        self._blob = fs.service_client.get_blob_client(container, blob)
        self._options = options
        self._condition = dict(condition or {})
        self._timeouts = timeouts
        # Every block id of a blob must have the same length: one fixed-width form for all.
        self._prefix = uuid.uuid4().hex[:16]
        self._existed = True

    def begin(self) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            sync(self._fs.loop, self._blob.get_blob_properties, timeout=self._timeouts.request)
        except ResourceNotFoundError:
            self._existed = False

    def send(self, number: int, data: Part) -> str:
        block_id = f"{self._prefix}{number:08d}"
        body = data.read() if isinstance(data, FileSlice) else data
        sync(self._fs.loop, self._blob.stage_block, block_id, body, length=len(body))
        return block_id

    def commit(self, tokens: list[str]) -> ObjectInfo | None:
        from azure.core.exceptions import HttpResponseError
        from azure.storage.blob import ContentSettings

        conflict: OSError | None = None
        try:
            answer = sync(
                self._fs.loop,
                self._blob.commit_block_list,
                tokens,
                content_settings=ContentSettings(**self._options["content_settings"]),
                metadata=self._options["metadata"],
                **self._condition,
            )
        except HttpResponseError as exc:
            if getattr(exc, "error_code", None) != "InvalidBlockList":
                raise
            # Another write to this blob committed meanwhile, which discards every block
            # staged and not committed, ours included: the store could not take this PUT
            # now, and it can be sent again (a 503, not "the request was malformed").
            conflict = status_error(503, self._blob.blob_name)
        if conflict is not None:
            raise conflict
        etag = answer.get("etag")
        return ObjectInfo(
            size=0,
            etag=quote_etag(etag) if isinstance(etag, str) else None,
            last_modified=to_datetime(answer.get("last_modified")),
        )

    def committed(self, tokens: list[str]) -> ObjectInfo | None:
        return None  # committing the same block list again is harmless: it is sent again

    def abort(self) -> None:
        """Staged blocks have no delete of their own: Azure drops them at the blob's next
        commit, or a week after the last one was staged. Where no blob existed before the
        upload and none exists now (nobody committed one meanwhile), the name is deleted,
        which drops them now (Azurite does; a store that answers 404 keeps them until
        then). An existing blob keeps them until it is next written; its content is
        untouched either way."""
        if self._existed:
            return
        from azure.core.exceptions import ResourceNotFoundError

        try:
            sync(self._fs.loop, self._blob.get_blob_properties, timeout=self._timeouts.request)
            return  # someone else committed a blob under this name meanwhile: keep it
        except ResourceNotFoundError:
            pass
        with contextlib.suppress(ResourceNotFoundError):
            sync(self._fs.loop, self._blob.delete_blob, timeout=self._timeouts.request)
