"""AWS resources built from their definitions in template.yaml (for moto's in-process AWS), so the
tests use the tables, keys and indexes the application is deployed with, never a copy of them."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import boto3

from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
STACK = "catalog"      # the stack name the sample events in events/ are written for

# AWS::DynamoDB::Table properties that are CreateTable arguments as they stand, those applied after
# creation, and those that do not change how a table behaves in a test. Anything else in the
# template fails the helper, so a new property cannot silently be left out of the tests' tables.
_CREATE_ARGUMENTS = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                     "LocalSecondaryIndexes", "ProvisionedThroughput")
_APPLIED_AFTER = ("TimeToLiveSpecification",)
_NOT_NEEDED = ("PointInTimeRecoverySpecification", "Tags", "DeletionProtectionEnabled")


@lru_cache(maxsize=1)
def template() -> dict:
    return tpl.load(ROOT / "template.yaml")


def create_table(logical_id: str, name: str, region: str = REGION) -> str:
    """Creates the table the template defines as `logical_id`, named `name`; returns the name."""
    resource = template()["Resources"][logical_id]
    assert resource["Type"] == "AWS::DynamoDB::Table", f"{logical_id} is a {resource['Type']}"
    props = resource["Properties"]
    unknown = set(props) - set(_CREATE_ARGUMENTS + _APPLIED_AFTER + _NOT_NEEDED)
    assert not unknown, f"{logical_id}: tests/support/template_resources.py does not apply {sorted(unknown)}"
    ddb = boto3.client("dynamodb", region_name=region)
    ddb.create_table(TableName=name, **{k: props[k] for k in _CREATE_ARGUMENTS if k in props})
    if "TimeToLiveSpecification" in props:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    return name


def deployed_template(parameters: dict | None = None, stack: str = STACK) -> dict:
    """The template as CloudFormation deploys it with these parameters (the defaults, then the
    overrides given): resources whose Condition is false left out, e.g. the products table when
    CatalogStore=aurora, the database cluster when CatalogStore=dynamodb."""
    resolver = tpl.Resolver(template=template(), stack=stack, parameters=dict(parameters or {}))
    resolver.check_parameters()
    return resolver.deployed_template()


def database_clusters(parameters: dict | None = None, stack: str = STACK) -> list[str]:
    """The logical ids of the database clusters the template deploys with these parameters."""
    return sorted(tpl.resources_of(deployed_template(parameters, stack), "AWS::RDS::DBCluster"))


class MotoStack:
    """Every table, queue, bucket and state machine the template deploys with the parameters given
    (resources whose Condition is false are left out) in moto (call inside mock_aws), named as the
    local cloud names them (`<stack>-<LogicalId>`, buckets in lower case), and each function's
    environment resolved from the template (Globals merged) with these names.

    moto has no RDS Data API: when the template deploys a database cluster (CatalogStore=aurora),
    `database` is (cluster ARN, secret ARN) of the Data API the handlers reach (e.g.
    tests/support/data_api.py's CLUSTER_ARN and SECRET_ARN), which the cluster's DBClusterArn and
    MasterUserSecret.SecretArn resolve to; the caller points AWS_ENDPOINT_URL_RDS_DATA at it."""

    def __init__(self, parameters: dict | None = None, stack: str = STACK,
                 database: tuple[str, str] | None = None):
        self.resolver = r = tpl.Resolver(template=template(), stack=stack, parameters=dict(parameters or {}))
        r.check_parameters()
        self.resolver.template = t = r.deployed_template()
        account, region = tpl.ACCOUNT, tpl.REGION
        clusters = sorted(tpl.resources_of(t, "AWS::RDS::DBCluster"))
        if clusters and database is None:
            raise ValueError(f"the template deploys the database cluster(s) {clusters} with these parameters: "
                             "pass database=(cluster ARN, secret ARN) of the RDS Data API the handlers reach")
        if len(clusters) > 1:
            raise ValueError(f"one Data API answers for one database cluster, not {clusters}")
        for logical in clusters:
            cluster_arn, secret_arn = database
            r.refs[logical] = cluster_arn.rsplit(":", 1)[-1]          # Ref: the DBClusterIdentifier
            r.attrs[(logical, "DBClusterArn")] = cluster_arn
            r.attrs[(logical, "MasterUserSecret.SecretArn")] = secret_arn
        for logical in tpl.resources_of(t, "AWS::RDS::DBInstance"):
            r.refs[logical] = f"{stack}-{logical}".lower()
        for logical in tpl.resources_of(t, "AWS::DynamoDB::Table"):
            r.refs[logical] = create_table(logical, f"{stack}-{logical}")
            r.attrs[(logical, "Arn")] = f"arn:aws:dynamodb:{region}:{account}:table/{r.refs[logical]}"
        sqs = boto3.client("sqs", region_name=REGION)
        for logical in tpl.resources_of(t, "AWS::SQS::Queue"):
            name = f"{stack}-{logical}"
            r.refs[logical] = sqs.create_queue(QueueName=name)["QueueUrl"]
            r.attrs[(logical, "Arn")] = f"arn:aws:sqs:{region}:{account}:{name}"
            r.attrs[(logical, "QueueName")] = name
        s3 = boto3.client("s3", region_name=REGION)
        for logical in tpl.resources_of(t, "AWS::S3::Bucket"):
            r.refs[logical] = f"{stack}-{logical.lower()}"
            r.attrs[(logical, "Arn")] = f"arn:aws:s3:::{r.refs[logical]}"
            s3.create_bucket(Bucket=r.refs[logical])
        for logical in tpl.resources_of(t, "AWS::Serverless::Function"):
            r.refs[logical] = f"{stack}-{logical}"
            r.attrs[(logical, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{stack}-{logical}"
        sfn = boto3.client("stepfunctions", region_name=REGION)
        for logical, resource in tpl.resources_of(t, "AWS::Serverless::StateMachine").items():
            props = resource["Properties"]
            name = r.resolve(props.get("Name", f"{stack}-{logical}"))
            definition = (ROOT / props["DefinitionUri"]).read_text()
            for key, value in r.resolve(props.get("DefinitionSubstitutions", {})).items():
                definition = definition.replace("${" + key + "}", str(value))
            r.refs[logical] = sfn.create_state_machine(name=name, definition=json.dumps(json.loads(definition)),
                                                       roleArn=f"arn:aws:iam::{account}:role/{name}")["stateMachineArn"]
            r.attrs[(logical, "Name")] = name
            r.attrs[(logical, "Arn")] = r.refs[logical]

    def ref(self, logical_id: str) -> str:
        return self.resolver.refs[logical_id]

    def environment(self, function_logical_id: str) -> dict[str, str]:
        """The function's environment variables as the template sets them."""
        props = tpl.function_properties(self.resolver.template, function_logical_id)
        variables = self.resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        return {key: str(value) for key, value in variables.items()}

    def environment_names(self) -> set[str]:
        """Every variable any function of the template sets."""
        return {name for logical in tpl.resources_of(self.resolver.template, "AWS::Serverless::Function")
                for name in self.environment(logical)}
