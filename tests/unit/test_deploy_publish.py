"""`make deploy`'s publishing step (scripts/publish_page.py): the page's config.js from the stack's
outputs, the upload into the page bucket, the CloudFront invalidation (moto in-process)."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from scripts import publish_page

REGION = "us-east-1"
COGNITO_OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
    "PageUrl": "https://d111111abcdef8.cloudfront.net/",
    "PageBucketName": "catalog-dev-pagebucket-1",
    "DistributionId": "E2EXAMPLE",
    "UserPoolId": "us-east-1_AbCdEf123",
    "WebClientId": "webclient123",
    "MachineClientId": "machine123",
    "AuthDomainUrl": "https://catalog-dev-123456789012.auth.us-east-1.amazoncognito.com",
    "TokenUrl": "https://catalog-dev-123456789012.auth.us-east-1.amazoncognito.com/oauth2/token",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:catalog-dev-alarms",
}


def parse_config_js(text: str) -> dict:
    prefix = "window.CATALOG_CONFIG = "
    assert text.startswith(prefix) and text.rstrip().endswith(";")
    return json.loads(text[len(prefix):].rstrip().rstrip(";"))


def test_config_for_the_stacks_cognito_sign_in():
    config = publish_page.page_config(COGNITO_OUTPUTS)
    domain = COGNITO_OUTPUTS["AuthDomainUrl"]
    assert config == {"apiBase": COGNITO_OUTPUTS["ApiUrl"], "auth": {
        "authorizeUrl": f"{domain}/oauth2/authorize", "tokenUrl": f"{domain}/oauth2/token",
        "logoutUrl": f"{domain}/logout", "clientId": "webclient123", "scope": "openid email"}}
    # The page's client asks for no catalog/* scope: a user's role comes from their group.
    assert "catalog/" not in config["auth"]["scope"]
    assert parse_config_js(publish_page.config_js(config)) == config


def test_config_for_an_existing_issuer_comes_from_its_discovery_document():
    outputs = {k: v for k, v in COGNITO_OUTPUTS.items()
               if k not in ("UserPoolId", "WebClientId", "MachineClientId", "AuthDomainUrl", "TokenUrl")}
    asked = []

    def discovery(issuer):
        asked.append(issuer)
        return {"authorization_endpoint": "https://id.example.com/authorize", "token_endpoint": "https://id.example.com/token",
                "end_session_endpoint": "https://id.example.com/logout"}
    config = publish_page.page_config(outputs, {"AuthIssuer": "https://id.example.com", "AuthAudience": "page-client,ci"},
                                      discovery=discovery)
    assert asked == ["https://id.example.com"]
    assert config["auth"] == {"authorizeUrl": "https://id.example.com/authorize", "tokenUrl": "https://id.example.com/token",
                              "logoutUrl": "https://id.example.com/logout", "clientId": "page-client", "scope": "openid email"}
    with pytest.raises(SystemExit, match="client id"):
        publish_page.page_config(outputs, {"AuthIssuer": "https://id.example.com", "AuthAudience": ""}, discovery=discovery)


def test_samconfig_has_a_dev_and_a_prod_stack():
    assert publish_page.stack_name_of("dev") != publish_page.stack_name_of("prod")
    with pytest.raises(SystemExit, match="no \\[staging\\]"):
        publish_page.stack_name_of("staging")


@pytest.fixture
def web_dir(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    (tmp_path / "js" / "app.js").write_text("export {};")
    (tmp_path / "config.js").write_text("window.CATALOG_CONFIG = {apiBase: ''};")   # the local one: never published
    return tmp_path


@mock_aws
def test_publish_uploads_the_page_writes_config_js_and_removes_stale_files(web_dir):
    s3 = boto3.client("s3", region_name=REGION)
    bucket = COGNITO_OUTPUTS["PageBucketName"]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="old.html", Body=b"gone")
    config = publish_page.page_config(COGNITO_OUTPUTS)

    written = publish_page.publish(s3, bucket, config, web_dir)

    assert sorted(written) == ["config.js", "index.html", "js/app.js"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["config.js", "index.html", "js/app.js"]
    page = s3.get_object(Bucket=bucket, Key="index.html")
    assert page["ContentType"] == "text/html" and page["CacheControl"] == "no-cache"
    assert s3.get_object(Bucket=bucket, Key="js/app.js")["ContentType"] == "text/javascript"
    published = s3.get_object(Bucket=bucket, Key="config.js")
    assert published["ContentType"] == "text/javascript"
    assert parse_config_js(published["Body"].read().decode()) == config


MINIMAL_STACK = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {key: {"Value": value} for key, value in COGNITO_OUTPUTS.items()},
}


@mock_aws
def test_main_reads_the_stack_publishes_and_invalidates(web_dir, capsys):
    session = boto3.session.Session(region_name=REGION)
    session.client("s3").create_bucket(Bucket=COGNITO_OUTPUTS["PageBucketName"])
    cloudfront = session.client("cloudfront")
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "x", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "page", "DomainName": "b.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "page", "ViewerProtocolPolicy": "redirect-to-https",
                                 "MinTTL": 0, "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}}})["Distribution"]["Id"]
    outputs = {**COGNITO_OUTPUTS, "DistributionId": distribution}
    session.client("cloudformation").create_stack(
        StackName=publish_page.stack_name_of("prod"),
        TemplateBody=json.dumps({**MINIMAL_STACK, "Outputs": {k: {"Value": v} for k, v in outputs.items()}}))

    assert publish_page.main(["--config-env", "prod", "--web-dir", str(web_dir)], session=session) == 0

    invalidations = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    assert invalidations["Quantity"] == 1
    body = session.client("s3").get_object(Bucket=outputs["PageBucketName"], Key="config.js")["Body"].read().decode()
    assert parse_config_js(body)["auth"]["clientId"] == "webclient123"
    assert "https://d111111abcdef8.cloudfront.net/" in capsys.readouterr().out
