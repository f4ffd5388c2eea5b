"""Build of the C extensions (forensics/windows/_evtxrow.c: the EVTX row fast path;
forensics/logs/_eventid.c: event ids of text-log rows; case_store/_isotime.c: the event
store's ISO datetime column; forensics/logs/_linescan.c: the fields
of the bulk text-log lines).

Everything else is in pyproject.toml. optional=True: on a machine without a C compiler
the install still succeeds and the ingestors use their Python paths; CI (CI=true)
refuses a missing extension at import (forensics/windows/fastpath.py, forensics/logs/fastpath.py).
"""
from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wno-unused-function"]
# event ids are SHA-256: OpenSSL's libcrypto (Debian libssl-dev), shared header in forensics/native
_SHA = {"include_dirs": ["forensics/native"], "libraries": ["crypto"], "depends": ["forensics/native/eventid_sha.h"]}
# the EVTX row path at -O3 (the flags after Python's own CFLAGS win): ~5 % less CPU per record than -O2
setup(ext_modules=[Extension("forensics.windows._evtxrow", ["forensics/windows/_evtxrow.c"],
                             extra_compile_args=_FLAGS + ["-O3"], optional=True, **_SHA),
                   # the text-log parse workers' event ids (forensics/logs/fastpath.py falls back to hashlib)
                   Extension("forensics.logs._eventid", ["forensics/logs/_eventid.c"],
                             extra_compile_args=_FLAGS, optional=True, **_SHA),
                   # the fields of the bulk text-log lines (forensics/logs/fastpath.py falls back to regexes)
                   Extension("forensics.logs._linescan", ["forensics/logs/_linescan.c"],
                             extra_compile_args=_FLAGS, optional=True),
                   # the text-log detections' numbering of sources (forensics/logs/vectorbursts.py falls back to Arrow)
                   Extension("forensics.logs._textcodes", ["forensics/logs/_textcodes.c"],
                             extra_compile_args=_FLAGS, optional=True),
                   # the event store's ISO datetime text (case_store/isotime.py falls back to numpy)
                   Extension("case_store._isotime", ["case_store/_isotime.c"], extra_compile_args=_FLAGS, optional=True)])
