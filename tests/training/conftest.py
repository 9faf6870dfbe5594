"""Fixtures of the scripts' tests: each script of ``tools/`` (generators of package data and
docs) or ``experiments/`` (studies) loaded as a module, without running its main."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parents[2]
EXPERIMENTS = ROOT / "experiments"
TOOLS = ROOT / "tools"


def load_script(path: str) -> ModuleType:
    """The script at ``path`` (relative to the repository: ``"tools/side_by_side.py"``) as a
    module (its ``main`` is not run). ``tools/`` goes on the import path first, as
    ``python tools/NAME.py`` puts it there: the scripts import the shared ``_common``."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    file = ROOT / path
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_experiment(name: str) -> ModuleType:
    """``experiments/NAME.py`` as a module (its ``main`` is not run)."""
    return load_script(f"experiments/{name}.py")
