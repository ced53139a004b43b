"""A real S3 API on loopback for tests and benchmarks: moto's server mode in a process of its own
(`pip install 'moto[server]'`), and the AWS settings that point botocore (so s3fs) at it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aws_environment(endpoint: str) -> dict[str, str]:
    """What a process needs in its environment to use the S3 at endpoint (moto takes any keys)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "loopline-test",
        "AWS_SECRET_ACCESS_KEY": "loopline-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@contextmanager
def moto_server(timeout: float = 30.0, environment: dict[str, str] | None = None) -> Iterator[str]:
    """Start moto's S3 server on a free loopback port; yields its endpoint URL. `environment`
    adds to the server's (INITIAL_NO_AUTH_ACTION_COUNT=0 makes it check credentials)."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(environment or {})},
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def make_bucket(endpoint: str, name: str | None = None) -> str:
    """Create a bucket on the server at endpoint; returns its name."""
    import s3fs

    bucket = name or f"loopline-{uuid.uuid4().hex[:16]}"
    env = aws_environment(endpoint)
    fs = s3fs.S3FileSystem(
        key=env["AWS_ACCESS_KEY_ID"],
        secret=env["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=endpoint,
        skip_instance_cache=True,
    )
    fs.mkdir(bucket)
    return bucket


@contextmanager
def aws_pointed_at(endpoint: str) -> Iterator[None]:
    """This process's AWS settings pointed at endpoint, restored afterwards."""
    saved = {name: os.environ.get(name) for name in aws_environment(endpoint)}
    os.environ.update(aws_environment(endpoint))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
