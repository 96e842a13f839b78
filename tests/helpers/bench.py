"""A script of ``bench/`` or ``scripts/`` imported as a module, for the tests of its pure parts: those are
folders of scripts run as ``python bench/NAME.py``, not packages, so a script is loaded from its file (the
import path stays as it is).

>>> script_module("gpu_check").__name__, script_module("rehearse_multinode", "scripts").__name__
('gpu_check', 'rehearse_multinode')
"""

import importlib.util
import sys
from types import ModuleType

from tests.helpers import REPO


def script_module(name: str, folder: str = "bench") -> ModuleType:
    """``FOLDER/NAME.py`` as the module ``NAME`` (registered in ``sys.modules``, as ``python bench/NAME.py``
    would name it ``__main__``; dataclasses and pickling need the entry)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
