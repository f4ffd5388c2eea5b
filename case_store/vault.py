"""Content-addressed evidence vault: vault/<sha256[:2]>/<sha256>, read-only.

A file is read once: hashed while it is copied into a temporary file in the
vault, fsynced, then renamed into place. A crash or a full disk leaves at most
a temporary file, which the next add removes; never a half-written vault file.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Callable

from case_store import CyberclaimError
from case_store.home import vault_dir

CHUNK = 1 << 20


def vault_path(sha256: str) -> Path:
    # one Path built from a joined string: verifying a batch of cases asks this thousands of times
    return Path(os.path.join(vault_dir(), sha256[:2], sha256))


def _tmp_dir() -> Path:
    d = vault_dir() / ".incoming"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _stale(p: Path) -> bool:
    """A temporary file whose writer process no longer exists (killed mid-copy)."""
    try:
        pid = int(p.name.split("-")[1])
    except (IndexError, ValueError):
        return True
    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        return True
    except PermissionError:
        return False


def clean_incoming() -> None:
    """Remove temporary files of copies that never finished (killed or disk full)."""
    d = vault_dir() / ".incoming"
    if d.is_dir():
        for p in d.iterdir():
            if _stale(p):
                p.unlink(missing_ok=True)


def check_readable(path: Path) -> None:
    if not path.exists():
        raise CyberclaimError(f"{path}: no such file")
    if path.is_dir():
        raise CyberclaimError(f"{path}: is a directory, expected a file")
    if not os.access(path, os.R_OK):
        raise CyberclaimError(f"{path}: not readable (permission denied)")


def store_file(src: Path, progress: Callable[[int], None] | None = None) -> tuple[str, int, Path]:
    """Copy `src` into the vault, hashing on the way. Returns (sha256, size, vault path)."""
    check_readable(src)
    h = hashlib.sha256()
    size = 0
    fd, tmp_name = _mkstemp()
    tmp = Path(tmp_name)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            while n := fin.readinto(buf):
                chunk = view[:n]
                h.update(chunk)
                fout.write(chunk)
                size += n
                if progress:
                    progress(n)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)
        where = "reading " + str(src) if getattr(e, "filename", None) == str(src) else "writing to the vault"
        raise CyberclaimError(f"{src}: failed while {where}: {e.strerror or e} (nothing was registered)") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sha = h.hexdigest()
    dest = vault_path(sha)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        tmp.unlink(missing_ok=True)
    else:
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    return sha, size, dest


def store_bytes(data: bytes) -> tuple[str, int, Path]:
    sha = hashlib.sha256(data).hexdigest()
    dest = vault_path(sha)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _mkstemp()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            Path(tmp_name).unlink(missing_ok=True)
            raise CyberclaimError(f"writing derived evidence to the vault failed: {e.strerror or e}") from None
        os.chmod(tmp_name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp_name, dest)
    return sha, len(data), dest


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def verify(sha256: str) -> str | None:
    """None if the vault copy still hashes to `sha256`, else what is wrong."""
    p = vault_path(sha256)
    if not p.exists():
        return "missing from the vault"
    try:
        actual = hash_file(p)
    except OSError as e:
        return f"unreadable: {e.strerror}"
    if actual != sha256:
        return f"bytes changed (now hashes to {actual})"
    return None


def _mkstemp() -> tuple[int, str]:
    import tempfile

    clean_incoming()
    return tempfile.mkstemp(dir=_tmp_dir(), prefix=f"add-{os.getpid()}-")


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
