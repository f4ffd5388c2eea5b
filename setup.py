"""Build of the one C extension (forensics/windows/_evtxrow.c: the EVTX row fast path).

Everything else is in pyproject.toml. optional=True: on a machine without a C compiler
the install still succeeds and the EVTX ingestor uses its Python path; CI (CI=true)
refuses a missing extension at import (forensics/windows/fastpath.py).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("forensics.windows._evtxrow", ["forensics/windows/_evtxrow.c"],
                             extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wno-unused-function"],
                             optional=True)])
