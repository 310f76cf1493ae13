"""S3 multipart uploads: parts sent as presigned ``UploadPart`` requests from the worker threads
(each writes its own socket), the other calls through s3fs's client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from fsspec.asyn import sync

from ..._http import Timeouts
from ..._info import ObjectInfo, quote_etag
from ..._transfer.upload import FileSlice, Part
from .presigned import can_presign, presigned_request, raise_definite


class S3Parts:
    """An S3 multipart upload of ``path`` through s3fs, its parts presigned where possible.

    Args:
        fs: an ``s3fs.S3FileSystem``.
        path: ``bucket/key``.
        options: ``CreateMultipartUpload`` parameters (``ContentType``, ``Metadata``, ...),
            as ``S3Backend.write_options`` builds them.
        timeouts: the caller's ``timeout=``; a part's socket waits are bounded by its read
            timeout.
    """

    takes_buffers = True  # urllib3 and botocore send any buffer as it is

    def __init__(
        self,
        fs: Any,
        path: str,
        options: Mapping[str, Any],
        timeouts: Timeouts,
        condition: Mapping[str, str] | None = None,
    ) -> None:
        bucket, key, _ = fs.split_path(path)
        if not key:
            raise IsADirectoryError(path)
        self._fs = fs
        self._path = path
        self._where = {"Bucket": bucket, "Key": key}
        self._options = dict(options)
        self._condition = dict(condition or {})
        self._timeouts = timeouts
        self._presign = can_presign(fs)
        self._upload_id = ""

    def begin(self) -> None:
        answer = self._call(
            "create_multipart_upload", self._timeouts.request, **self._where, **self._options
        )
        self._upload_id = answer["UploadId"]

    def send(self, number: int, data: Part) -> str:
        if self._presign:
            presigned = self._send_presigned(number, data)
            if presigned is not None:
                return presigned
            self._presign = False  # the store took no presigned part: s3fs from now on
        answer = self._call(
            "upload_part",
            None,
            **self._where,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data.read() if isinstance(data, FileSlice) else data,
        )
        etag: str = answer["ETag"]
        return etag

    def commit(self, tokens: list[str]) -> ObjectInfo | None:
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(tokens, start=1)]
        answer = self._call(
            "complete_multipart_upload",
            None,
            **self._where,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": parts},
            **self._condition,
        )
        etag = answer.get("ETag")
        return ObjectInfo(size=0, etag=quote_etag(etag) if isinstance(etag, str) else None)

    def committed(self, tokens: list[str]) -> ObjectInfo | None:
        # A multipart object's ETag is the MD5 of its parts' MD5s, and their count.
        digests = b"".join(bytes.fromhex(token.strip('"')) for token in tokens)
        expected = f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(tokens)}"'
        try:
            answer = self._call("head_object", self._timeouts.request, **self._where)
        except FileNotFoundError:
            return None
        etag = answer.get("ETag")
        return ObjectInfo(size=0, etag=expected) if etag == expected else None

    def abort(self) -> None:
        self._call(
            "abort_multipart_upload",
            self._timeouts.request,
            **self._where,
            UploadId=self._upload_id,
        )

    def _call(self, method: str, timeout: float | None, **kwargs: Any) -> Any:
        return sync(self._fs.loop, self._fs._call_s3, method, timeout=timeout, **kwargs)

    def _send_presigned(self, number: int, data: Part) -> str | None:
        """The part's ETag; ``None`` when the store refused the URL itself (an emulator
        without query-string auth, a redirect): then s3fs, which reports precisely, retries."""
        # A file's slice streams from the file, its length given so it is not sent chunked;
        # any buffer is sent as it is (urllib3's hints name bytes only).
        body: Any = data.pieces() if isinstance(data, FileSlice) else data
        length = data.length if isinstance(data, FileSlice) else len(data)
        params = {
            **self._where,
            "UploadId": self._upload_id,
            "PartNumber": number,
            "ContentLength": length,
        }
        response = presigned_request(self._fs, "upload_part", params, self._timeouts, body=body)
        etag = response.headers.get("ETag")
        if response.status < 300 and etag:
            return str(etag)
        raise_definite(response, self._path)  # 404: the upload was aborted
        return None
