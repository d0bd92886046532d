"""Build hooks that pyproject.toml cannot express: the checker's C search core (cffi)."""
from setuptools import setup

setup(cffi_modules=["checker/_cbuild.py:ffibuilder"])
