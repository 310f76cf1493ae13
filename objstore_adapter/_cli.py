"""The ``objstore`` command line: get, head, put, ls and rm through the adapter.

Exit codes follow the HTTP status: 0 for 2xx and 304, 4 for a 4xx answer, 5 for a 5xx
answer, 3 when the store cannot be reached or a backend is missing, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import requests

from ._errors import BackendNotInstalled
from ._registry import SchemeRegistry
from ._session import session as new_session
from ._settings import TransferSettingError, size

CHUNK = 2**20


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    try:
        return key, json.loads(value)  # numbers, booleans, null and JSON objects
    except json.JSONDecodeError:
        return key, value


def _session(url: str, args: argparse.Namespace) -> requests.Session:
    registry = SchemeRegistry()
    options = dict(args.option)
    if args.endpoint_url:
        options["endpoint_url"] = args.endpoint_url
    scheme = url.split("://", 1)[0] if "://" in url else url
    transfer: dict[str, Any] = {}
    if args.retries is not None:
        transfer["max_attempts"] = args.retries + 1
    if args.parallel is not None:
        transfer["max_concurrency"] = transfer["download_concurrency"] = args.parallel
    if args.part_size is not None:
        transfer["part_size"] = transfer["download_part_size"] = args.part_size
    if options or transfer:
        registry.register(scheme, transfer=transfer, **options)
    elif scheme in ("file", "memory"):
        registry.register(scheme)
    return new_session(registry)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return int(text)


def _size(text: str) -> int:
    try:
        return size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


@contextlib.contextmanager
def _progress(total: int | None, label: str, quiet: bool) -> Iterator[Any]:
    """A tqdm bar on stderr when tqdm is installed and the transfer is worth one."""
    bar = None
    if not quiet and (total is None or total > 8 * CHUNK):
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                file=sys.stderr,
            )
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def _fail(response: requests.Response) -> int:
    detail = ""
    if response.headers.get("Content-Type") == "application/json":
        with contextlib.suppress(ValueError):
            detail = f": {response.json().get('error', '')}"
    hint = " (check the credentials: --option key=... or the backend's environment)"
    print(
        f"objstore: {response.status_code} {response.reason}{detail}"
        f"{hint if response.status_code in (401, 403) else ''}",
        file=sys.stderr,
    )
    return response.status_code // 100


def _get(args: argparse.Namespace) -> int:
    with _session(args.url, args).get(args.url, stream=True, timeout=args.timeout) as response:
        if response.status_code >= 400:
            return _fail(response)
        size = int(response.headers.get("Content-Length") or 0) or None
        out: IO[bytes] = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            with _progress(size, args.url, args.quiet) as bar:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if args.output:
                out.close()
    return 0


def _head(args: argparse.Namespace) -> int:
    response = _session(args.url, args).head(args.url, timeout=args.timeout)
    if response.status_code >= 400:
        return _fail(response)
    for key, value in response.headers.items():
        print(f"{key}: {value}")
    return 0


def _put(args: argparse.Namespace) -> int:
    with open(args.file, "rb") as source:
        size = source.seek(0, 2)
        source.seek(0)
        headers = {"Content-Type": args.content_type} if args.content_type else {}
        with _progress(size, args.url, args.quiet) as bar:

            def chunks() -> Iterator[bytes]:
                while chunk := source.read(CHUNK):
                    if bar is not None:
                        bar.update(len(chunk))
                    yield chunk

            response = _session(args.url, args).put(
                args.url, data=chunks(), headers=headers, timeout=args.timeout
            )
    if response.status_code >= 400:
        return _fail(response)
    print(f"{response.status_code} {response.reason} {args.url} {response.headers.get('ETag', '')}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    url = args.url if args.url.endswith("/") else args.url + "/"
    response = _session(url, args).get(url, timeout=args.timeout)
    if response.status_code >= 400:
        return _fail(response)
    for entry in response.json()["entries"]:
        size = entry.get("size", "")
        print(f"{entry.get('last_modified', ''):<24} {size!s:>12} {entry['name']}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    response = _session(args.url, args).delete(args.url, timeout=args.timeout)
    if response.status_code >= 400:
        return _fail(response)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo import demo

    return demo(args.size_mib)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="objstore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str, run: Any, url: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.set_defaults(run=run)
        if url:
            sub.add_argument("--endpoint-url", help="the store's endpoint (storage option)")
            sub.add_argument(
                "--option",
                type=_parse_option,
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="a storage option; repeatable",
            )
            sub.add_argument("--timeout", type=float, default=None, help="seconds")
            sub.add_argument(
                "--retries", type=_count, metavar="N", help="tries after the first, per request"
            )
            sub.add_argument(
                "--parallel",
                type=_count,
                metavar="N",
                help="connections one transfer uses at once (upload and download parts)",
            )
            sub.add_argument(
                "--part-size",
                type=_size,
                metavar="SIZE",
                help="bytes per part of an upload or parallel download (16MiB, 8MB; 5MiB or more)",
            )
            sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        return sub

    get = command("get", "download an object (to stdout, or -o FILE)", _get)
    get.add_argument("url")
    get.add_argument("-o", "--output", help="write to this file instead of stdout")
    command("head", "print an object's headers", _head).add_argument("url")
    put = command("put", "upload a file", _put)
    put.add_argument("file")
    put.add_argument("url")
    put.add_argument("--content-type", help="stored with the object")
    command("ls", "list a prefix", _ls).add_argument("url")
    command("rm", "delete an object", _rm).add_argument("url")
    demo = command("demo", "fetch objects from an embedded S3 server", _demo, url=False)
    demo.add_argument("--size-mib", type=int, default=64, help="size of the streamed object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``objstore`` console script."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BackendNotInstalled as exc:
        print(f"objstore: {exc}", file=sys.stderr)
        return 3
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        TransferSettingError,
    ) as exc:
        print(f"objstore: {exc}", file=sys.stderr)
        return 2
    except requests.exceptions.RequestException as exc:
        print(f"objstore: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:  # a local file that cannot be read or written
        print(f"objstore: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
