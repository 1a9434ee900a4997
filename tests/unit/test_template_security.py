"""What makes the stack safe to deploy, read from template.yaml: every route authenticated, the page
private behind CloudFront, keys and secrets given to the functions that use them only, narrow
permissions, retained data, logs that expire, alarms that tell someone."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = tpl.load(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = tpl.resources_of(TEMPLATE, "AWS::Serverless::Function")
MACHINES = tpl.resources_of(TEMPLATE, "AWS::Serverless::StateMachine")


def statements(policies: list) -> list[dict]:
    """The inline statements of a SAM Policies list (Fn::If branches included)."""
    found = []
    for policy in policies:
        branches = policy["Fn::If"][1:] if isinstance(policy, dict) and "Fn::If" in policy else [policy]
        for branch in branches:
            if isinstance(branch, dict) and "Statement" in branch:
                found.extend(branch["Statement"])
    return found


def actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def resolver(parameters: dict | None = None) -> tpl.Resolver:
    return tpl.Resolver(TEMPLATE, "catalog", dict(parameters or {}))


# --- authentication ---------------------------------------------------------------------------
def test_every_route_needs_the_jwt_authorizer():
    auth = RESOURCES["HttpApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "CatalogAuthorizer"
    assert auth["Authorizers"]["CatalogAuthorizer"]["IdentitySource"] == "$request.header.Authorization"
    routes = [(name, event) for name, fn in FUNCTIONS.items() for event in fn["Properties"].get("Events", {}).values()
              if event["Type"] == "HttpApi"]
    assert len(routes) >= 23
    for name, event in routes:
        assert event["Properties"].get("Auth", {}).get("Authorizer", "CatalogAuthorizer") == "CatalogAuthorizer", name


def test_the_authorizer_trusts_the_stacks_user_pool_or_the_issuer_given():
    jwt = RESOURCES["HttpApi"]["Properties"]["Auth"]["Authorizers"]["CatalogAuthorizer"]["JwtConfiguration"]
    own = resolver()
    assert own.condition("CreateUserPool") is True
    pool = own.ref("UserPool")
    assert own.resolve(jwt["issuer"]) == f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
    assert own.resolve(jwt["audience"]) == [own.ref("WebClient"), own.ref("MachineClient")]
    external = resolver({"AuthIssuer": "https://id.example.com", "AuthAudience": "a,b"})
    assert external.condition("CreateUserPool") is False
    assert external.resolve(jwt["issuer"]) == "https://id.example.com"
    assert "UserPool" not in external.deployed_template()["Resources"]


def test_the_page_client_asks_for_no_api_scope_and_returns_to_the_page():
    web = RESOURCES["WebClient"]["Properties"]
    assert web["AllowedOAuthFlows"] == ["code"] and web["GenerateSecret"] is False
    assert not [s for s in web["AllowedOAuthScopes"] if s.startswith("catalog/")]
    assert all("PageDistribution.DomainName" in url["Fn::Sub"] for url in web["CallbackURLs"] + web["LogoutURLs"])
    machine = RESOURCES["MachineClient"]["Properties"]
    assert machine["AllowedOAuthFlows"] == ["client_credentials"] and machine["GenerateSecret"] is True
    assert {g["Properties"]["GroupName"] for g in tpl.resources_of(TEMPLATE, "AWS::Cognito::UserPoolGroup").values()} \
        == {"admins", "readers"}


# --- keys and secrets ---------------------------------------------------------------------------
def environment(name: str) -> dict:
    return tpl.function_properties(TEMPLATE, name).get("Environment", {}).get("Variables", {})


def test_the_cursor_key_reaches_the_api_only():
    assert [n for n in FUNCTIONS if "CURSOR_SECRET_ARN" in environment(n)] == ["ApiFunction"]
    secret = RESOURCES["CursorKeySecret"]["Properties"]["GenerateSecretString"]
    assert secret["PasswordLength"] == 64 and secret["ExcludePunctuation"] is True


def test_only_the_api_and_delivery_may_use_the_webhook_secrets_key():
    assert sorted(n for n in FUNCTIONS if "WEBHOOK_SECRETS_KEY_ARN" in environment(n)) == \
        ["ApiFunction", "WebhookDeliverFunction"]
    key_policy = RESOURCES["WebhookSecretsKey"]["Properties"]["KeyPolicy"]["Statement"]
    crypto = [s for s in key_policy if any(a in ("kms:*", "kms:Encrypt", "kms:Decrypt") or a.startswith("kms:GenerateDataKey")
                                           or a.startswith("kms:ReEncrypt") for a in actions(s))]
    principals = [p for s in crypto for p in s["Principal"]["AWS"]]
    assert principals == [{"Fn::GetAtt": ["ApiFunctionRole", "Arn"]}, {"Fn::GetAtt": ["WebhookDeliverFunctionRole", "Arn"]}]
    # No function's own policy names the key: the key policy is the only grant.
    for fn in FUNCTIONS.values():
        assert "WebhookSecretsKey" not in json.dumps(fn["Properties"].get("Policies", []))


# --- least privilege ----------------------------------------------------------------------------
def test_no_function_or_machine_keeps_a_crud_or_whole_bucket_policy():
    broad = ("S3CrudPolicy", "S3ReadPolicy", "S3WritePolicy", "S3FullAccessPolicy", "DynamoDBCrudPolicy",
             "DynamoDBWritePolicy", "DynamoDBReadPolicy")
    for name, resource in {**FUNCTIONS, **MACHINES}.items():
        text = json.dumps(resource["Properties"].get("Policies", []))
        assert not [b for b in broad if b in text], name


def s3_grants(name: str) -> dict[str, set[str]]:
    """action -> resources (as written, each entry of a statement's list on its own) for a function's
    or machine's S3 statements."""
    grants: dict[str, set[str]] = {}
    for statement in statements(RESOURCES[name]["Properties"].get("Policies", [])):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions(statement):
            if action.startswith("s3:"):
                grants.setdefault(action, set()).update(json.dumps(r) for r in resources)
    return grants


@pytest.mark.parametrize("name, expected", [
    ("ApiFunction", {"s3:PutObject": ["/incoming/*"], "s3:GetObject": ["/reports/*", "/incoming/*", "/preview/*", "/exports/*"],
                     "s3:ListBucket": ["UploadsBucket"]}),
    ("PlanImportFunction", {"s3:GetObject": ["/incoming/*", "/preview/*"], "s3:PutObject": ["/imports/*/manifest.json"]}),
    ("ProcessChunkFunction", {"s3:GetObject": ["/incoming/*", "/preview/*"],
                              "s3:PutObject": ["/imports/*/errors/*", "/imports/*/preview/*"]}),
    ("FinishImportFunction", {"s3:ListBucket": ["UploadsBucket"], "s3:GetObject": ["/imports/*/errors/*", "/imports/*/preview/*"],
                              "s3:PutObject": ["/reports/*"], "s3:AbortMultipartUpload": ["/reports/*"]}),
    ("ImportStateMachine", {"s3:GetObject": ["/imports/*/manifest.json"]}),
    ("ExportFunction", {"s3:PutObject": ["/exports/*"], "s3:AbortMultipartUpload": ["/exports/*"],
                        "s3:GetObject": ["/exports/*"]}),
])
def test_s3_permissions_per_prefix_and_action(name, expected):
    grants = s3_grants(name)
    assert set(grants) == set(expected), name
    for action, fragments in expected.items():
        # One statement per prefix, each naming its prefix.
        resources = sorted(grants[action])
        assert len(resources) == len(fragments), (name, action, resources)
        for fragment in fragments:
            assert len([r for r in resources if fragment in r]) == 1, (name, action, fragment, resources)


def test_functions_without_s3_in_their_code_get_no_s3():
    for name in ("ImportStartFunction", "MarkImportFailedFunction", "DeleteAllFunction", "WebhookFanoutFunction",
                 "WebhookDeliverFunction"):
        assert s3_grants(name) == {}, name


def test_every_bucket_refuses_requests_without_tls_and_none_is_public():
    policies = {r["Properties"]["Bucket"]["Ref"]: r["Properties"]["PolicyDocument"]["Statement"]
                for r in tpl.resources_of(TEMPLATE, "AWS::S3::BucketPolicy").values()}
    for bucket, resource in tpl.resources_of(TEMPLATE, "AWS::S3::Bucket").items():
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in policies.get(bucket, [])), bucket
        assert all(s["Principal"] != "*" for s in policies.get(bucket, []) if s["Effect"] == "Allow"), bucket
        block = resource["Properties"]["PublicAccessBlockConfiguration"]
        assert block == {"BlockAcls": True} or all(block[k] is True for k in
                                                     ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                                      "RestrictPublicBuckets")), bucket


def test_the_page_is_served_by_cloudfront_over_https_with_security_headers():
    config = RESOURCES["PageDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PageOriginAccessControl", "Id"]}
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    headers = RESOURCES["PageResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"][0]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self' ${AuthOrigin}",
                      "connect-src 'self' ${AuthOrigin}"):
        assert directive in csp
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True


def test_allowed_origin_is_the_page_unless_overridden_and_never_a_wildcard():
    spec = TEMPLATE["Parameters"]["AllowedOrigin"]
    assert spec["Default"] == ""
    r = resolver()
    origin = r.resolve(RESOURCES["HttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"])
    assert origin == [f"https://{tpl.stand_in_attr('AWS::CloudFront::Distribution', 'PageDistribution', 'DomainName', 'catalog')}"]
    bucket_rule = RESOURCES["UploadsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0]
    assert r.resolve(bucket_rule["AllowedOrigins"]) == origin
    assert not re.match(spec["AllowedPattern"], "*")
    assert re.match(spec["AllowedPattern"], "http://127.0.0.1:3000")


# --- data protection -----------------------------------------------------------------------------
@pytest.mark.parametrize("table", ["ProductsTable", "WebhooksTable"])
def test_catalog_and_webhook_tables_are_retained_and_protected(table):
    resource = RESOURCES[table]
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    assert resource["Properties"]["DeletionProtectionEnabled"] is True


# --- limits and logs ------------------------------------------------------------------------------
def test_api_limits():
    api = tpl.function_properties(TEMPLATE, "ApiFunction")
    assert api["Timeout"] <= 29
    assert api["ReservedConcurrentExecutions"]["Fn::If"][1] == {"Ref": "ApiReservedConcurrency"}
    stage = RESOURCES["HttpApi"]["Properties"]
    assert stage["DefaultRouteSettings"] == {"ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
                                             "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"}}
    log_format = json.loads(stage["AccessLogSettings"]["Format"])
    assert log_format["requestId"] == "$context.requestId" and log_format["sub"] == "$context.authorizer.claims.sub"
    assert {"route", "status", "latencyMs"} <= set(log_format)


def test_every_log_group_is_declared_with_retention():
    groups = tpl.resources_of(TEMPLATE, "AWS::Logs::LogGroup")
    names = {json.dumps(g["Properties"]["LogGroupName"]) for g in groups.values()}
    for name in FUNCTIONS:
        assert json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"}) in names, name
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for name, machine in MACHINES.items():
        logging = machine["Properties"]["Logging"]
        assert logging["Level"] == "ERROR", name
        (destination,) = logging["Destinations"]
        assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0] in groups, name


def test_the_import_machine_has_an_overall_timeout():
    definition = json.loads((ROOT / MACHINES["ImportStateMachine"]["Properties"]["DefinitionUri"]).read_text())
    assert 0 < definition["TimeoutSeconds"] <= 24 * 3600


# --- alarms -------------------------------------------------------------------------------------
def test_alarms_cover_every_dead_letter_queue_state_machine_the_functions_and_the_api():
    alarms = tpl.resources_of(TEMPLATE, "AWS::CloudWatch::Alarm")
    text = {name: json.dumps(a["Properties"]) for name, a in alarms.items()}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    queues = [q for q in tpl.resources_of(TEMPLATE, "AWS::SQS::Queue") if "DeadLetter" in q]
    assert len(queues) == 3
    for queue in queues:
        assert any(f'"{queue}", "QueueName"' in t for t in text.values()), queue
    for machine in MACHINES:
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            assert any(f'"Ref": "{machine}"' in t and metric in t for t in text.values()), (machine, metric)
    for metric in ("Errors", "Throttles"):
        (alarm,) = [t for t in text.values() if f'"MetricName": "{metric}"' in t and "AWS/Lambda" in t]
        for name in FUNCTIONS:
            # The planner's errors include CatalogBusy, raised by design while another import runs
            # (the machine retries it); its real failures fail the execution (ExecutionsFailed).
            if (metric, name) != ("Errors", "PlanImportFunction"):
                assert f'"Ref": "{name}"' in alarm, (metric, name)
    assert any('"5xx"' in t and "AWS/ApiGateway" in t for t in text.values())
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and subscription["Properties"]["Protocol"] == "email"


def test_the_dashboard_shows_the_contract_metrics():
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for metric in ("ImportsSucceeded", "ImportsFailed", "ImportsCancelled", "RowsImported", "RowsFailed",
                   "ImportDuration", "WebhookDeliveriesSucceeded", "WebhookDeliveriesFailed",
                   "WebhookDeliveryLatency", "WebhookEndpointsDisabled"):
        assert f'"{metric}"' in body, metric
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]     # JSON once substituted
    assert {w["type"] for w in widgets} == {"metric", "alarm"}


def test_outputs_a_user_needs():
    assert {"ApiUrl", "PageUrl", "PageBucketName", "DistributionId", "UserPoolId", "WebClientId", "MachineClientId",
            "AuthDomainUrl", "TokenUrl", "AlarmTopicArn"} <= set(TEMPLATE["Outputs"])
    assert TEMPLATE["Outputs"]["PageUrl"]["Value"]["Fn::Sub"].startswith("https://")
