"""Fixtures of the experiment scripts' tests: each script loaded as a module, without running
its main."""

import importlib.util
from pathlib import Path
from types import ModuleType

EXPERIMENTS = Path(__file__).parents[2] / "experiments"


def load_experiment(name: str) -> ModuleType:
    """``experiments/NAME.py`` as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
