"""Reads template.yaml and resolves its intrinsic functions to local names, ARNs and URLs.

The local cloud builds every resource from what this module returns, so the template stays
the single source of truth for names, environment, routes and substitutions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns !Ref, !GetAtt, !Sub, ... into their long JSON forms."""


def _construct(tag: str):
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}
    return construct


for _tag in ("Ref", "GetAtt", "Sub", "If", "Equals", "Not", "And", "Or", "Join", "Select", "Split",
             "FindInMap", "ImportValue", "Base64", "GetAZs", "Condition"):
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


@dataclass
class Resolver:
    """Resolves intrinsics against local physical names and attributes."""
    template: dict
    stack: str
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)                 # logical id -> Ref value
    attrs: dict[tuple[str, str], Any] = field(default_factory=dict)    # (logical id, attr) -> value

    def pseudo(self) -> dict[str, str]:
        return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": self.stack,
                "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return str(self.parameters[name])
        return str(self.template.get("Parameters", {})[name].get("Default", ""))

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"template: Ref to unknown or not-yet-created resource {name}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attrs[(logical, attr)]
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in parts)
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attr = name.split(".", 1)
                return str(self.attrs[(logical, attr)])
            return str(self.ref(name))
        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == kind}


def function_properties(template: dict, logical_id: str) -> dict:
    """A function's properties with the template's Globals merged in (environment merged by key)."""
    globals_ = template.get("Globals", {}).get("Function", {})
    props = dict(template["Resources"][logical_id]["Properties"])
    for key, value in globals_.items():
        if key == "Environment":
            merged = dict(value.get("Variables", {}))
            merged.update(props.get("Environment", {}).get("Variables", {}))
            props["Environment"] = {"Variables": merged}
        else:
            props.setdefault(key, value)
    return props
