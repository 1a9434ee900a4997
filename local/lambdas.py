"""Runs the template's Lambda handlers in this process, as Lambda would run them."""
from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .template import ACCOUNT, REGION


@dataclass
class LambdaContext:
    """The attributes handlers and Powertools read from Lambda's context object."""
    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline + self.timeout_seconds - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler_spec: str
    memory: int
    timeout: int
    _handler: Callable | None = None

    def handler(self) -> Callable:
        if self._handler is None:
            module_file, function = self.handler_spec.rsplit(".", 1)
            # Each function has its own app.py: load it under a unique module name, with its own
            # folder first on the path for its sibling modules (e.g. the API's routers).
            path = self.code_dir / (module_file.replace(".", "/") + ".py")
            sys.path.insert(0, str(self.code_dir))
            try:
                spec = importlib.util.spec_from_file_location(f"lambda_{self.logical_id}", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(self.code_dir))
            self._handler = getattr(module, function)
        return self._handler

    def invoke(self, event: Any) -> Any:
        context = LambdaContext(self.name, self.memory, self.timeout)
        return self.handler()(event, context)


class FunctionNotFound(LookupError):
    """No function by that name or ARN (Lambda's ResourceNotFoundException)."""


class FunctionRegistry:
    def __init__(self):
        self._by_name: dict[str, LocalFunction] = {}
        self._wrappers: dict[str, Callable] = {}
        self._lock = threading.Lock()

    def add(self, function: LocalFunction) -> None:
        self._by_name[function.name] = function

    def get(self, name_or_arn: str) -> LocalFunction:
        name = name_or_arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
        for function in self._by_name.values():
            if name in (function.name, function.logical_id):
                return function
        raise FunctionNotFound(f"no local function named {name_or_arn}")

    def all(self) -> list[LocalFunction]:
        return list(self._by_name.values())

    def preload(self) -> None:
        """Imports every handler up front, one at a time: module imports are not thread-safe here."""
        with self._lock:
            for function in self._by_name.values():
                function.handler()

    def wrap(self, logical_id: str, wrapper: Callable[[Callable, Any], Any] | None) -> None:
        """Test hook: route a function's invocations through wrapper(invoke, event)."""
        if wrapper is None:
            self._wrappers.pop(logical_id, None)
        else:
            self._wrappers[logical_id] = wrapper

    def invoke(self, name_or_arn: str, event: Any) -> Any:
        function = self.get(name_or_arn)
        wrapper = self._wrappers.get(function.logical_id)
        if wrapper:
            return wrapper(function.invoke, event)
        return function.invoke(event)

    def invoke_http(self, name_or_arn: str, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        """Lambda's Invoke API: errors come back as 200 with X-Amz-Function-Error, like AWS."""
        try:
            function = self.get(name_or_arn)
        except FunctionNotFound as error:
            body = {"Type": "User", "message": str(error)}
            return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, json.dumps(body).encode()
        try:
            event = json.loads(payload or b"{}")
            result = self.invoke(function.name, event)
            return 200, {}, json.dumps(result, default=str).encode()
        except Exception as error:  # noqa: BLE001 - every handler error becomes a function error
            body = {"errorMessage": str(error), "errorType": type(error).__name__,
                    "stackTrace": traceback.format_exception(error)[-5:]}
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(body).encode()
