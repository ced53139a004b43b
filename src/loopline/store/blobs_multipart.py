"""Staging of multipart uploads (the MLflow client's `mpu` API for large artifacts).

An upload is a folder on local disk: `upload.json` (the artifact path it completes to, how many
parts, who started it, when, and the secret that signs its part URLs) and one file per part,
named `NNNNN.ETAG` (ETAG the part's BLAKE3). A part is streamed to a temp file and renamed, so
a cut-off part leaves no part; re-sending a part replaces it. At completion the parts are read
back in part order, each checked against its ETAG as it is read, and streamed into the blob
store: nothing is ever held whole in memory, whatever the sizes. Completing, aborting or the
upload's age (`sweep`) removes the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import blake3

from loopline.core.errors import Forbidden, InvalidInput, NotFound

MAX_PARTS = 10_000  # as S3's multipart upload
UPLOAD_TTL = 24 * 3600.0  # seconds an unfinished upload is kept (then swept)
_ID = re.compile(r"[0-9a-f]{32}")
_PART = re.compile(r"(\d{5})\.([0-9a-f]{64})")
_READ = 1 << 20
_META = "upload.json"
_COMPLETING = ".completing"


@dataclass(frozen=True)
class Upload:
    """One multipart upload as staged."""

    id: str
    path: str  # the artifact path the parts complete to
    parts: int  # how many parts were announced at create
    actor: str  # who created it (part URLs act for them)
    auth: str  # how they signed in ("local": a server without auth)
    created: float  # seconds since the epoch
    secret: str  # hex; signs this upload's part URLs, never leaves the server


def _gone(upload_id: str) -> NotFound:
    return NotFound(
        f"no multipart upload {upload_id[:40]!r}: it was completed, aborted or has expired",
        hint="start a new upload (mpu/create)",
    )


class PartStaging:
    """Multipart uploads staged under `root` (a local folder, created on first use)."""

    def __init__(self, root: str | os.PathLike[str], clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.clock = clock

    # -- uploads ---------------------------------------------------------------------------------
    def create(self, path: str, parts: int, actor: str, auth: str) -> Upload:
        if not 1 <= parts <= MAX_PARTS:
            raise InvalidInput(f"num_parts must be 1 to {MAX_PARTS}, not {parts}")
        upload = Upload(secrets.token_hex(16), path, parts, actor, auth, self.clock(), secrets.token_hex(32))
        folder = self.root / upload.id
        folder.mkdir(parents=True)
        tmp = folder / f".{_META}.tmp"
        tmp.write_text(json.dumps(asdict(upload)))
        os.replace(tmp, folder / _META)
        return upload

    def get(self, upload_id: str) -> Upload:
        """The upload, if it is still open (not completed, aborted or past UPLOAD_TTL)."""
        if not _ID.fullmatch(upload_id):
            raise _gone(upload_id)
        try:
            upload = Upload(**json.loads((self.root / upload_id / _META).read_text()))
        except (OSError, ValueError, TypeError):
            raise _gone(upload_id) from None
        if self.clock() - upload.created > UPLOAD_TTL:
            raise _gone(upload_id)
        return upload

    def remove(self, upload_id: str) -> None:
        for folder in (self.root / upload_id, self.root / f"{upload_id}{_COMPLETING}"):
            shutil.rmtree(folder, ignore_errors=True)

    def sweep(self, max_age: float = UPLOAD_TTL) -> int:
        """Remove uploads started more than max_age seconds ago (finished or not); how many."""
        if not self.root.is_dir():
            return 0
        cutoff, removed = self.clock() - max_age, 0
        for entry in os.scandir(self.root):
            with contextlib.suppress(OSError, ValueError, KeyError):
                meta = json.loads(Path(entry.path, _META).read_text())
                if float(meta["created"]) < cutoff:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed += 1
        return removed

    # -- signed part URLs ------------------------------------------------------------------------
    @staticmethod
    def sign(upload: Upload, number: int, expires: int) -> str:
        message = f"{upload.id}/{number}/{expires}".encode()
        return hmac.new(bytes.fromhex(upload.secret), message, hashlib.sha256).hexdigest()

    def check_signature(self, upload: Upload, number: int, expires: str, signature: str) -> None:
        """Forbidden unless signature signs (this upload, this part, expires) and expires is ahead."""
        if not expires.isdigit() or len(expires) > 12:
            raise Forbidden("the part URL has no valid expiry", hint="use the URLs mpu/create returned")
        if not hmac.compare_digest(self.sign(upload, number, int(expires)), signature):
            raise Forbidden(
                f"the part URL's signature is not that of part {number} of upload {upload.id}",
                hint="use the URLs mpu/create returned, unchanged",
            )
        if int(expires) < self.clock():
            raise Forbidden("the part URL has expired", hint="start a new upload (mpu/create)")

    # -- parts -----------------------------------------------------------------------------------
    def put_part(self, upload: Upload, number: int, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Stream one part in; (its ETAG, its length). A cut-off body leaves no part."""
        if not 1 <= number <= upload.parts:
            raise InvalidInput(f"upload {upload.id} has parts 1 to {upload.parts}, not {number}")
        folder = self.root / upload.id
        tmp = folder / f".{number:05d}.{secrets.token_hex(8)}.tmp"
        hasher, length = blake3.blake3(), 0
        try:
            with open(tmp, "xb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                    length += len(chunk)
        except FileNotFoundError:
            raise _gone(upload.id) from None  # completed or aborted meanwhile
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        etag = hasher.hexdigest()
        try:
            lock = os.open(folder / _META, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            tmp.unlink(missing_ok=True)
            raise _gone(upload.id) from None
        try:  # the same part sent twice at once (any process): one of the two is kept, whole
            fcntl.flock(lock, fcntl.LOCK_EX)
            os.replace(tmp, folder / f"{number:05d}.{etag}")
            for old in folder.glob(f"{number:05d}.*"):
                if old.name != f"{number:05d}.{etag}":
                    old.unlink(missing_ok=True)  # the part sent before
        except FileNotFoundError:  # the folder was claimed for completion meanwhile
            tmp.unlink(missing_ok=True)
            raise _gone(upload.id) from None
        finally:
            os.close(lock)
        return etag, length

    @staticmethod
    def parts(folder: Path) -> dict[int, tuple[str, int]]:
        """The parts in an upload's folder: number -> (ETAG, length)."""
        found: dict[int, tuple[str, int]] = {}
        for entry in os.scandir(folder):
            matched = _PART.fullmatch(entry.name)
            if matched:
                found[int(matched[1])] = (matched[2], entry.stat().st_size)
        return found

    def claim(self, upload: Upload) -> Path:
        """Take the upload for completion (a second complete, or a late part, then finds it gone);
        the folder its parts are now in."""
        claimed = self.root / f"{upload.id}{_COMPLETING}"
        try:
            os.rename(self.root / upload.id, claimed)  # atomic: of two completes, one wins
        except FileNotFoundError:
            raise _gone(upload.id) from None
        return claimed

    def release(self, upload: Upload) -> None:
        """Give a claimed upload back (its completion failed: the client may try again)."""
        with contextlib.suppress(OSError):
            os.rename(self.root / f"{upload.id}{_COMPLETING}", self.root / upload.id)

    @staticmethod
    def read(folder: Path, parts: Iterable[tuple[int, str]]) -> Iterator[bytes]:
        """The bytes of (number, ETAG) parts in the order given, a chunk at a time; InvalidInput
        when a part's bytes no longer hash to its ETAG (changed or torn on disk): the upload stays
        open, and the part sent again replaces it."""
        for number, etag in parts:
            hasher = blake3.blake3()
            with open(folder / f"{number:05d}.{etag}", "rb") as handle:
                while chunk := handle.read(_READ):
                    hasher.update(chunk)
                    yield chunk
            if hasher.hexdigest() != etag:  # a 400, not a 5xx the client would retry for minutes
                raise InvalidInput(
                    f"part {number} changed on disk since it was received",
                    hint="send that part again, then complete",
                )
