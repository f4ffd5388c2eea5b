"""Evidence arriving through the browser: name hygiene, size limit, staging in the vault.

An upload is streamed into a private staging directory inside the vault
(never next to the server's working directory), registered with
`cases.add_evidence`, and the staging copy removed. The file name the browser
sent is only ever used as a display name: path separators and control
characters are replaced, so nothing can be written outside the vault.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from case_store import CyberclaimError, cases
from case_store.clock import acting_as
from case_store.home import vault_dir
from case_store.users import Principal, require

DEFAULT_MAX_MB = 4096
CHUNK = 1 << 20
ZIP_RATIO_WARN = 200  # declared uncompressed / compressed size above this looks like a bomb


def max_upload_bytes() -> int:
    """The configured limit (CYBERCLAIM_MAX_UPLOAD_MB, default 4096 MB)."""
    try:
        mb = float(os.environ.get("CYBERCLAIM_MAX_UPLOAD_MB") or DEFAULT_MAX_MB)
    except ValueError:
        mb = DEFAULT_MAX_MB
    return int(mb * (1 << 20))


def safe_name(raw: str) -> str:
    """A display/file name with no directory part, no control characters, no leading dots."""
    name = unicodedata.normalize("NFC", raw or "")
    name = "".join("_" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in name)
    name = name.replace("/", "_").replace("\\", "_").replace("\0", "_").strip()
    name = name.lstrip(".") or "upload"
    if len(name.encode()) > 200:
        stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        name = name.encode()[: 200 - len(keep) - 1].decode(errors="ignore") + ("." + keep if keep else "")
    return name


@dataclass
class Upload:
    evidence: object
    duplicate: bool
    name: str
    notes: list[str] = field(default_factory=list)


def _zip_notes(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            declared = sum(i.file_size for i in z.infolist())
            packed = sum(i.compress_size for i in z.infolist()) or 1
    except (zipfile.BadZipFile, OSError, ValueError):
        return []
    if declared / packed > ZIP_RATIO_WARN:
        return [f"the archive declares {declared:,} bytes uncompressed from {packed:,} bytes "
                f"(ratio {declared // packed:,}:1); ingest stops at the decompression cap if it is a bomb"]
    return []


def store_upload(user: Principal, case_id: str, name: str, stream: BinaryIO, size: int | None = None,
                 acquired_by: str | None = None, progress: Callable[[int], None] | None = None) -> Upload:
    """Stage `stream` inside the vault, register it as evidence of `case_id`, remove the staging copy."""
    require(user, "add_evidence", case_id)
    limit = max_upload_bytes()
    if size is not None and size > limit:
        raise CyberclaimError(f"{safe_name(name)}: {size:,} bytes is over the upload limit of {limit:,} bytes; "
                              "register large evidence with `cyberclaim evidence add`")
    clean = safe_name(name)
    notes = [] if clean == name else [f"file name {name!r} was stored as {clean!r}"]
    staging_root = vault_dir() / ".uploads"
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=staging_root))
    try:
        dest = staging / clean
        written = 0
        with open(dest, "xb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise CyberclaimError(f"{clean}: over the upload limit of {limit:,} bytes; nothing was registered")
                out.write(chunk)
        notes += _zip_notes(dest)
        with acting_as(user.username):
            added = cases.add_evidence(case_id, dest, source=f"upload by {user.username}: {clean}",
                                       acquired_by=acquired_by or user.username, progress=progress)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Upload(added.evidence, added.duplicate, clean, notes)
