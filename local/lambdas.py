"""Runs the template's Lambda handlers in this process, as Lambda would run them."""
from __future__ import annotations

import importlib.util
import json
import os
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


_invocation = threading.local()


def _powertools_resolver_per_thread() -> None:
    """Powertools' API resolver keeps the current event and Lambda context on its base class, for the
    whole process: right in Lambda (one invocation per process at a time), wrong here, where every
    function runs in this process. The resolver reads them through `self`; a property on the resolver
    class gives each thread (each invocation) its own, set as `resolve` starts."""
    try:
        from aws_lambda_powertools.event_handler import api_gateway
    except ImportError:
        return
    resolver = api_gateway.ApiGatewayResolver
    if getattr(resolver, "_local_cloud_per_thread", False):
        return

    def per_thread(name: str) -> property:
        def get(self):
            try:
                return getattr(_invocation, name)
            except AttributeError:
                return getattr(api_gateway.BaseRouter, name)

        def set_(self, value):
            setattr(_invocation, name, value)
        return property(get, set_)

    original = resolver.resolve

    def resolve(self, event, context):
        self.current_event = self._to_proxy_event(getattr(event, "raw_event", event))
        self.lambda_context = context
        return original(self, event, context)

    resolver.current_event = per_thread("current_event")
    resolver.lambda_context = per_thread("lambda_context")
    resolver.resolve = resolve
    resolver._local_cloud_per_thread = True


# Loading a handler puts its folder on sys.path and may drop its sibling modules from sys.modules:
# one load at a time, whichever function.
_LOAD_LOCK = threading.Lock()


@dataclass
class LocalFunction:
    """One function of the template. Like Lambda, it serves one invocation per execution environment at
    a time: each invocation takes an idle environment (a loaded copy of the function's code) or loads
    a new one (a cold start), so module-level state, such as the Powertools resolver's routing context,
    is never shared by two invocations running at once. The environments share the layer's modules
    (`catalog`) and the libraries, as threads of one process do; where a library keeps per-invocation
    state process-wide (Powertools' current event), it is made per thread."""
    logical_id: str
    name: str
    code_dir: Path
    handler_spec: str
    memory: int
    timeout: int
    _idle: list = field(default_factory=list, repr=False)
    _environments: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _load(self) -> Callable:
        module_file, function = self.handler_spec.rsplit(".", 1)
        # Each function has its own app.py: load it under a unique module name, with its own
        # folder first on the path for its sibling modules (e.g. the API's routers).
        path = self.code_dir / (module_file.replace(".", "/") + ".py")
        with _LOAD_LOCK:
            _powertools_resolver_per_thread()
            if self._environments:    # a new environment gets its own copy of the sibling modules too
                folder = str(self.code_dir)
                for name, loaded in list(sys.modules.items()):
                    origin = getattr(loaded, "__file__", None)
                    if isinstance(origin, str) and os.path.dirname(origin) == folder:
                        del sys.modules[name]
            sys.path.insert(0, str(self.code_dir))
            try:
                spec = importlib.util.spec_from_file_location(f"lambda_{self.logical_id}_{self._environments}", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(self.code_dir))
            self._environments += 1
        return getattr(module, function)

    def handler(self) -> Callable:
        """An idle environment's handler, loading the first one if there is none (preload)."""
        with self._lock:
            if self._idle:
                return self._idle[-1]
        handler = self._load()
        with self._lock:
            self._idle.append(handler)
        return handler

    def invoke(self, event: Any) -> Any:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
        if handler is None:
            handler = self._load()
        try:
            return handler(event, LambdaContext(self.name, self.memory, self.timeout))
        finally:
            with self._lock:
                self._idle.append(handler)


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
