"""The keyring-backed secret store: the only place a secret is kept."""

import platform
import sys


def _skip_macos_bindings() -> None:
    """Off macOS, mark keyring's macOS bindings (``keyring.backends.macOS.api``) missing.

    keyring's first ``get_keyring()`` imports every backend to rank them, the macOS one too,
    whose bindings call ``ctypes.util.find_library`` three times: on Linux each runs
    ``ldconfig`` (then ``gcc``), about 0.1-0.2 s in all, and the import then fails anyway
    (the symbols are not there). keyring wraps that import in ``try/except Exception`` and
    its macOS backend declares itself unusable off macOS before looking at the bindings, so
    the choice of backend is the same, without the cost.
    """
    name = "keyring.backends.macOS.api"
    if platform.system() != "Darwin" and name not in sys.modules:
        sys.modules[name] = None  # type: ignore[assignment]  # "import fails": see above


_skip_macos_bindings()
