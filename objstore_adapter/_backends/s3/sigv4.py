"""SigV4 header signatures for GetObject and HeadObject, without botocore's per-request
machinery.

botocore builds each signed request from scratch: its parameter events, its endpoint
ruleset, its request serializer and its signer, about a third of a small GET's time in the
calling thread. Sixteen threads sharing one session take turns on that work. Only two parts
of a GetObject's signed request change from one object to the next: the key (with its
version) and the time. So botocore still decides everything else, once per client, bucket
and credentials: it signs a probe key, and the endpoint, the headers and the signing scope
are taken from its request. A signature computed here for that same request and time must
be botocore's, byte for byte, or the bucket keeps botocore's signer.

Signed here: GetObject and HeadObject (each checked with a probe of its own) of a key made
of printable characters, with or without a version,
by a client signing SigV4 in the ``Authorization`` header with static or refreshed
credentials. Anything else (another operation, an anonymous client, S3 Express sessions,
an endpoint that puts the key elsewhere) is left to botocore.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

#: The key botocore signs to show where a bucket's keys go and how their requests are signed.
PROBE_KEY = "objstore-adapter-probe"

#: The hash of an empty payload: what a GET's ``X-Amz-Content-SHA256`` says.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_ALGORITHM = "AWS4-HMAC-SHA256"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None

    def __repr__(self) -> str:  # a template may be printed: never its secret or token
        token = None if self.token is None else "<hidden>"
        shown = f"access_key={self.access_key!r}, secret_key='<hidden>', token={token!r}"
        return f"Credentials({shown})"


class Signed(NamedTuple):
    """A signed request: what to send, and the headers its signature covers."""

    method: str
    url: str
    headers: dict[str, str]


class Template(NamedTuple):
    """Where a bucket's keys go (``prefix`` + quoted key) and how a request of ``method`` to
    them is signed."""

    method: str
    prefix: str  # scheme://host/[bucket/], up to the key
    path_prefix: str  # the same, without scheme and host: what the signature covers
    host: str  # the Host header urllib3 will send, as botocore signed it
    scope: str  # region/service/aws4_request, after the date
    credentials: Credentials


#: The operations signed here, and their methods.
READS = {"get_object": "GET", "head_object": "HEAD"}

#: Per botocore client: per bucket, credentials and method, the template, or None where
#: botocore's own signer must be used (checked once).
_templates: weakref.WeakKeyDictionary[Any, dict[tuple[str, Credentials, str], Template | None]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def sign_read(
    client: Any,
    operation: str,
    params: Mapping[str, Any],
    reference: Callable[[str, Mapping[str, Any]], Any],
) -> Signed | None:
    """``operation`` (one of :data:`READS`) of ``params`` (``Bucket``, ``Key``, optional
    ``VersionId``), signed in its ``Authorization`` header as ``client`` would sign it;
    ``None`` where botocore must sign.

    ``reference(operation, params)`` is botocore's own signature of a request (a
    :class:`Signed`, or ``None`` when it cannot be had without waiting); it is asked once per
    bucket, credentials and operation, for the probe key.
    """
    method = READS.get(operation)
    if method is None:
        return None
    bucket, key = params.get("Bucket"), params.get("Key")
    if not (isinstance(bucket, str) and isinstance(key, str) and _plain(key)):
        return None
    if set(params) - {"Bucket", "Key", "VersionId"}:
        return None
    credentials = _credentials(client)
    if credentials is None:
        return None
    template = _template(client, operation, method, bucket, credentials, reference)
    if template is None:
        return None
    now = time.gmtime()
    return _sign(template, key, params.get("VersionId"), now)


def forget(bucket: str) -> None:
    """Check again how ``bucket``'s GETs are signed: the store refused one (botocore may
    since have learned another region for it)."""
    with _lock:
        for per_client in list(_templates.values()):
            for known in [k for k in per_client if k[0] == bucket]:
                del per_client[known]


def _plain(key: str) -> bool:
    """A key whose URL path botocore writes as its quoted self: printable ASCII or beyond,
    no empty, ``.`` or ``..`` segment, which some endpoints would read as another path."""
    if not key or key.startswith("/") or "//" in key or _CONTROL.search(key):
        return False
    return not any(part in (".", "..") for part in key.split("/"))


def _credentials(client: Any) -> Credentials | None:
    """The client's credentials as they are now, read without waiting (the caller has
    checked that no refresh is due); ``None`` for an anonymous client."""
    held = getattr(client._request_signer, "_credentials", None)
    if held is None:
        return None
    frozen = getattr(held, "_frozen_credentials", None)  # refreshable: the last refresh
    source = frozen if frozen is not None else held
    access, secret = getattr(source, "access_key", None), getattr(source, "secret_key", None)
    if not (isinstance(access, str) and isinstance(secret, str) and access and secret):
        return None
    token = getattr(source, "token", None)
    return Credentials(access, secret, token if isinstance(token, str) and token else None)


def _template(
    client: Any,
    operation: str,
    method: str,
    bucket: str,
    credentials: Credentials,
    reference: Callable[[str, Mapping[str, Any]], Any],
) -> Template | None:
    known = (bucket, credentials, method)
    per_client = _templates.get(client)
    if per_client is not None and known in per_client:
        return per_client[known]
    signed = reference(operation, {"Bucket": bucket, "Key": PROBE_KEY})
    if signed is None:  # botocore would wait (for a region, say): try again next time
        return None
    template = _checked(signed, credentials, method)
    with _lock:
        per_client = _templates.setdefault(client, {})
        if len(per_client) > 64:  # credentials that rotate: keep the newest only
            per_client.clear()
        per_client[known] = template
    return template


def _checked(signed: Any, credentials: Credentials, method: str) -> Template | None:
    """The template read from botocore's signature of the probe, if a signature computed
    here for the same request and time is botocore's own; else ``None``."""
    if signed.method != method:
        return None
    url = urlsplit(signed.url)
    quoted = quote(PROBE_KEY, safe="/~")
    if url.query or url.fragment or not url.path.endswith("/" + quoted):
        return None
    headers = {k.lower(): v for k, v in signed.headers.items()}
    expected = {"x-amz-date", "x-amz-content-sha256", "authorization"}
    if credentials.token:
        expected.add("x-amz-security-token")
    if set(headers) != expected or headers.get("x-amz-content-sha256") != EMPTY_SHA256:
        return None
    if credentials.token and headers["x-amz-security-token"] != credentials.token:
        return None
    # The scope botocore signed for: the region may be the bucket's, learned from a redirect.
    credential = headers["authorization"].partition("Credential=")[2].partition(",")[0]
    access, _, rest = credential.partition("/")
    scope = rest.partition("/")[2]
    if access != credentials.access_key or not scope.endswith("/aws4_request"):
        return None
    path_prefix = url.path[: -len(quoted)]
    template = Template(
        method=method,
        prefix=f"{url.scheme}://{url.netloc}{path_prefix}",
        path_prefix=path_prefix,
        host=canonical_host(url.scheme, url.netloc),
        scope=scope,
        credentials=credentials,
    )
    try:
        now = time.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return None
    ours = _sign(template, PROBE_KEY, None, now)
    mine = {k.lower(): v for k, v in ours.headers.items()}
    return template if ours.url == signed.url and mine == headers else None


def canonical_host(scheme: str, netloc: str) -> str:
    """The Host header as urllib3 sends it and botocore signs it: without a default port."""
    host = netloc.rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}.get(scheme)
    return host[: -len(default)] if default and host.endswith(default) else host


def _sign(template: Template, key: str, version: str | None, now: time.struct_time) -> Signed:
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
    day = amz_date[:8]
    quoted = quote(key, safe="/~")
    query = f"versionId={quote(version, safe='-_.~')}" if version else ""
    credentials = template.credentials
    headers = {"X-Amz-Date": amz_date, "X-Amz-Content-SHA256": EMPTY_SHA256}
    canonical_headers = f"host:{template.host}\nx-amz-content-sha256:{EMPTY_SHA256}\n"
    canonical_headers += f"x-amz-date:{amz_date}\n"
    signed_headers = "host;x-amz-content-sha256;x-amz-date"
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
        canonical_headers += f"x-amz-security-token:{' '.join(credentials.token.split())}\n"
        signed_headers += ";x-amz-security-token"
    path = template.path_prefix + quoted
    request = "\n".join(
        (template.method, path, query, canonical_headers, signed_headers, EMPTY_SHA256)
    )
    scope = f"{day}/{template.scope}"
    to_sign = "\n".join((_ALGORITHM, amz_date, scope, hashlib.sha256(request.encode()).hexdigest()))
    signing_key = _signing_key(credentials.secret_key, day, template.scope)
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    url = template.prefix + quoted + (f"?{query}" if query else "")
    return Signed(template.method, url, headers)


@functools.lru_cache(maxsize=64)
def _signing_key(secret: str, day: str, scope: str) -> bytes:
    """SigV4's key of a day, region and service: four HMACs, the same all day."""
    key = ("AWS4" + secret).encode()
    for part in (day, *scope.split("/")):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
