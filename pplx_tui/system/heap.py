"""Loading a heavy, optional library (psycopg, hvac) so it does not slow every collection after.

psycopg's import roughly doubles the objects Python's cyclic collector tracks (about 17,000 to
36,000 after a ``keys list``), hvac's too (13,000 to 26,000); all of them are modules, classes and
functions that live until the process exits. Every later full collection walked them again,
while rows were read and once more at exit: about 40 ms of a 1,000-key ``keys list --json`` on
PostgreSQL (``benchmarks/postgres.py``). Once such a library is loaded the heap is frozen
(``gc.freeze``): what exists then is left out of collections; whatever is allocated afterwards is
collected as before.
"""

from __future__ import annotations

import gc
import importlib
import sys
from types import ModuleType


def import_long_lived(name: str) -> ModuleType:
    """``importlib.import_module(name)``; if this call loaded it, freeze the heap. ImportError
    goes to the caller, which says how to install the library."""
    fresh = name not in sys.modules
    module = importlib.import_module(name)
    if fresh:
        gc.freeze()
    return module
