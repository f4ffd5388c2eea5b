"""Offline symbol packs for volatility3.

Symbols come only from directories the user names (CYBERCLAIM_SYMBOLS, or
options["symbols"]): ISF .json / .json.xz / .json.gz, and zipped packs
(windows.zip, linux.zip). volatility3 is put in offline mode with no remote
ISF URL, and its identifier cache lives under CYBERCLAIM_HOME/cache so nothing
is read from or written to the user's ~/.cache.

Windows ISFs are looked up as windows/<pdb>/<GUID>-<age>.json*; packs that
name files flat ("ntkrnlmp.pdb-<GUID>-<age>.json.xz", as JPCERT ships them)
are staged into that layout with symlinks.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

FLAT_WIN = re.compile(r"^(?P<pdb>[A-Za-z0-9_]+\.pdb)-(?P<guid>[0-9A-Fa-f]{32})-(?P<age>\d+)\.json(\.xz|\.gz|\.bz2)?$")
ISF_SUFFIXES = (".json", ".json.xz", ".json.gz", ".json.bz2")


def cyberclaim_home() -> Path:
    return Path(os.environ.get("CYBERCLAIM_HOME") or Path.home() / ".cyberclaim")


def symbol_dirs(options: dict) -> list[Path]:
    raw = options.get("symbols") or os.environ.get("CYBERCLAIM_SYMBOLS") or []
    if isinstance(raw, (str, Path)):
        raw = [p for p in str(raw).split(os.pathsep) if p]
    return [Path(p).resolve() for p in raw if Path(p).is_dir()]


def stage_flat_windows(dirs: list[Path], staging: Path) -> Path | None:
    """Link flat-named Windows ISFs into staging/windows/<pdb>/<GUID>-<age>.json*; returns staging if any."""
    found = False
    for d in dirs:
        for f in sorted(d.rglob("*.pdb-*.json*")):
            m = FLAT_WIN.match(f.name)
            if not m:
                continue
            target = staging / "windows" / m["pdb"].lower() / f"{m['guid'].upper()}-{m['age']}.json{m.group(4) or ''}"
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                if target.resolve() == f.resolve():
                    found = True
                    continue
                target.unlink()
            target.symlink_to(f)
            found = True
    return staging if found else None


def find_windows_isf(dirs: list[Path], pdb_name: str, guid: str, age: int) -> str | None:
    """Where the ISF for this kernel PDB is, or None: the 'which symbols are missing' check."""
    stem = f"{guid.upper()}-{age}"
    for d in dirs:
        for suf in ISF_SUFFIXES:
            for cand in (d / "windows" / pdb_name / (stem + suf), d / pdb_name / (stem + suf),
                         d / f"{pdb_name}-{stem}{suf}"):
                if cand.is_file():
                    return str(cand)
        for z in sorted(d.rglob("*.zip")):
            try:
                with zipfile.ZipFile(z) as zf:
                    for n in zf.namelist():
                        if any(n.endswith(f"{pdb_name}/{stem}{suf}") for suf in ISF_SUFFIXES):
                            return f"{z}!{n}"
            except (zipfile.BadZipFile, OSError):
                continue
    return None


def configure_volatility(dirs: list[Path], cache: Path | None = None) -> list[str]:
    """Offline mode, our symbol path only (plus volatility's bundled generic tables), our cache dir.

    The identifier cache costs a full parse of every ISF the first time (about
    a minute for a 38 MB Linux ISF), so it can be pointed at a shared place.
    """
    import volatility3.symbols
    from volatility3.framework import constants

    constants.OFFLINE = True
    constants.REMOTE_ISF_URL = None
    cache = Path(cache) if cache else cyberclaim_home() / "cache" / "volatility3"
    cache.mkdir(parents=True, exist_ok=True)
    constants.CACHE_PATH = str(cache)
    staged = stage_flat_windows(dirs, cache / "staged_symbols")
    import volatility3.framework.symbols as fw_symbols

    # volatility's own generic tables (bash64, elf, pe...) that plugins need; no OS kernels in there.
    bundled = [str(Path(volatility3.symbols.__file__).parent), str(Path(fw_symbols.__file__).parent)]
    path = [str(d) for d in dirs] + ([str(staged)] if staged else []) + bundled
    volatility3.symbols.__path__ = path
    return path
