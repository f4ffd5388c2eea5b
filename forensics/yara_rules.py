"""YARA rule packs: load from dirs / tarballs / files, compile once, cache by content hash.

A *pack* is every rule source handed to us (the default pack shipped in
forensics/rules/yara plus user directories or tarballs). Each source file gets
its own namespace (its path), so two vendors' rules with the same name do not
collide. A file that fails to compile is reported by file and line and left
out; the rest still load. Includes are disabled for user rules: an `include`
can read any file on the machine.

Some public sets only compile together: a rule references a rule defined in
another file (`undefined identifier "is__elf"`). Those files get a second pass,
compiled in one namespace with the files that define what they lack.

The compiled pack is saved under CYBERCLAIM_HOME/cache/yara/<sha256>.yarc, the
hash covering every source name and byte, the yara version and the compile
options, so an unchanged pack is a cache hit and any change recompiles.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yara

DEFAULT_PACK_DIR = Path(__file__).resolve().parent / "rules" / "yara"
RULE_SUFFIXES = (".yar", ".yara")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2", ".zip")
# External variables public rule sets expect (signature-base, Yara-Rules, ...).
EXTERNAL_NAMES = ("filename", "filepath", "extension", "filetype", "owner")
DEFAULT_TIMEOUT_S = 60
MAX_RULE_FILE = 8 * 1024 * 1024  # a "rule file" larger than this is not a rule file

# yara-python spells it "line 5: msg" or "<source>(5): msg"
_ERR_LINE = re.compile(r"(?:\(|\bline )(\d+)\)?\s*:\s*(.*)$")
_UNDEFINED = re.compile(r'undefined identifier "([A-Za-z_]\w*)"')


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A rule file that did not compile: which file, which line, why."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line if self.line is not None else '?'}: {self.message}"


@dataclass(slots=True)
class RulePack:
    rules: yara.Rules
    digest: str  # content hash of the sources + options; part of the cache key
    files: list[str] = field(default_factory=list)  # namespaces that loaded
    problems: list[RuleProblem] = field(default_factory=list)
    from_cache: bool = False

    def compiled_path(self) -> str:
        """A file holding the compiled rules (the cache entry, or a private copy) for worker processes."""
        path = _cache_dir() / f"{self.digest}.yarc"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            self.rules.save(str(tmp))
            os.replace(tmp, path)
        return str(path)

    @property
    def rule_count(self) -> int:
        return sum(1 for _ in self.rules)

    def scan(self, *, data: bytes | None = None, filepath: str | None = None, name: str = "",
             timeout: int = DEFAULT_TIMEOUT_S, fast: bool = False) -> list:
        """Scan bytes or a file with the per-file externals set. Raises yara.TimeoutError."""
        ext = externals_for(name or filepath or "")
        if data is not None:
            return self.rules.match(data=data, externals=ext, timeout=timeout, fast=fast)
        return self.rules.match(filepath=filepath, externals=ext, timeout=timeout, fast=fast)


def externals_for(path: str, filetype: str = "") -> dict[str, str]:
    p = Path(path) if path else Path("")
    return {
        "filename": p.name,
        "filepath": str(p.parent) if path else "",
        "extension": p.suffix.lower(),
        "filetype": filetype,
        "owner": "",
    }


def _cache_dir() -> Path:
    home = os.environ.get("CYBERCLAIM_HOME") or str(Path.home() / ".cyberclaim")
    return Path(home) / "cache" / "yara"


def collect_sources(locations: Iterable[Path | str]) -> tuple[list[tuple[str, str]], list[RuleProblem]]:
    """(namespace, text) for every rule file in dirs, archives or single files, in a stable order."""
    out: list[tuple[str, str]] = []
    problems: list[RuleProblem] = []
    for loc in locations:
        loc = Path(loc)
        label = loc.name
        try:
            if loc.is_dir():
                for f in sorted(p for p in loc.rglob("*") if p.is_file() and p.name.lower().endswith(RULE_SUFFIXES)):
                    if f.stat().st_size <= MAX_RULE_FILE:
                        out.append((f"{label}/{f.relative_to(loc).as_posix()}", _decode(f.read_bytes())))
            elif loc.name.lower().endswith(ARCHIVE_SUFFIXES):
                out.extend(_from_archive(loc))
            elif loc.is_file():
                out.append((label, _decode(loc.read_bytes())))
            else:
                problems.append(RuleProblem(str(loc), None, "rule location not found"))
        except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
            problems.append(RuleProblem(str(loc), None, f"cannot read rules: {e}"))
    return out, problems


def _decode(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def _from_archive(path: Path) -> list[tuple[str, str]]:
    out = []
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for info in sorted(z.infolist(), key=lambda i: i.filename):
                if not info.is_dir() and info.filename.lower().endswith(RULE_SUFFIXES) and info.file_size <= MAX_RULE_FILE:
                    out.append((f"{path.name}/{info.filename}", _decode(z.read(info))))
        return out
    with tarfile.open(path) as t:
        for m in sorted(t.getmembers(), key=lambda m: m.name):
            if m.isfile() and m.name.lower().endswith(RULE_SUFFIXES) and m.size <= MAX_RULE_FILE:
                f = t.extractfile(m)
                if f is not None:
                    out.append((f"{path.name}/{m.name}", _decode(f.read())))
    return out


def _digest(sources: list[tuple[str, str]], includes: bool) -> str:
    h = hashlib.sha256(f"yara={yara.__version__};includes={includes};ext={','.join(EXTERNAL_NAMES)}\n".encode())
    for ns, text in sources:
        h.update(ns.encode() + b"\0" + hashlib.sha256(text.encode()).digest())
    return h.hexdigest()


def _problem(ns: str, err: Exception) -> RuleProblem:
    msg = str(err)
    m = _ERR_LINE.search(msg)
    if m:
        return RuleProblem(ns, int(m.group(1)), m.group(2).strip())
    return RuleProblem(ns, None, msg.strip())


def _defines(text: str, ident: str) -> bool:
    return re.search(rf"\brule\s+{re.escape(ident)}\b", text) is not None


def compile_sources(sources: list[tuple[str, str]], includes: bool = False) -> tuple[yara.Rules | None, list[str], list[RuleProblem]]:
    """Compile file by file to find the broken ones, then all good ones together."""
    ext = {k: "" for k in EXTERNAL_NAMES}
    good: dict[str, str] = {}
    failed: dict[str, tuple[str, Exception]] = {}
    for ns, text in sources:
        try:
            yara.compile(source=text, externals=ext, includes=includes)
            good[ns] = text
        except yara.Error as e:
            failed[ns] = (text, e)
    problems: list[RuleProblem] = []
    # Second pass: files that only compile together with the file defining a rule they reference.
    for ns, (text, err) in failed.items():
        m = _UNDEFINED.search(str(err))
        helpers = [t for n, t in good.items() if m and _defines(t, m.group(1))][:1] if m else []
        if helpers:
            combined = "\n".join(helpers + [text])
            try:
                yara.compile(source=combined, externals=ext, includes=includes)
                good[ns] = combined
                continue
            except yara.Error:
                pass
        problems.append(_problem(ns, err))
    if not good:
        return None, [], problems
    rules = yara.compile(sources=good, externals=ext, includes=includes)
    return rules, sorted(good), problems


def load_pack(locations: Iterable[Path | str] = (), *, default: bool = True, cache: bool = True) -> RulePack:
    """The default pack (includes allowed: it is ours) plus user locations (includes disabled).

    Includes are disabled for the whole compile as soon as one user location is
    present, since yara applies the switch per compile call.
    """
    locations = list(locations)
    srcs, problems = collect_sources(([DEFAULT_PACK_DIR] if default else []) + locations)
    includes = not locations
    digest = _digest(srcs, includes)
    cdir = _cache_dir()
    cached = cdir / f"{digest}.yarc"
    meta = cdir / f"{digest}.json"
    if cache and cached.is_file() and meta.is_file():
        try:
            info = json.loads(meta.read_text())
            return RulePack(
                rules=yara.load(str(cached)), digest=digest, files=info["files"],
                problems=problems + [RuleProblem(**p) for p in info["problems"]], from_cache=True,
            )
        except (yara.Error, OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is recompiled
    rules, files, cproblems = compile_sources(srcs, includes=includes)
    if rules is None:
        rules = yara.compile(source="rule cyberclaim_empty_pack { condition: false }")
    if cache:
        try:
            cdir.mkdir(parents=True, exist_ok=True)
            tmp = cdir / f"{digest}.{os.getpid()}.tmp"
            rules.save(str(tmp))
            os.replace(tmp, cached)
            meta.write_text(json.dumps({"files": files, "problems": [
                {"file": p.file, "line": p.line, "message": p.message} for p in cproblems]}, sort_keys=True))
        except OSError:
            pass  # a read-only home still scans, just without the cache
    return RulePack(rules=rules, digest=digest, files=files, problems=problems + cproblems)


def match_to_dict(m, base_offset: int = 0, max_strings: int = 50) -> dict:
    """A yara Match as plain data; offsets shifted by base_offset (window start)."""
    strings = []
    for s in m.strings:
        for inst in s.instances:
            if len(strings) >= max_strings:
                break
            strings.append({
                "identifier": s.identifier,
                "offset": base_offset + inst.offset,
                "data": inst.matched_data[:256].decode("latin-1"),
                "length": inst.matched_length,
            })
    strings.sort(key=lambda d: (d["offset"], d["identifier"]))
    return {"rule": m.rule, "namespace": m.namespace, "tags": sorted(m.tags), "meta": dict(sorted(m.meta.items())),
            "strings": strings}


_PACK_MEMO: dict[tuple, RulePack] = {}


def pack_for_options(options: dict) -> RulePack:
    """The pack for an ingest run: default + options["yara_rules"] (a path or list of paths).

    Memoised in-process on (path, size, mtime) so a batch over many evidence
    items does not even re-read the sources; the on-disk cache covers new processes.
    """
    locs = options.get("yara_rules") or []
    if isinstance(locs, (str, Path)):
        locs = [locs]
    locs = [Path(p) for p in locs]
    key = (os.environ.get("CYBERCLAIM_HOME", ""), tuple((str(p), *_stat_key(p)) for p in locs))
    pack = _PACK_MEMO.get(key)
    if pack is None:
        pack = _PACK_MEMO[key] = load_pack(locs)
    return pack


def _stat_key(p: Path) -> tuple[int, int]:
    try:
        st = p.stat()
        if p.is_dir():  # a rule added to a directory changes its newest mtime
            newest = max((f.stat().st_mtime_ns for f in p.rglob("*")), default=st.st_mtime_ns)
            return (-1, newest)
        return (st.st_size, st.st_mtime_ns)
    except OSError:
        return (0, 0)


def wallets_in(match: dict) -> list[str]:
    """Wallet addresses a payment rule matched (meta.wallet_regex applied to the matched strings)."""
    rx = match["meta"].get("wallet_regex")
    if not rx:
        return []
    found: list[str] = []
    for s in match["strings"]:
        for w in re.findall(rx, s["data"].replace("\x00", "")):
            w = w if isinstance(w, str) else w[0]
            if w and w not in found:
                found.append(w)
    return found


def match_event(match: dict, locator: str, where: str):
    """One `yara:match` event for a match dict (see match_to_dict); `where` names what was scanned."""
    from forensics.events import Event

    meta = match["meta"]
    attrs: dict = {"rule": match["rule"], "namespace": match["namespace"], "rule_tags": match["tags"],
                   "meta": meta, "strings": match["strings"]}
    wallets = wallets_in(match)
    if meta.get("currency"):
        attrs["currency"] = meta["currency"]
    if wallets:
        attrs["wallets"] = wallets
    sev = str(meta.get("severity", "medium")).lower()
    attack = [a.strip() for a in str(meta.get("attack", "")).split(",") if re.fullmatch(r"T\d{4}(\.\d{3})?", a.strip())]
    msg = f"YARA rule {match['rule']} matched {where}"
    if wallets:
        msg += f" ({meta.get('currency', 'wallet')} {', '.join(wallets)})"
    return Event(
        timestamp=0, timestamp_desc="Not a time", data_type="yara:match", message=msg, locator=locator,
        tags=["yara", *match["tags"]], attack=attack, gbt_category=meta.get("gbt") or None,
        severity=sev if sev in ("info", "low", "medium", "high", "critical") else "medium",
        attributes=attrs, discriminator=f"{match['namespace']}:{match['rule']}",
    )
