"""Lambda handlers loaded from their files, as the Lambda runtime loads them."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"


def load_function_module(folder: str, module: str = "app") -> ModuleType:
    """functions/<folder>/<module>.py, loaded under a name of its own (every function has an app.py).

    The Lambda runtime puts the function's folder on the path, and the API's app.py relies on it
    (`import http_errors`, `import imports_routes`, ...). This is the one place the tests do the
    same, and only while the module loads (its sibling modules then stay in sys.modules), as
    local/lambdas.py does for the local cloud. The layer's `catalog` package comes from pytest.ini's
    `pythonpath`.
    """
    code_dir = FUNCTIONS / folder
    sys.path.insert(0, str(code_dir))
    try:
        spec = importlib.util.spec_from_file_location(f"tests_function_{folder}_{module}", code_dir / f"{module}.py")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(code_dir))
    return loaded


def load_handler(folder: str):
    return load_function_module(folder).lambda_handler


class LambdaContext:
    """The parts of Lambda's context object the handlers (and Powertools) read."""

    def __init__(self, function_name: str = "test", remaining_ms: int = 30_000):
        self.function_name = function_name
        self.memory_limit_in_mb = 128
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = "req"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms
