"""The client's calls that move a dataset version's bytes: `upload_version` (a remote `loopline
add` of one table file) and `download_version` (a remote `loopline checkout`).

Both stream: the upload sends the file 1 MiB at a time with its length declared (so a server
whose `--max-upload-bytes` it exceeds refuses it before reading a byte), and the download writes
to a temp file beside the target, hashing as it goes, and renames it into place only when the
bytes' BLAKE3 hash is the one the server named; a short or damaged transfer leaves nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from loopline.api.data import AddedOut
from loopline.api.transport import PREFIX, Transport, _error
from loopline.core.errors import Integrity, StorageError

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 20


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


class FileCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for a version's files."""

    def _unreachable(self, exc: Exception) -> StorageError:
        return StorageError(
            f"cannot reach the loopline server at {self.url}: {exc}",
            hint="check the URL and that `loopline server` runs there",
        )

    def _checked(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()
            raise _error(response)
        if response.status_code >= 300:
            raise StorageError(
                f"{self.url} answered {response.request.method} {response.request.url.path} with a "
                f"redirect to {response.headers.get('location', '?')}",
                hint="give the loopline server's own URL (not a proxy's sign-in page)",
            )

    def upload_version(self, dataset: str, path: Path) -> AddedOut:
        """Add the table file at `path` as the next version of `dataset` on the server."""
        import httpx

        headers = {"content-type": "application/octet-stream", "content-length": str(path.stat().st_size)}
        url = f"{PREFIX}/datasets/{dataset}/versions"
        try:
            response = self._http.post(
                url, params={"filename": path.name}, content=_chunks(path), headers=headers
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        self._checked(response)
        return AddedOut.model_validate(response.json())

    def _download(
        self,
        url: str,
        params: dict[str, str] | None,
        target: Path,
        check: Callable[[str, str], None] | None = None,
    ) -> httpx.Headers:
        """Stream a GET to a temp file beside `target`, hashed as it comes; `check(header
        x-loopline-blob, digest received)` may refuse it before it is renamed into place.
        Returns the response's headers."""
        import blake3
        import httpx

        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"  # mode as umask says
        try:
            with temp.open("xb") as out:
                with self._http.stream("GET", url, params=params) as response:
                    self._checked(response)
                    hasher = blake3.blake3()
                    for chunk in response.iter_bytes(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if check is not None:
                check(response.headers.get("x-loopline-blob", ""), hasher.hexdigest())
            os.replace(temp, target)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        finally:
            temp.unlink(missing_ok=True)
        return response.headers

    def download_version(self, dataset: str, version: int, target: Path, path: str | None = None) -> Path:
        """Write the version's file (a blob set's file `path`) to `target`, atomically, verified."""

        def check(expected: str, received: str) -> None:
            if not expected or received != expected:
                raise Integrity(
                    f"{dataset}@{version}{f' {path}' if path else ''}: the bytes received do not hash "
                    f"to {expected[:12] or 'the blob the server named'}",
                    hint="the transfer was cut or changed on the way: checkout again",
                )

        url = f"{PREFIX}/datasets/{dataset}/versions/{version}/file"
        self._download(url, {"path": path} if path else None, target, check)
        return target

    def export_labels(self, project: str, target: Path, fmt: str) -> tuple[Path, int]:
        """A labeling project's answers (csv, jsonl or labelstudio) written to `target`
        atomically; (target, how many answers)."""
        url = f"/api/annotate/{quote(project, safe='')}/export"
        headers = self._download(url, {"format": fmt}, target)
        return target, int(headers.get("x-loopline-answers", "0"))
