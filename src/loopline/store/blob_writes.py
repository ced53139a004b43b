"""Local blob writes: a batch of files (or a stream of chunks) copied into temp files under the
store's `tmp/` folder, hashed from the very bytes written, made durable and renamed under their
keys; a killed process leaves only temp files, never a half blob under its key.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import mmap
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import blake3

from loopline.core.errors import Integrity
from loopline.store.contracts.blobs import StatKey

TMP_DIR = "tmp"
_BATCH_MIN = 32  # from this many new blobs, one filesystem sync beats an fsync per file
_STREAMS = 2  # threads copying large files (beside the caller's, which copies the small ones)
_ALL_FOLDERS = 2048  # a batch this big uses every shard folder but one in 3,000 (1 - 1/256)^2048
_WHOLE = 1 << 20  # a file up to this size is read, hashed and written whole
_CHUNK = 4 << 20  # a larger one streams through a buffer this size
_BLOCK = 4096  # O_DIRECT writes whole blocks from block-aligned memory
_DIRECT = getattr(os, "O_DIRECT", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_SEQUENCE = itertools.count()  # temp file names: pid and this number


def _stat_key(st: os.stat_result) -> StatKey:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _fsync(path: str, dir_fd: int | None = None) -> None:
    """fsync a file or folder by path."""
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2) (Linux), or None where there is none."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _sync_filesystem(fd: int, syncfs: Callable[[int], int]) -> None:
    """Flush every written page and inode of the filesystem holding the open file fd to disk."""
    import ctypes

    if syncfs(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _create_temp(tmp_dir: int, prefix: str, flags: int = 0) -> tuple[int, str]:
    """A new temp file in the folder open as tmp_dir, mode 0600 as mkstemp makes, under a name no
    other writer holds (O_EXCL); a counter, not mkstemp's random names, as this runs per file."""
    while True:
        name = f"{prefix}.{os.getpid()}.{next(_SEQUENCE)}"
        try:
            return os.open(name, _CREATE | flags, 0o600, dir_fd=tmp_dir), name
        except FileExistsError:
            continue


def _without_direct(fd: int) -> bool:
    """Turn O_DIRECT off on fd (for an unaligned tail, or a filesystem that refuses it); False."""
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_DIRECT)
    return False


def _write_all(fd: int, data: memoryview, direct: bool) -> bool:
    """Write every byte of data; returns whether fd still writes with O_DIRECT."""
    while data:
        if direct and len(data) % _BLOCK:
            direct = _without_direct(fd)
        try:
            data = data[os.write(fd, data) :]
        except OSError as exc:
            if not direct or exc.errno != errno.EINVAL:
                raise
            direct = _without_direct(fd)
    return direct


def _changed(source: str, detail: str) -> Integrity:
    return Integrity(
        f"{source} changed while it was being stored: {detail}",
        where=source,
        hint="store it again once nothing is writing to it",
    )


class WriteBatch:
    """Local writes of one call: each file is read once into a buffer of this process, hashed and
    written to a temp file from that same buffer, so a key is the hash of exactly the bytes
    stored whatever the source does meanwhile (no second hash of the copy is needed). Then the
    temps are made durable, renamed under their keys, and the renames made durable: a killed
    process leaves only temp files, never a half blob under its key.

    Files up to _WHOLE bytes take one read and one write; larger ones stream through a buffer of
    _CHUNK bytes, written with O_DIRECT where the filesystem takes it (the bytes go to the disk as
    they are copied, not at the sync, and the page cache is left alone). See run() for threads.
    """

    def __init__(self, root: str, verify: Callable[[str], bool], *, repair: bool = False) -> None:
        self._root = root
        self._tmp_dir = os.path.join(root, TMP_DIR)
        self._verify = verify  # the store's: True when the blob is there, whole
        self._repair = repair  # a stored blob that fails verification is written again
        self._claimed: set[str] = set()
        self._staged: dict[str, str] = {}  # key -> its complete temp file (set by one thread)
        self._temps: list[str] = []  # every temp made (removed again on failure)
        self._new_folders = False  # whether this batch made shard folders (their entries to sync)
        self.written = 0  # blobs written, once committed
        self._lock = threading.Lock()
        self._buffers = threading.local()

    # -- staging -------------------------------------------------------------------------------
    def _claim(self, digest: str) -> bool:
        """True when this batch is the one to write digest: no other file of the batch has it and
        the store does not hold it (or holds it damaged, when repairing)."""
        with self._lock:
            if digest in self._claimed:
                return False
            self._claimed.add(digest)
        try:
            os.stat(f"{digest[:2]}/{digest}", dir_fd=self._root_fd)
        except FileNotFoundError:
            return True
        return self._repair and not self._verify(digest)

    def stage_bytes(self, digest: str, data: bytes) -> None:
        if self._claim(digest):
            self._staged[digest] = self._write_temp(digest, data)

    def _write_temp(self, digest: str, data: bytes) -> str:
        fd, tmp = _create_temp(self._tmp_fd, digest[:16])
        self._temps.append(tmp)
        try:
            if (n := os.write(fd, data)) < len(data):
                _write_all(fd, memoryview(data)[n:], False)
        finally:
            os.close(fd)
        return tmp

    def stage(self, source: str, digest: str | None, seen: StatKey | None) -> str:
        """Store one file: its bytes must hash to digest when one is given, and its stat after the
        read must still be seen when that is given. Returns its key."""
        if digest is not None and not self._claim(digest):
            return digest  # already stored (or being stored by this batch): nothing to read
        src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            info = os.fstat(src)
            if stat.S_ISREG(info.st_mode) and info.st_size <= _WHOLE:
                data = os.read(src, info.st_size + 1)
                while len(data) > info.st_size and (more := os.read(src, _CHUNK)):
                    data += more  # it grew since the fstat: refused below if seen or digest
                key, length, tmp = blake3.blake3(data).hexdigest(), len(data), None
            else:  # large, or a pipe or device: its bytes as they come
                key, length, tmp = self._stream(src)
            after = os.fstat(src) if seen is not None else None
        finally:
            os.close(src)
        try:
            if digest is not None and key != digest:
                raise _changed(source, f"its bytes no longer hash to {digest[:12]}")
            if after is not None and (length != after.st_size or _stat_key(after) != seen):
                raise _changed(source, "it is not the file that was listed, or was written since")
            if digest is None and not self._claim(key):
                return key  # stored already, or by another file of this batch
            self._staged[key] = tmp if tmp is not None else self._write_temp(key, data)
            tmp = None
        finally:
            if tmp is not None:
                os.unlink(tmp, dir_fd=self._tmp_fd)
        return key

    def _stream(self, src: int) -> tuple[str, int, str]:
        """Copy src into a new temp file through this thread's buffer, hashing what is written."""
        buffer = getattr(self._buffers, "view", None)
        if buffer is None:
            # An anonymous map: page-aligned, as O_DIRECT wants, and private to this process.
            buffer = self._buffers.view = memoryview(mmap.mmap(-1, _CHUNK))
        try:
            out, tmp = _create_temp(self._tmp_fd, "stream", _DIRECT)
            direct = bool(_DIRECT)
        except OSError as exc:  # a filesystem without O_DIRECT (tmpfs, some network mounts)
            if exc.errno != errno.EINVAL:
                raise
            out, tmp = _create_temp(self._tmp_fd, "stream")
            direct = False
        self._temps.append(tmp)
        hasher = blake3.blake3()
        length = 0
        try:
            # A regular file fills the buffer but for its last chunk; a short read elsewhere (a
            # pipe) leaves the next write unaligned, and _write_all then turns O_DIRECT off.
            while n := os.readv(src, [buffer]):
                chunk = buffer[:n]
                hasher.update(chunk)
                direct = _write_all(out, chunk, direct)
                length += n
        except BaseException:
            os.close(out)
            os.unlink(tmp, dir_fd=self._tmp_fd)
            raise
        os.close(out)
        return hasher.hexdigest(), length, tmp

    def stage_chunks(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the bytes of an iterable of chunks (an upload as it arrives), holding one chunk
        at a time; returns their key and length."""
        fd, tmp = _create_temp(self._tmp_fd, "upload")
        self._temps.append(tmp)
        hasher = blake3.blake3()
        length = 0
        try:
            for chunk in chunks:
                hasher.update(chunk)
                _write_all(fd, memoryview(chunk), False)
                length += len(chunk)
        finally:
            os.close(fd)
        key = hasher.hexdigest()
        if self._claim(key):
            self._staged[key] = tmp
        else:  # stored already: the copy goes
            os.unlink(tmp, dir_fd=self._tmp_fd)
        return key, length

    def fill(self, digest: str, write: Callable[[str], None]) -> bool:
        """Stage a blob whose bytes come from elsewhere (a download): write(path) fills a fresh
        temp file and raises unless they hash to digest. False when it is stored already."""
        if not self._claim(digest):
            return False
        fd, tmp = _create_temp(self._tmp_fd, digest[:16])
        os.close(fd)
        self._temps.append(tmp)
        write(os.path.join(self._tmp_dir, tmp))
        self._staged[digest] = tmp
        return True

    def run(self, items: Sequence[tuple[str, str | None, StatKey | None]]) -> list[str]:
        """stage() every (path, digest, seen); returns the keys, in order.

        Large files go to _STREAMS threads (their time is the disk's and BLAKE3's, both outside
        the GIL) while this thread takes the small ones, then joins in: more threads on small
        files only contend for the GIL and the temp folder's lock.
        """
        keys = [""] * len(items)
        sizes = [seen[1] if seen is not None else os.stat(path).st_size for path, _, seen in items]
        large = sorted((i for i, size in enumerate(sizes) if size > _WHOLE), key=lambda i: -sizes[i])
        queue = iter(large)  # biggest first; next() on a list iterator is atomic
        failed = threading.Event()

        def work(indexes: Iterator[int]) -> None:
            try:
                for i in indexes:
                    if failed.is_set():
                        return
                    keys[i] = self.stage(*items[i])
            except BaseException:
                failed.set()
                raise

        try:
            with ThreadPoolExecutor(max_workers=_STREAMS) as pool:
                helpers = [pool.submit(work, queue) for _ in range(min(_STREAMS, len(large)))]
                if len(items) >= _ALL_FOLDERS:  # meanwhile, every shard folder the batch will need
                    helpers.append(pool.submit(self._make_folders, [f"{i:02x}" for i in range(256)]))
                work(i for i, size in enumerate(sizes) if size <= _WHOLE)
                work(queue)
                for helper in helpers:
                    helper.result()
        except BaseException:
            failed.set()
            raise
        return keys

    # -- making it durable ---------------------------------------------------------------------
    def _make_folders(self, shards: Iterable[str]) -> None:
        for shard in set(shards):
            folder = f"{self._root}/{shard}"
            if not os.path.isdir(folder):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder)
                    self._new_folders = True

    def __enter__(self) -> WriteBatch:
        # Paths are resolved from these two open folders, not from /: a first add makes ~30
        # path lookups per file, and walking the dentry cache was a tenth of its kernel time.
        self._root_fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._tmp_fd = os.open(self._tmp_dir, os.O_RDONLY | os.O_DIRECTORY)
        except BaseException:
            os.close(self._root_fd)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """Commit what was staged; on any error (staging or committing) remove every temp made."""
        try:
            if kind is None:
                self._commit()
        except BaseException:
            self._discard()
            raise
        finally:
            if kind is not None:
                self._discard()
            os.close(self._tmp_fd)
            os.close(self._root_fd)

    def _commit(self) -> None:
        """Make every staged blob durable under its key."""
        staged = self._staged
        if not staged:
            return
        folders = {f"{self._root}/{digest[:2]}" for digest in staged}
        self._make_folders([digest[:2] for digest in staged])
        syncfs = _syncfs() if len(staged) >= _BATCH_MIN else None
        if syncfs is not None:
            _sync_filesystem(self._tmp_fd, syncfs)  # every temp's bytes (and new folders)
        elif len(staged) == 1:
            _fsync(next(iter(staged.values())), self._tmp_fd)
        else:
            with ThreadPoolExecutor(max_workers=16) as pool:  # threads overlap the fsyncs
                list(pool.map(lambda tmp: _fsync(tmp, self._tmp_fd), staged.values()))
        for digest, tmp in staged.items():
            os.replace(tmp, f"{digest[:2]}/{digest}", src_dir_fd=self._tmp_fd, dst_dir_fd=self._root_fd)
        if syncfs is not None:
            _sync_filesystem(self._root_fd, syncfs)  # every rename
        else:  # the renames, and the entries of new folders
            for folder in [*folders, *([self._root] if self._new_folders else [])]:
                _fsync(folder)
        self.written = len(staged)

    def _discard(self) -> None:
        """Remove every temp file this batch made and did not rename."""
        for tmp in self._temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=self._tmp_fd)
