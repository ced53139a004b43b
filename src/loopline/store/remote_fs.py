"""Opening a remote filesystem for blobs (S3 through s3fs; any other fsspec URL as fsspec opens
it) and turning its failures into errors that name the location and the fix.

Where S3 is and who the caller is come from the usual AWS settings (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION, and
~/.aws/config), read by botocore itself: they are never written into a project file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from loopline.core.errors import InvalidInput, NotFound, StorageError

_CREDENTIALS_HINT = (
    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment or"
    " ~/.aws/credentials"
)
# A wrong endpoint should fail in seconds, not after botocore's minute of retries.
_S3_CONFIG = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3, "mode": "standard"}}


def open_remote(url: str) -> tuple[Any, str]:
    """(filesystem, root path) of a remote URL, checked: an S3 bucket must exist and answer."""
    import fsspec

    protocol = url.split("://", 1)[0]
    if protocol in ("s3", "s3a"):
        try:
            import s3fs
        except ImportError as exc:  # pragma: no cover - s3fs is a dependency
            raise StorageError("s3fs is not installed", hint="pip install s3fs") from exc
        # A store of its own per opening, listing nothing from a cache: other processes write too.
        fs = s3fs.S3FileSystem(config_kwargs=_S3_CONFIG, skip_instance_cache=True, use_listings_cache=False)
        root = url.split("://", 1)[1].rstrip("/")
        if not root:
            raise InvalidInput(f"{url!r} names no bucket", hint="write s3://BUCKET/PREFIX")
        _check_bucket(fs, url, root.split("/", 1)[0])
        return fs, root
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InvalidInput(
            f"cannot open blob store {url!r}: {exc}",
            hint="use a local folder or s3://BUCKET/PREFIX",
        ) from exc
    return fs, root


def _check_bucket(fs: Any, url: str, bucket: str) -> None:
    with remote_errors(url):
        try:
            fs.ls(bucket, refresh=True)
        except FileNotFoundError as exc:
            raise NotFound(
                f"bucket {bucket!r} does not exist",
                where=_endpoint(url),
                hint=f"create it (`aws s3 mb s3://{bucket}`) or correct the URL",
            ) from exc


def _endpoint(url: str) -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return f"{url} at {endpoint}" if endpoint else url


@contextmanager
def remote_errors(url: str) -> Iterator[None]:
    """Map a remote filesystem's failures to loopline errors naming url (FileNotFoundError passes:
    the caller knows what was missing)."""
    try:
        yield
    except FileNotFoundError:
        raise
    except PermissionError as exc:
        raise InvalidInput(
            f"access to {url} was refused: {exc}", where=_endpoint(url), hint=_CREDENTIALS_HINT
        ) from exc
    except OSError as exc:
        raise StorageError(
            f"blob store {url} failed: {exc}", where=_endpoint(url), hint=_reach_hint()
        ) from exc
    except Exception as exc:
        name = type(exc).__name__
        if name == "NoCredentialsError":
            raise InvalidInput(
                f"no credentials for {url}", where=_endpoint(url), hint=_CREDENTIALS_HINT
            ) from exc
        if name in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ClientConnectorError",
            "ReadTimeoutError",
        ):
            raise StorageError(f"cannot reach {_endpoint(url)}: {exc}", hint=_reach_hint()) from exc
        raise


def _reach_hint() -> str:
    return (
        "check that the S3 endpoint is up and AWS_ENDPOINT_URL (or ~/.aws/config) points at it;"
        " nothing was changed, so the same command can simply be run again"
    )
