"""Evidence typing from magic bytes (and, for headerless formats, the name)."""
from __future__ import annotations

import json
import struct
from pathlib import Path

HEAD_SIZE = 4096

EVIDENCE_TYPES = (
    "pcap", "pcapng", "evtx", "pe", "elf", "elf_core", "lime", "raw_memory", "crashdump", "hibernation",
    "minidump", "text_log", "jsonl", "csv", "xml", "zip", "xz", "gzip", "yara_rules", "email", "unknown",
    "plaso_jsonl", "timesketch", "hayabusa",  # timelines from other tools (forensics.ingestors.plaso / .hayabusa)
)
COMPRESSED = ("zip", "xz", "gzip")
_RAW_MEMORY_SUFFIXES = {".raw", ".mem", ".vmem", ".lime", ".dmp", ".img", ".bin"}


def read_head(path: Path, n: int = HEAD_SIZE) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def detect_type(head: bytes, name: str = "") -> str:
    suffix = Path(name).suffix.lower()
    if len(head) >= 4:
        m4 = head[:4]
        if m4 in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
            return "pcap"
        if m4 == b"\x0a\x0d\x0d\x0a":
            return "pcapng"
        if head.startswith(b"ElfFile\x00"):
            return "evtx"
        if m4 == b"MDMP":
            return "minidump"
        if m4 == b"EMiL":
            return "lime"
        if head.startswith((b"PAGEDUMP", b"PAGEDU64")):
            return "crashdump"
        if m4 in (b"hibr", b"HIBR", b"wake", b"WAKE"):
            return "hibernation"
        if m4 == b"\x7fELF":
            if len(head) >= 18:
                little = head[5] == 1
                e_type = struct.unpack("<H" if little else ">H", head[16:18])[0]
                if e_type == 4:
                    return "elf_core"
            return "elf"
        if head[:2] == b"MZ":
            return "pe"
        if m4 == b"PK\x03\x04":
            return "zip"
        if head.startswith(b"\xfd7zXZ\x00"):
            return "xz"
        if head[:2] == b"\x1f\x8b":
            return "gzip"
    if suffix in (".yar", ".yara"):
        return "yara_rules"
    if suffix in _RAW_MEMORY_SUFFIXES and (len(head) == 0 or _looks_binary(head)):
        return "raw_memory"
    if not head:
        return "unknown"
    if _looks_binary(head):
        return "raw_memory" if suffix in _RAW_MEMORY_SUFFIXES else "unknown"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        try:
            obj = json.loads(first)
            if isinstance(obj, dict):
                return _timeline_flavour(set(obj), obj.get("timestamp_desc")) or "jsonl"
        except ValueError:
            pass
        return "jsonl" if suffix in (".jsonl", ".json", ".ndjson") else "text_log"
    if suffix == ".eml" or _looks_like_mail(text):
        return "email"
    if text.startswith(b"<?xml") or text.startswith(b"<Events") or text.startswith(b"<Event"):
        return "xml"
    if suffix == ".csv":
        header = text.split(b"\n", 1)[0].decode("utf-8", "replace").strip().strip("\r")
        return _timeline_flavour({c.strip().strip('"') for c in header.split(",")}, None) or "csv"
    return "text_log"


def _looks_binary(head: bytes) -> bool:
    sample = head[:1024]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    ctrl = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return ctrl / len(sample) > 0.1


def _timeline_flavour(keys: set, timestamp_desc) -> str | None:
    """A JSONL line's keys / a CSV header that mark a timeline exported by another tool."""
    if "__container_type__" in keys or ({"timestamp_desc", "parser", "data_type"} <= keys and "display_name" in keys):
        return "plaso_jsonl"
    if {"datetime", "timestamp_desc", "message"} <= keys:
        if timestamp_desc == "hayabusa" or {"Channel", "EventID"} <= keys or "RuleTitle" in keys:
            return "hayabusa"
        return "timesketch"
    return None


_MAIL_HEADERS = (b"received:", b"return-path:", b"from:", b"to:", b"subject:", b"date:", b"message-id:",
                 b"mime-version:", b"content-type:", b"delivered-to:", b"x-")


def _looks_like_mail(text: bytes) -> bool:
    """An RFC 5322 message: its first lines are header fields, several of the usual ones."""
    lines = text[:2048].split(b"\n", 12)[:12]
    named = sum(1 for l in lines if l.lower().startswith(_MAIL_HEADERS))
    return named >= 3 and lines[0].lower().startswith(_MAIL_HEADERS)
