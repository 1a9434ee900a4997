"""The layering holds: import-linter's contracts (.importlinter), and no import hidden inside a
function (the usual way to dodge a cycle) in the domain or the handlers."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "python"


def test_import_linter_contracts_are_kept():
    env = {**os.environ, "PYTHONPATH": str(LAYER)}
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and "3 kept" in result.stdout


def _function_local_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    return found


@pytest.mark.parametrize("folder", ["layers/common/python/catalog", "functions"])
def test_no_module_imports_inside_a_function(folder):
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files
    assert [hit for path in files for hit in _function_local_imports(path)] == []
