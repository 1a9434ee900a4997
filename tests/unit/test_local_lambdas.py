"""The local cloud's Lambda Invoke answers as AWS does (and a local run's parameter defaults): a missing function is a 404, and any
error raised inside a handler (a KeyError too) is a function error, never "function not found"."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from local.__main__ import local_parameters
from local.lambdas import FunctionRegistry, LocalFunction


def registry_with(tmp_path, body: str) -> FunctionRegistry:
    (tmp_path / "app.py").write_text(body)
    registry = FunctionRegistry()
    registry.add(LocalFunction(logical_id="Probe", name="catalog-Probe", code_dir=tmp_path,
                               handler_spec="app.lambda_handler", memory=128, timeout=3))
    return registry


def test_a_key_error_inside_a_handler_is_a_function_error(tmp_path):
    registry = registry_with(tmp_path, "def lambda_handler(event, context):\n    return event['missing']\n")
    status, headers, body = registry.invoke_http("catalog-Probe", b"{}")
    error = json.loads(body)
    assert (status, headers.get("X-Amz-Function-Error")) == (200, "Unhandled")
    assert error["errorType"] == "KeyError" and "missing" in error["errorMessage"]


def test_an_unknown_function_is_resource_not_found(tmp_path):
    registry = registry_with(tmp_path, "def lambda_handler(event, context):\n    return event\n")
    status, headers, body = registry.invoke_http("arn:aws:lambda:us-east-1:123456789012:function:nope", b"{}")
    assert (status, headers.get("x-amzn-ErrorType")) == (404, "ResourceNotFoundException")
    assert "nope" in json.loads(body)["message"]


def test_a_found_function_returns_its_result(tmp_path):
    registry = registry_with(tmp_path, "def lambda_handler(event, context):\n    return {'echo': event}\n")
    status, headers, body = registry.invoke_http("arn:aws:lambda:us-east-1:123456789012:function:catalog-Probe",
                                                 b'{"a": 1}')
    assert (status, headers, json.loads(body)) == (200, {}, {"echo": {"a": 1}})


def test_invocations_at_once_each_get_an_environment_of_their_own(tmp_path):
    """Found by the load benchmark (benchmarks/locustfile.py): the API function's Powertools resolver
    keeps the current event and routing context on a module-level object, and two requests at once
    in one copy of the code answered `?sku=RACE-000` with RACE-005 (or failed with KeyError '_route').
    Lambda runs one invocation per environment at a time; so does the local cloud."""
    (tmp_path / "state.py").write_text("current = {}\n")
    registry = registry_with(tmp_path, "import time\n\nimport state\n\n\ndef lambda_handler(event, context):\n"
                                       "    state.current['event'] = event\n    time.sleep(0.2)\n"
                                       "    return state.current['event']\n")
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(lambda n: registry.invoke("catalog-Probe", {"n": n}), range(6))) == [{"n": n} for n in range(6)]
    function = registry.get("catalog-Probe")
    environments = function._environments
    assert 1 < environments <= 6
    for n in range(3):                      # one at a time: warm environments are reused, none is loaded
        assert registry.invoke("catalog-Probe", {"n": n}) == {"n": n}
    assert function._environments == environments


def test_a_local_run_lets_webhooks_reach_this_machine_unless_overridden():
    assert local_parameters([])["WebhookAllowPrivateTargets"] == "true"
    assert local_parameters(["WebhookAllowPrivateTargets=false", "ChunkRows=5"]) == {
        "ChunkConcurrency": "8", "WebhookAllowPrivateTargets": "false", "ChunkRows": "5"}
