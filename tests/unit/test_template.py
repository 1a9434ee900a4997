"""The SAM template and state machine: valid, linted, and consistent with each other."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]


def test_sam_validate_lint_passes():
    sam = shutil.which("sam", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    assert sam, "the SAM CLI is installed by requirements-dev.txt"
    result = subprocess.run([sam, "validate", "--lint", "--template-file", "template.yaml"], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_every_state_machine_substitution_is_defined():
    template = tpl.load(ROOT / "template.yaml")
    for name, resource in tpl.resources_of(template, "AWS::Serverless::StateMachine").items():
        definition = (ROOT / resource["Properties"]["DefinitionUri"]).read_text()
        json.loads(re.sub(r"\$\{\w+\}", "x", definition))
        used = set(re.findall(r"\$\{(\w+)\}", definition))
        assert used == set(resource["Properties"].get("DefinitionSubstitutions", {})), name


def test_every_function_has_its_code_and_a_sample_event():
    template = tpl.load(ROOT / "template.yaml")
    for name in tpl.resources_of(template, "AWS::Serverless::Function"):
        props = tpl.function_properties(template, name)
        module = props["Handler"].split(".")[0]
        assert (ROOT / props["CodeUri"] / f"{module}.py").is_file(), name
