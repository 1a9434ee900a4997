"""Reads template.yaml and resolves its intrinsic functions to local names, ARNs and URLs.

The local cloud builds every resource from what this module returns, so the template stays
the single source of truth for names, environment, routes and substitutions.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns !Ref, !GetAtt, !Sub, ... into their long JSON forms."""


def _construct(tag: str):
    name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

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


class _NoValue:
    """`Ref: AWS::NoValue`: the key or list item that resolves to it is left out."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_CONDITION_FUNCTIONS = ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition")

# Resource types the local cloud builds itself (local/cloud.py names them and sets their Ref and
# attributes); a Ref or GetAtt of one it has not built yet is a mistake and stays an error.
BUILT_LOCALLY = frozenset({
    "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine", "AWS::RDS::DBCluster", "AWS::RDS::DBInstance",
})


def _digest(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def stand_in_ref(kind: str, logical: str, stack: str) -> str:
    """A stable, realistic-looking Ref value for a resource the local cloud does not build (an
    identity pool, a CDN, a log group, an alarm...): the same every run, shaped as AWS shapes it,
    so the template's !Sub/!GetAtt around it resolve and nothing local depends on it being real."""
    seed = _digest(stack, logical, length=32)
    name = f"{stack}-{logical}"
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    shapes = {
        "AWS::Cognito::UserPool": f"{REGION}_{seed[:9].upper()}",
        "AWS::Cognito::UserPoolClient": seed[:26],
        "AWS::Cognito::UserPoolDomain": name.lower(),
        "AWS::SecretsManager::Secret": arn.format("secretsmanager", f"secret:{name}-{seed[:6]}"),
        "AWS::KMS::Key": str(uuid.UUID(seed)),
        "AWS::KMS::Alias": f"alias/{name}",
        "AWS::CloudFront::Distribution": "E" + seed[:13].upper(),
        "AWS::SNS::Topic": arn.format("sns", name),
        "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "AWS::IAM::Role": name,
        "AWS::Logs::LogGroup": name,
    }
    return shapes.get(kind, f"{name}-{seed[:8]}")


def stand_in_attr(kind: str, logical: str, attr: str, stack: str) -> str:
    """A stable GetAtt value for a resource the local cloud does not build (see stand_in_ref)."""
    ref = stand_in_ref(kind, logical, stack)
    seed = _digest(stack, logical, attr)
    if attr == "Arn":
        service = kind.split("::")[1].lower()
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ref}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{ref}:*"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{ref}"
        return ref if ref.startswith("arn:") else f"arn:aws:{service}:{REGION}:{ACCOUNT}:{ref}"
    if kind == "AWS::CloudFront::Distribution" and attr == "DomainName":
        return f"d{seed[:12]}.cloudfront.net"
    if kind == "AWS::Cognito::UserPool" and attr == "ProviderURL":
        return f"cognito-idp.{REGION}.amazonaws.com/{ref}"
    return f"{ref}-{attr.lower().replace('.', '-')}"


@dataclass
class Resolver:
    """Resolves intrinsics against local physical names and attributes, and evaluates the template's
    Conditions against the parameters (their defaults, then the overrides given)."""
    template: dict
    stack: str
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)                 # logical id -> Ref value
    attrs: dict[tuple[str, str], Any] = field(default_factory=dict)    # (logical id, attr) -> value
    _conditions: dict[str, bool | None] = field(default_factory=dict, repr=False)  # None: being evaluated

    def pseudo(self) -> dict[str, Any]:
        return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": self.stack,
                "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE}

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return str(self.parameters[name])
        return str(self.template.get("Parameters", {})[name].get("Default", ""))

    def check_parameters(self) -> None:
        """Refuses what CloudFormation refuses: an unknown parameter, a value outside AllowedValues,
        AllowedPattern or MinValue/MaxValue, a parameter with neither a value nor a default."""
        declared = self.template.get("Parameters", {})
        unknown = sorted(set(self.parameters) - set(declared))
        if unknown:
            raise ValueError(f"template: no parameter named {', '.join(unknown)}")
        for name, spec in declared.items():
            if name not in self.parameters and "Default" not in spec:
                raise ValueError(f"template: parameter {name} needs a value")
            value = self.parameter(name)
            allowed = [_scalar(v) for v in spec.get("AllowedValues", [])]
            if allowed and value not in allowed:
                raise ValueError(f"template: {name}={value} is not one of {allowed}")
            pattern = spec.get("AllowedPattern")
            if pattern and spec.get("Type") == "String" and not re.fullmatch(pattern, value):
                raise ValueError(f"template: {name}={value} does not match its AllowedPattern {pattern}")
            if spec.get("Type") == "Number":
                try:
                    number = float(value)
                except ValueError:
                    raise ValueError(f"template: {name}={value} is not a number") from None
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    raise ValueError(f"template: {name}={value} is below its MinValue {spec['MinValue']}")
                if "MaxValue" in spec and number > float(spec["MaxValue"]):
                    raise ValueError(f"template: {name}={value} is above its MaxValue {spec['MaxValue']}")

    # --- conditions --------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        """The value of one entry of the template's Conditions section."""
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {})
            if name not in conditions:
                raise KeyError(f"template: no condition named {name}")
            self._conditions[name] = None  # marks it as being evaluated, to report a cycle
            self._conditions[name] = self._evaluate(conditions[name])
        value = self._conditions[name]
        if value is None:
            raise ValueError(f"template: condition {name} refers to itself")
        return value

    def _evaluate(self, expression: Any) -> bool:
        """A condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition) -> its truth."""
        if not (isinstance(expression, dict) and len(expression) == 1):
            raise ValueError(f"template: not a condition function: {expression!r}")
        (key, arg), = expression.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (_scalar(self.resolve(v)) for v in arg)
            return left == right
        if key == "Fn::Not":
            (inner,) = arg
            return not self._evaluate(inner)
        if key == "Fn::And":
            return all(self._evaluate(inner) for inner in arg)
        if key == "Fn::Or":
            return any(self._evaluate(inner) for inner in arg)
        raise ValueError(f"template: {key} is not a condition function ({', '.join(_CONDITION_FUNCTIONS)})")

    def included(self, entry: dict) -> bool:
        """Whether a resource or output is part of the stack: it has no Condition, or a true one."""
        name = entry.get("Condition") if isinstance(entry, dict) else None
        return name is None or self.condition(name)

    def deployed_template(self) -> dict:
        """The template as CloudFormation deploys it with these parameters: the resources and outputs
        whose Condition is false left out (everything else as it is, intrinsics unresolved)."""
        template = dict(self.template)
        for section in ("Resources", "Outputs"):
            if section in template:
                template[section] = {k: v for k, v in template[section].items() if self.included(v)}
        return template

    # --- intrinsics --------------------------------------------------------------------
    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.refs:
            return self.refs[name]
        kind = self._stand_in_kind(name)
        if kind:
            return stand_in_ref(kind, name, self.stack)
        raise KeyError(f"template: Ref to unknown or not-yet-created resource {name}")

    def attr(self, logical: str, attr: str) -> Any:
        """Fn::GetAtt: what the local cloud set, or a stand-in for a resource it does not build."""
        if (logical, attr) in self.attrs:
            return self.attrs[(logical, attr)]
        kind = self._stand_in_kind(logical)
        if kind:
            return stand_in_attr(kind, logical, attr, self.stack)
        raise KeyError((logical, attr))

    def _stand_in_kind(self, logical: str) -> str | None:
        """The resource type when `logical` is a resource of the template the local cloud does not
        build (so it gets stand-in values), else None."""
        resources = self.template.get("Resources", {})
        kind = resources.get(logical, {}).get("Type")
        if kind is None and logical.endswith("Role") and resources.get(logical[:-4], {}).get("Type") in (
                "AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            kind = "AWS::IAM::Role"      # the execution role SAM generates for a function or state machine
        return kind if kind and kind not in BUILT_LOCALLY else None

    def resolve(self, value: Any) -> Any:
        """Resolves every intrinsic in value; keys and list items that resolve to AWS::NoValue are
        left out (a value that is AWS::NoValue as a whole resolves to None)."""
        resolved = self._resolve(value)
        return None if resolved is NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self._resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attr(logical, attr)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self._resolve(parts))
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self._resolve(when_true if self.condition(name) else when_false)
        resolved = {k: self._resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attr = name.split(".", 1)
                return str(self.attr(logical, attr))
            return str(self.ref(name))
        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def _scalar(value: Any) -> str:
    """A template scalar as CloudFormation compares it: a string (YAML's true/false in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
