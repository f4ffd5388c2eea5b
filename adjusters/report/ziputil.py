"""Byte-stable Office files: rewrite a zip with fixed member timestamps.

openpyxl and python-docx stamp each zip member with the wall clock; the same
content must give the same bytes, so members are re-stored with a fixed date
in their original order ([Content_Types].xml must stay first).
"""
from __future__ import annotations

import io
import zipfile

FIXED = (1980, 1, 1, 0, 0, 0)


def normalize_zip(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()
