"""Publishes the page of a deployed stack: web/ into the page bucket, a config.js written from the
stack's outputs, then a CloudFront invalidation. `make deploy ENV=dev|prod` runs it after
`sam build` and `sam deploy --config-env <env>`:

    python scripts/publish_page.py --config-env dev              # stack name from samconfig.toml
    python scripts/publish_page.py --stack-name catalog-prod --region eu-west-1

The page finds the API and the sign-in through `window.CATALOG_CONFIG` (config.js):
{apiBase, auth: {authorizeUrl, tokenUrl, logoutUrl, clientId, scope}}. With the stack's own Cognito
user pool they come from its outputs; with an existing OIDC issuer (AuthIssuer) from the issuer's
discovery document, the client id being the first of AuthAudience (or --client-id).
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = ROOT / "web"
SAMCONFIG = ROOT / "samconfig.toml"
# A signed-in user's role comes from their group (cognito:groups); the page's client asks for no
# catalog scope (Cognito would grant it to every user whatever their group).
PAGE_SCOPE = "openid email"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json",
                 ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}


def stack_name_of(config_env: str, samconfig: Path = SAMCONFIG) -> str:
    """The stack name samconfig.toml gives the environment (its global, then its deploy parameters)."""
    config = tomllib.loads(samconfig.read_text())
    env = config.get(config_env)
    if env is None:
        raise SystemExit(f"samconfig.toml has no [{config_env}] environment (one of {sorted(config)})")
    for section in ("deploy", "global"):
        name = env.get(section, {}).get("parameters", {}).get("stack_name")
        if name:
            return name
    raise SystemExit(f"samconfig.toml: no stack_name for the {config_env} environment")


def describe(cloudformation, stack: str) -> tuple[dict[str, str], dict[str, str]]:
    """(outputs, parameters) of a deployed stack."""
    found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])}
    return outputs, parameters


def discover(issuer: str) -> dict:
    """An OIDC issuer's discovery document."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=10) as response:   # noqa: S310 (https issuer from the stack)
        return json.load(response)


def page_config(outputs: dict[str, str], parameters: dict[str, str] | None = None, *,
                client_id: str | None = None, discovery=discover) -> dict:
    """CATALOG_CONFIG for the page from the stack's outputs (and parameters, for an external issuer)."""
    parameters = parameters or {}
    api = outputs["ApiUrl"].rstrip("/")
    if outputs.get("AuthDomainUrl"):           # the stack's Cognito user pool and its hosted sign-in
        domain = outputs["AuthDomainUrl"].rstrip("/")
        auth = {"authorizeUrl": f"{domain}/oauth2/authorize", "tokenUrl": outputs.get("TokenUrl") or f"{domain}/oauth2/token",
                "logoutUrl": f"{domain}/logout", "clientId": client_id or outputs["WebClientId"], "scope": PAGE_SCOPE}
    else:                                       # an existing OIDC issuer (AuthIssuer, AuthAudience)
        issuer = parameters.get("AuthIssuer", "")
        if not issuer:
            raise SystemExit("the stack has neither a Cognito sign-in (AuthDomainUrl) nor an AuthIssuer")
        audience = [a.strip() for a in parameters.get("AuthAudience", "").split(",") if a.strip()]
        client = client_id or (audience[0] if audience else "")
        if not client:
            raise SystemExit("an external issuer needs the page's client id: --client-id or AuthAudience")
        document = discovery(issuer)
        auth = {"authorizeUrl": document["authorization_endpoint"], "tokenUrl": document["token_endpoint"],
                "logoutUrl": document.get("end_session_endpoint", ""), "clientId": client, "scope": PAGE_SCOPE}
    return {"apiBase": api, "auth": auth}


def config_js(config: dict) -> str:
    return "window.CATALOG_CONFIG = " + json.dumps(config, indent=2, sort_keys=True) + ";\n"


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def page_files(web_dir: Path = WEB_DIR) -> dict[str, Path]:
    """Bucket key -> local file of everything the page serves, except config.js (written from the stack)."""
    return {p.relative_to(web_dir).as_posix(): p for p in sorted(web_dir.rglob("*"))
            if p.is_file() and p.relative_to(web_dir).as_posix() != "config.js"}


def publish(s3, bucket: str, config: dict, web_dir: Path = WEB_DIR) -> list[str]:
    """Uploads the page and config.js, deletes what the page no longer has; returns the keys written."""
    files = page_files(web_dir)
    # no-cache: browsers revalidate (the files are not fingerprinted); CloudFront is invalidated after.
    for key, path in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type(path),
                      CacheControl="no-cache")
    s3.put_object(Bucket=bucket, Key="config.js", Body=config_js(config).encode(), ContentType="text/javascript",
                  CacheControl="no-cache")
    written = [*files, "config.js"]
    stale = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
             for obj in page.get("Contents", []) if obj["Key"] not in written]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start:start + 1000]]})
    return written


def invalidate(cloudfront, distribution_id: str) -> str:
    response = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"publish-{time.time_ns()}"})
    return response["Invalidation"]["Id"]


def main(argv: list[str] | None = None, session: boto3.session.Session | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment (dev, prod)")
    parser.add_argument("--stack-name", help="the stack (default: samconfig.toml's stack_name of --config-env)")
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--client-id", help="the page's client id with an external issuer (default: first AuthAudience)")
    parser.add_argument("--web-dir", type=Path, default=WEB_DIR)
    args = parser.parse_args(argv)
    session = session or boto3.session.Session(region_name=args.region)
    stack = args.stack_name or stack_name_of(args.config_env)
    outputs, parameters = describe(session.client("cloudformation"), stack)
    config = page_config(outputs, parameters, client_id=args.client_id)
    written = publish(session.client("s3"), outputs["PageBucketName"], config, args.web_dir)
    invalidation = invalidate(session.client("cloudfront"), outputs["DistributionId"])
    print(f"published {len(written)} files to s3://{outputs['PageBucketName']} (CloudFront invalidation {invalidation})")
    print(f"page: {outputs['PageUrl']}\napi:  {outputs['ApiUrl']}")
    if outputs.get("UserPoolId"):
        print(f"users: add them to the group admins or readers of user pool {outputs['UserPoolId']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
