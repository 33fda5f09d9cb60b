"""The ml package is a plain library: importing all of it pulls in no web or task framework."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import ml
from tests.probe import python_probe

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("django", "celery", "channels")


def ml_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(ml.__path__, prefix="ml.")
        if not info.name.endswith("__main__")
    )


def test_the_ml_package_has_the_serving_modules():
    assert {
        "ml.detection",
        "ml.export",
        "ml.inference",
        "ml.runtime",
        "ml.evaluate",
        "ml.evaluation",
    } <= set(ml_modules())


@pytest.mark.slow  # a fresh process that imports TensorFlow and Keras
def test_importing_every_ml_module_loads_no_django_celery_or_channels():
    code = (
        "import importlib, sys\n"
        f"for name in {ml_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    assert python_probe(code, timeout=300).strip().splitlines()[-1] == "[]"


def site_setting_names() -> set[str]:
    """The names musicmood/settings.py defines: what only the site knows about."""
    tree = ast.parse((REPO / "musicmood" / "settings.py").read_text(encoding="utf-8"))
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id.isupper()
    }


def test_the_library_s_errors_and_log_lines_name_no_site_command_or_setting():
    site_words = {"manage.py", *site_setting_names()}
    found = []
    for path in (REPO / "ml").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_log = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "logger"
            )
            if not (isinstance(node, ast.Raise) or is_log):
                continue
            text = " ".join(
                part.value
                for part in ast.walk(node)
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            )
            found += [f"{path.name}:{node.lineno} {word}" for word in site_words if word in text]
    assert found == []
