"""The local cloud reads the template as CloudFormation deploys it: Conditions evaluated against the
parameters (defaults, then overrides), resources whose Condition is false left out, Fn::If resolved,
AWS::NoValue dropping the key or list item it stands for, parameter constraints enforced."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from local import template as tpl
from local.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:catalog-catalogdatabase"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-x-AbCdEf"


def resolver(parameters: dict | None = None, template: dict | None = None) -> tpl.Resolver:
    return tpl.Resolver(template or tpl.load(ROOT / "template.yaml"), "catalog", dict(parameters or {}))


def globals_environment(r: tpl.Resolver) -> dict:
    return r.resolve(r.template["Globals"]["Function"]["Environment"]["Variables"])


# --- the application's template ---------------------------------------------------------------
def test_by_default_the_catalog_is_aurora_and_no_products_table_is_deployed():
    r = resolver()
    assert r.condition("UseAurora") is True and r.condition("UseDynamoDB") is False
    deployed = r.deployed_template()
    assert "CatalogDatabase" in deployed["Resources"] and "CatalogDatabaseInstance" in deployed["Resources"]
    assert "ProductsTable" not in deployed["Resources"]
    assert "ProductsTable" in r.template["Resources"], "the template itself is left as it is"
    r.refs.update({"ImportsTable": "i", "UploadsBucket": "b", "EventsQueue": "q"})
    r.attrs[("CatalogDatabase", "DBClusterArn")] = CLUSTER_ARN
    r.attrs[("CatalogDatabase", "MasterUserSecret.SecretArn")] = SECRET_ARN
    env = globals_environment(r)
    # Fn::If took the false branch without touching the Ref of the products table that is not there.
    assert (env["CATALOG_STORE"], env["PRODUCTS_TABLE"], env["CATALOG_DB_CLUSTER_ARN"], env["CATALOG_DB_SECRET_ARN"],
            env["CATALOG_DB_NAME"]) == ("aurora", "", CLUSTER_ARN, SECRET_ARN, "catalog")


def test_catalog_store_dynamodb_deploys_the_products_table_and_no_database():
    r = resolver({"CatalogStore": "dynamodb"})
    assert r.condition("UseAurora") is False
    deployed = r.deployed_template()
    assert "CatalogDatabase" not in deployed["Resources"] and "CatalogDatabaseInstance" not in deployed["Resources"]
    assert "ProductsTable" in deployed["Resources"]
    assert "CatalogDatabase" in r.template["Resources"], "the template itself is left as it is"
    r.refs.update({"ProductsTable": "t", "ImportsTable": "i", "UploadsBucket": "b", "EventsQueue": "q"})
    env = globals_environment(r)
    # Fn::If took the false branch without touching the GetAtt of the resource that is not there.
    assert (env["CATALOG_STORE"], env["CATALOG_DB_CLUSTER_ARN"], env["CATALOG_DB_SECRET_ARN"], env["CATALOG_DB_NAME"]) \
        == ("dynamodb", "", "", "catalog")


def test_catalog_store_aurora_deploys_the_cluster_and_hands_its_arns_to_the_functions():
    r = resolver({"CatalogStore": "aurora"})
    assert r.condition("UseAurora") is True
    resources = r.deployed_template()["Resources"]
    assert resources["CatalogDatabase"]["Type"] == "AWS::RDS::DBCluster"
    assert resources["CatalogDatabaseInstance"]["Properties"]["DBClusterIdentifier"] == {"Ref": "CatalogDatabase"}
    r.refs.update({"ProductsTable": "t", "ImportsTable": "i", "UploadsBucket": "b", "EventsQueue": "q"})
    r.attrs[("CatalogDatabase", "DBClusterArn")] = CLUSTER_ARN
    r.attrs[("CatalogDatabase", "MasterUserSecret.SecretArn")] = SECRET_ARN
    env = globals_environment(r)
    assert (env["CATALOG_STORE"], env["CATALOG_DB_CLUSTER_ARN"], env["CATALOG_DB_SECRET_ARN"]) == \
        ("aurora", CLUSTER_ARN, SECRET_ARN)
    scaling = r.resolve(resources["CatalogDatabase"]["Properties"]["ServerlessV2ScalingConfiguration"])
    assert scaling == {"MinCapacity": "0", "MaxCapacity": "4"}


def test_the_local_cloud_plans_a_database_and_a_data_api_port_only_for_aurora(tmp_path):
    dynamodb = LocalCloud(data_dir=tmp_path, parameters={"CatalogStore": "dynamodb"})
    assert (dynamodb.database_cluster, dynamodb.rds_data_port, dynamodb.rds_data_endpoint) == (None, None, None)
    assert "CatalogDatabase" not in dynamodb.template["Resources"]
    for parameters in ({}, {"CatalogStore": "aurora"}):      # aurora is the default
        aurora = LocalCloud(data_dir=tmp_path, parameters=parameters)
        assert aurora.database_cluster == "CatalogDatabase"
        assert aurora.rds_data_endpoint == f"http://127.0.0.1:{aurora.rds_data_port}"
        assert "ProductsTable" not in aurora.template["Resources"]


@pytest.mark.parametrize("parameters, message", [
    ({"CatalogStore": "oracle"}, "is not one of"),
    ({"AuroraMaxCapacity": "0"}, "below its MinValue"),
    ({"AuroraMinCapacity": "300"}, "above its MaxValue"),
    ({"AuroraMinCapacity": "lots"}, "is not a number"),
    ({"NoSuchParameter": "1"}, "no parameter named NoSuchParameter"),
])
def test_parameters_are_checked_as_cloudformation_checks_them(tmp_path, parameters, message):
    with pytest.raises(ValueError, match=message):
        resolver(parameters).check_parameters()
    with pytest.raises(ValueError, match=message):
        LocalCloud(data_dir=tmp_path, parameters=parameters)


# --- the condition functions and Fn::If, on a small template ---------------------------------------
SMALL = """
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Replicas: {Type: Number, Default: 1}
  Flag: {Type: String, Default: "true"}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  OneReplica: !Equals [!Ref Replicas, 1]
  FlagOn: !Equals [!Ref Flag, true]
  ProdAndMany: !And [!Condition IsProd, !Not [!Condition OneReplica]]
  ProdOrFlag: !Or [!Condition IsProd, !Condition FlagOn]
  InUsEast: !Equals [!Ref AWS::Region, us-east-1]
Resources:
  Always: {Type: AWS::SQS::Queue}
  ProdOnly: {Type: AWS::SQS::Queue, Condition: IsProd}
  DevOnly: {Type: AWS::SQS::Queue, Condition: IsDev}
  Thing:
    Type: AWS::SQS::Queue
    Properties:
      Name: !If [IsProd, !Sub "${AWS::StackName}-prod", !Sub "${AWS::StackName}-dev"]
      Delay: !If [IsProd, 5, !Ref AWS::NoValue]
      Tags:
        - {Key: always, Value: "1"}
        - !If [ProdAndMany, {Key: many, Value: "1"}, !Ref AWS::NoValue]
        - !If [IsDev, {Key: dev, Value: !If [FlagOn, flag-on, flag-off]}, !Ref AWS::NoValue]
      Nested: {Inner: !If [IsProd, !Ref AWS::NoValue, kept]}
      Joined: !Join ["-", [a, !If [IsProd, b, !Ref AWS::NoValue], c]]
Outputs:
  ProdUrl: {Value: x, Condition: IsProd}
  Always: {Value: y}
"""


def small(parameters: dict | None = None) -> tpl.Resolver:
    return resolver(parameters, yaml.load(SMALL, Loader=tpl._CfnLoader))


def test_condition_functions_evaluate_against_defaults_and_overrides():
    dev, prod, prod_many = small(), small({"Env": "prod"}), small({"Env": "prod", "Replicas": "3"})
    names = ["IsProd", "IsDev", "OneReplica", "FlagOn", "ProdAndMany", "ProdOrFlag", "InUsEast"]
    assert [dev.condition(n) for n in names] == [False, True, True, True, False, True, True]
    assert [prod.condition(n) for n in names] == [True, False, True, True, False, True, True]
    assert [prod_many.condition(n) for n in names] == [True, False, False, True, True, True, True]
    assert small({"Flag": "false"}).condition("ProdOrFlag") is False


def test_resources_and_outputs_with_a_false_condition_are_left_out():
    assert sorted(small().deployed_template()["Resources"]) == ["Always", "DevOnly", "Thing"]
    assert sorted(small().deployed_template()["Outputs"]) == ["Always"]
    prod = small({"Env": "prod"}).deployed_template()
    assert sorted(prod["Resources"]) == ["Always", "ProdOnly", "Thing"]
    assert sorted(prod["Outputs"]) == ["Always", "ProdUrl"]


def test_fn_if_picks_a_branch_and_no_value_drops_the_key_or_the_list_item():
    dev = small()
    props = dev.resolve(dev.template["Resources"]["Thing"]["Properties"])
    assert props == {"Name": "catalog-dev",
                     "Tags": [{"Key": "always", "Value": "1"}, {"Key": "dev", "Value": "flag-on"}],
                     "Nested": {"Inner": "kept"},
                     "Joined": "a-c"}
    prod = small({"Env": "prod", "Replicas": "2"})
    props = prod.resolve(prod.template["Resources"]["Thing"]["Properties"])
    assert props == {"Name": "catalog-prod", "Delay": 5,
                     "Tags": [{"Key": "always", "Value": "1"}, {"Key": "many", "Value": "1"}],
                     "Nested": {},
                     "Joined": "a-b-c"}
    assert dev.resolve({"Ref": "AWS::NoValue"}) is None     # a whole value that is NoValue


def test_an_unknown_or_circular_condition_is_an_error():
    r = resolver(template={"Conditions": {"A": {"Condition": "B"}, "B": {"Fn::Not": [{"Condition": "A"}]}},
                           "Resources": {"X": {"Type": "T", "Condition": "Missing"}}})
    with pytest.raises(ValueError, match="refers to itself"):
        r.condition("A")
    with pytest.raises(KeyError, match="no condition named Missing"):
        r.deployed_template()


@pytest.mark.parametrize("parameters, message", [
    ({"AllowedOrigin": "*"}, "does not match its AllowedPattern"),
    ({"AlarmEmail": "not an address"}, "does not match its AllowedPattern"),
    ({"AuthDomainPrefix": "Upper_Case"}, "does not match its AllowedPattern"),
])
def test_allowed_patterns_are_checked_as_cloudformation_checks_them(parameters, message):
    with pytest.raises(ValueError, match=message):
        resolver(parameters).check_parameters()
    resolver({"AllowedOrigin": "http://127.0.0.1:3000", "AlarmEmail": "ops@example.com"}).check_parameters()


# --- resources the local cloud does not build ---------------------------------------------------
def test_resources_the_local_cloud_does_not_build_get_stable_stand_ins():
    r = resolver()
    # Cognito, CloudFront, Secrets Manager, KMS and SAM's generated roles resolve to values shaped as
    # AWS shapes them, the same on every run, so Fn::Sub and Fn::GetAtt around them resolve.
    pool, client = r.ref("UserPool"), r.ref("WebClient")
    assert pool.startswith("us-east-1_") and pool == resolver().ref("UserPool")
    assert client != r.ref("MachineClient")
    assert r.resolve({"Fn::GetAtt": ["PageDistribution", "DomainName"]}).endswith(".cloudfront.net")
    assert r.ref("CursorKeySecret").startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:catalog-CursorKeySecret-")
    assert r.resolve({"Fn::GetAtt": ["WebhookSecretsKey", "Arn"]}).startswith("arn:aws:kms:us-east-1:123456789012:key/")
    assert r.resolve({"Fn::GetAtt": ["ApiFunctionRole", "Arn"]}) == "arn:aws:iam::123456789012:role/catalog-ApiFunctionRole"
    assert r.resolve({"Fn::Sub": "https://${PageDistribution.DomainName}/"}).startswith("https://d")
    # What the local cloud builds itself is never stood in for: a Ref before it exists is a mistake.
    with pytest.raises(KeyError):
        r.ref("ImportsTable")
    with pytest.raises(KeyError):
        r.resolve({"Fn::GetAtt": ["UploadsBucket", "Arn"]})
    r.refs["CursorKeySecret"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:made-locally"
    assert r.ref("CursorKeySecret").endswith("made-locally"), "what the local cloud made wins"
