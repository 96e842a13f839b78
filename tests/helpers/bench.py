"""A script of ``bench/`` imported as a module, for the tests of its pure parts: ``bench/`` is a folder of
scripts run as ``python bench/NAME.py``, not a package, so it is loaded from its file (the import path stays as it is).

>>> bench_module("gpu_check").__name__
'gpu_check'
"""

import importlib.util
import sys
from types import ModuleType

from tests.helpers import REPO


def bench_module(name: str) -> ModuleType:
    """``bench/NAME.py`` as the module ``NAME`` (registered in ``sys.modules``, as ``python bench/NAME.py``
    would name it ``__main__``; dataclasses and pickling need the entry)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
