"""The README's test command passes on a fresh machine (issue 31, item 12): the ``test`` extra
holds everything the collected code imports, and CI runs exactly what the README installs."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]
#: What `python -m pytest -q` imports: the tests, the package (doctests), and the files the
#: tests load by path (tests/training/conftest.py: experiments/ and tools/;
#: test_docs_model_cards.py).
SCANNED = [ROOT / "tests", ROOT / "denoise_adv", ROOT / "experiments", ROOT / "tools",
           ROOT / "docs" / "_model_cards.py"]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> dict[str, str]:
    """Top-level module -> one file importing it (anywhere in the file: lazy imports too)."""
    local = {p.stem for folder in SCANNED if folder.is_dir() for p in folder.rglob("*.py")}
    local |= {p.name for folder in SCANNED if folder.is_dir() for p in folder.rglob("*")
              if p.is_dir()}
    found: dict[str, str] = {}
    files = [f for s in SCANNED if s.exists() for f in (s.rglob("*.py") if s.is_dir() else [s])]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _closure(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install, transitively (from installed metadata)."""
    todo = [(Requirement(r), "") for r in requirements]
    seen: set[str] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = _normal(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for sub in requires:
            for wanted in ("", *req.extras):
                todo.append((Requirement(sub), wanted))
    return seen


def test_the_test_extra_holds_everything_the_suite_imports():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = (config["options"]["install_requires"] + config["options.extras_require"]["test"])
    installed = _closure([line for line in lines.splitlines() if line.strip()])
    providers = metadata.packages_distributions()
    missing = {module: (where, providers.get(module, ["no installed distribution"]))
               for module, where in _imported_modules().items()
               if module != "denoise_adv"
               and not any(_normal(d) in installed for d in providers.get(module, []))}
    assert not missing, (f"imported by the collected code but not installed by "
                         f"`pip install -e \".[test]\"` (module: (a file importing it, "
                         f"its distributions)): {missing}")


def test_ci_runs_exactly_what_the_readme_installs_first():
    readme = (ROOT / "README.md").read_text()
    command = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)[1]
    assert 'pip install -e ".[test]" && python -m pytest -q' in command
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    installs = [i for i, line in enumerate(ci) if re.match(r"(python -m )?pip install", line)]
    assert ci[installs[0]].endswith('install -q -e ".[test]"'), ci[installs[0]]
    tests = ci.index("python -m pytest -q")
    assert installs[0] < tests < installs[1], "CI must test before adding other extras"
