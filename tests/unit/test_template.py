"""The SAM template and state machine: valid, linted, and consistent with each other."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SqsModel

from local import template as tpl
from tests.support.sample_events import event_files, function_folders

ROOT = Path(__file__).resolve().parents[2]


def test_sam_validate_lint_passes():
    sam = shutil.which("sam", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    assert sam, "the SAM CLI is installed by requirements-dev.txt"
    result = subprocess.run([sam, "validate", "--lint", "--template-file", "template.yaml"], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_every_state_machine_substitution_is_defined():
    template = tpl.load(ROOT / "template.yaml")
    for name, resource in tpl.resources_of(template, "AWS::Serverless::StateMachine").items():
        definition = (ROOT / resource["Properties"]["DefinitionUri"]).read_text()
        json.loads(re.sub(r"\$\{\w+\}", "x", definition))
        used = set(re.findall(r"\$\{(\w+)\}", definition))
        assert used == set(resource["Properties"].get("DefinitionSubstitutions", {})), name


def _task_states(states: dict):
    """Every Task state of an ASL `States` block, nested ones (Map, Parallel) included."""
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield name, state
        for inner in [state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])]:
            if inner:
                yield from _task_states(inner["States"])


def _tasks_by_function(template: dict) -> dict[str, list[tuple[str, dict | None]]]:
    """Function logical id -> [(state machine.state, its Parameters or None)] for every Task that invokes it."""
    tasks: dict[str, list] = {}
    for machine, resource in tpl.resources_of(template, "AWS::Serverless::StateMachine").items():
        props = resource["Properties"]
        functions = {f"${{{key}}}": value["Fn::GetAtt"][0]
                     for key, value in props.get("DefinitionSubstitutions", {}).items() if "Fn::GetAtt" in value}
        definition = json.loads((ROOT / props["DefinitionUri"]).read_text())
        for state_name, state in _task_states(definition["States"]):
            if state["Resource"] in functions:
                tasks.setdefault(functions[state["Resource"]], []).append((f"{machine}.{state_name}",
                                                                           state.get("Parameters")))
    return tasks


def _queue_of(queue: dict) -> str:
    assert list(queue) == ["Fn::GetAtt"] and queue["Fn::GetAtt"][1] == "Arn", queue
    return queue["Fn::GetAtt"][0]


def _check_sqs_event(event: dict, queues: set[str], where: str) -> None:
    SqsModel.model_validate(event)                        # the SQS event source's record shape
    assert event["Records"], f"{where}: no records"
    for record in event["Records"]:
        queue_name = record["eventSourceARN"].rsplit(":", 1)[-1]
        assert any(queue_name.endswith(f"-{q}") for q in queues), f"{where}: {queue_name} is none of {queues}"
        json.loads(record["body"])                         # every queue of the application carries JSON


def _check_http_api_event(event: dict, routes: set[str], where: str) -> None:
    APIGatewayProxyEventV2Model.model_validate(event)     # API Gateway HTTP API, payload format 2.0
    assert event["version"] == "2.0", where
    assert event["routeKey"] in routes, f"{where}: {event['routeKey']} is not a route of the function"
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"]) == (event["routeKey"].split(" ")[0], event["rawPath"]), where


def _check_state_input(event: dict, tasks: list[tuple[str, dict | None]], where: str) -> None:
    assert isinstance(event, dict) and event, f"{where}: a state's input is a JSON object"
    assert tasks, f"{where}: no trigger, and no state machine Task invokes the function"
    for _, parameters in tasks:
        if parameters is None:       # the Task gets the state's input as it is (execution input, Map item)
            return
        constants = {k: v for k, v in parameters.items() if not k.endswith(".$")}
        if set(event) == {k.removesuffix(".$") for k in parameters} and constants.items() <= event.items():
            return
    raise AssertionError(f"{where}: matches the Parameters of none of {[name for name, _ in tasks]}")


def test_every_function_has_its_code_and_a_sample_event():
    template = tpl.load(ROOT / "template.yaml")
    tasks = _tasks_by_function(template)
    functions = tpl.resources_of(template, "AWS::Serverless::Function")
    assert sorted(Path(tpl.function_properties(template, name)["CodeUri"]).name for name in functions) == \
        function_folders(), "every folder under functions/ is a function of the template"
    for name in functions:
        props = tpl.function_properties(template, name)
        module = props["Handler"].split(".")[0]
        assert (ROOT / props["CodeUri"] / f"{module}.py").is_file(), name
        folder = Path(props["CodeUri"]).name
        files = event_files(folder)
        assert files, f"{name}: no sample event events/{folder}.json (or events/{folder}_<what>.json)"
        triggers = {event["Type"] for event in props.get("Events", {}).values()}
        for path in files:
            event, where = json.loads(path.read_text()), f"{name}: {path.relative_to(ROOT)}"
            if triggers == {"SQS"}:
                _check_sqs_event(event, {_queue_of(e["Properties"]["Queue"]) for e in props["Events"].values()}, where)
            elif triggers == {"HttpApi"}:
                _check_http_api_event(event, {f"{e['Properties']['Method']} {e['Properties']['Path']}"
                                              for e in props["Events"].values()}, where)
            elif not triggers:
                _check_state_input(event, tasks.get(name, []), where)
            else:
                raise AssertionError(f"{where}: no check for the triggers {sorted(triggers)}")


def test_settings_reach_the_function_that_reads_them():
    """Each function gets the variables its domain code reads: a delete-all is started (and its
    segment count read) by the API, not by the delete-all workers."""
    template = tpl.load(ROOT / "template.yaml")
    api_env = tpl.function_properties(template, "ApiFunction")["Environment"]["Variables"]
    assert api_env["DELETE_ALL_SEGMENTS"] == "8"
    assert "DELETE_ALL_STATE_MACHINE_ARN" in api_env
    assert "IMPORT_STATE_MACHINE_ARN" in tpl.function_properties(template, "ImportStartFunction")["Environment"]["Variables"]
    # An export is started by the API; its part size and time budget are read by its worker.
    assert "EXPORT_STATE_MACHINE_ARN" in api_env
    export_env = tpl.function_properties(template, "ExportFunction")["Environment"]["Variables"]
    assert (export_env["EXPORT_PART_BYTES"], export_env["EXPORT_INVOCATION_SECONDS"]) == (
        {"Ref": "ExportPartBytes"}, {"Ref": "ExportInvocationSeconds"})
    assert "EXPORT_STATE_MACHINE_ARN" not in export_env
    assert template["Parameters"]["ExportPartBytes"]["MinValue"] == 5 * 1024 * 1024    # S3's smallest part
