"""The local cloud: AWS emulated on this machine, built from template.yaml.

- DynamoDB: dynalite (Node, LevelDB on disk, so the local catalog survives a restart).
- S3, SQS, Step Functions: moto's server, in this process, with Step Functions executing
  the real ASL; its Lambda calls are answered by the handlers, run in this process.
- The HTTP API and the web page: one local port.
- SQS event sources: pollers that invoke the handlers with batches.
- An Aurora PostgreSQL cluster (when the template's Conditions keep one, e.g. CatalogStore=aurora):
  an embedded PostgreSQL with its data in <data_dir>/postgres, reached through a local RDS Data
  API endpoint on its own port.

Handlers reach the emulators through the standard AWS_ENDPOINT_URL* variables only.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.exceptions import ClientError
from werkzeug.serving import WSGIRequestHandler, make_server

from . import identity, moto_patches, secrets_and_keys
from . import template as tpl
from .event_sources import SqsMapping, SqsPoller
from .faults import FaultMiddleware, FaultPlan, Proxy
from .http_api import HttpApiApp, Route, route_auth_from_template
from .lambdas import FunctionRegistry, LocalFunction
from .postgres import EmbeddedPostgres
from .rds_data import DataApi

log = logging.getLogger("local.cloud")
ROOT = Path(__file__).resolve().parent.parent
LAYER_PATH = ROOT / "layers" / "common" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # one line per request drowns everything else
        pass


class _MotoWithLambda:
    """moto's WSGI app, with Lambda's Invoke API answered by the local handlers."""

    PREFIX = "/2015-03-31/functions/"

    def __init__(self, moto_app, functions: FunctionRegistry):
        self.moto_app = moto_app
        self.functions = functions

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ["REQUEST_METHOD"] == "POST" and path.startswith(self.PREFIX) and path.endswith("/invocations"):
            name = unquote(path[len(self.PREFIX):-len("/invocations")])
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload = environ["wsgi.input"].read(length) if length else b""
            status, headers, body = self.functions.invoke_http(name, payload)
            reason = {200: "OK", 404: "Not Found"}.get(status, "Error")
            start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body))), *headers.items()])
            return [body]
        return self.moto_app(environ, start_response)


def database_arns(stack: str, logical: str, props: dict | None = None) -> tuple[str, str, str]:
    """(cluster identifier, cluster ARN, master secret ARN) the local cloud gives a DB cluster."""
    identifier = str((props or {}).get("DBClusterIdentifier") or f"{stack}-{logical}").lower()
    cluster_arn = f"arn:aws:rds:{tpl.REGION}:{tpl.ACCOUNT}:cluster:{identifier}"
    # A managed master secret is named rds!cluster-<uuid>, with Secrets Manager's 6-character suffix.
    secret_id = uuid.uuid5(uuid.NAMESPACE_URL, cluster_arn)
    suffix = hashlib.sha256(cluster_arn.encode()).hexdigest()[:6]
    return identifier, cluster_arn, f"arn:aws:secretsmanager:{tpl.REGION}:{tpl.ACCOUNT}:secret:rds!cluster-{secret_id}-{suffix}"


class LocalCloud:
    def __init__(self, *, data_dir: Path, api_port: int = 3000, aws_port: int = 4566, dynamodb_port: int = 4567,
                 rds_data_port: int | None = None, parameters: dict[str, Any] | None = None, stack: str = "catalog",
                 host: str = "127.0.0.1", pollers_per_queue: int = 2, environment: dict[str, str] | None = None,
                 faults: FaultPlan | None = None):
        self.data_dir = Path(data_dir)
        self.api_port, self.aws_port, self.dynamodb_port = api_port, aws_port, dynamodb_port
        self.host = host
        template = tpl.load(ROOT / "template.yaml")
        parameters = {**self._auth_parameters(template), **(parameters or {})}
        self.resolver = tpl.Resolver(template, stack, {k: str(v) for k, v in parameters.items()})
        self.resolver.check_parameters()
        # What CloudFormation would deploy with these parameters: resources whose Condition is false are left out.
        self.template = self.resolver.template = self.resolver.deployed_template()
        clusters = tpl.resources_of(self.template, "AWS::RDS::DBCluster")
        if len(clusters) > 1:
            raise RuntimeError(f"template: the local cloud runs one database cluster, not {sorted(clusters)}")
        self.database_cluster: str | None = next(iter(clusters), None)   # logical id
        self.rds_data_port = (rds_data_port or free_port()) if self.database_cluster else None
        self.pollers_per_queue = pollers_per_queue
        self.extra_environment = environment or {}
        self.functions = FunctionRegistry()
        self.pollers: list[SqsPoller] = []
        self.routes: list[Route] = []
        self._servers: list = []
        self._dynalite: subprocess.Popen | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.database_name = self.database_user = None      # the cluster's DatabaseName and MasterUsername
        self._data_api: DataApi | None = None
        # Fault injection (local/faults.py): a plan applied in the emulators' request paths; with
        # one, DynamoDB is reached through a proxy in front of dynalite.
        self.faults = faults if faults is not None else FaultPlan.from_environment()

    def _auth_parameters(self, template: dict) -> dict[str, str]:
        """The template's authorizer pointed at the local issuer (served on the API port), with the
        local clients as its audience (parameters AuthIssuer and AuthAudience), and the page's origin (the
        API port) as the browser origin allowed to upload (AllowedOrigin); each when the template has it."""
        declared = template.get("Parameters", {})
        values = {"AuthIssuer": identity.issuer_of(self.api_url), "AuthAudience": identity.AUDIENCE,
                  "AllowedOrigin": self.api_url}
        return {name: value for name, value in values.items() if name in declared}

    # --- endpoints ---------------------------------------------------------------------
    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def dynamodb_endpoint(self) -> str:
        return f"http://{self.host}:{self.dynamodb_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def rds_data_endpoint(self) -> str | None:
        """The RDS Data API (when the template has a database cluster)."""
        return f"http://{self.host}:{self.rds_data_port}" if self.rds_data_port else None

    def client(self, service: str):
        endpoint = {"dynamodb": self.dynamodb_endpoint, "rds-data": self.rds_data_endpoint}.get(service) \
            or self.aws_endpoint
        return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=tpl.REGION,
                                              aws_access_key_id="local", aws_secret_access_key="local")

    def ref(self, logical_id: str) -> Any:
        return self.resolver.ref(logical_id)

    def attr(self, logical_id: str, name: str) -> Any:
        return self.resolver.attrs[(logical_id, name)]

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> "LocalCloud":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._set_process_environment()
        self._start_dynalite()
        if self.database_cluster:
            self._start_database(self.database_cluster)
        self._start_moto()
        self._provision()
        self.functions.preload()
        for poller in self.pollers:
            poller.start()
        self._start_http()
        return self

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for server, thread in self._servers:
            server.shutdown()
            thread.join(timeout=5)
        if self._data_api is not None:
            self._data_api.close()
        if self.postgres is not None:
            self.postgres.stop()
        if self._dynalite and self._dynalite.poll() is None:
            self._dynalite.terminate()
            try:
                self._dynalite.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._dynalite.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _set_process_environment(self) -> None:
        os.environ.update({
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": tpl.REGION,
            "AWS_REGION": tpl.REGION, "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint, "MOTO_PORT": str(self.aws_port),
        })
        if self.rds_data_endpoint:
            os.environ["AWS_ENDPOINT_URL_RDS_DATA"] = self.rds_data_endpoint
        else:
            os.environ.pop("AWS_ENDPOINT_URL_RDS_DATA", None)
        os.environ.pop("AWS_PROFILE", None)
        if str(LAYER_PATH) not in os.sys.path:
            os.sys.path.insert(0, str(LAYER_PATH))

    def _start_dynalite(self) -> None:
        cli = ROOT / "node_modules" / "dynalite" / "cli.js"
        if not cli.exists():
            raise RuntimeError("dynalite is not installed: run `make setup` (npm ci) first")
        path = self.data_dir / "dynamodb"
        path.mkdir(parents=True, exist_ok=True)
        port = free_port() if self.faults is not None else self.dynamodb_port
        self._dynalite = subprocess.Popen(
            ["node", str(cli), "--port", str(port), "--host", self.host, "--path", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        wait_for_port(port, process=self._dynalite)
        if self.faults is not None:
            self._serve(FaultMiddleware(Proxy(f"http://{self.host}:{port}"), self.faults, "dynamodb"),
                        self.dynamodb_port)

    def _start_database(self, logical: str) -> None:
        """The Aurora cluster: an embedded PostgreSQL (data in <data_dir>/postgres) with the
        cluster's database and master user, and the RDS Data API for it on its own port."""
        r = self.resolver
        props = r.resolve(self.template["Resources"][logical].get("Properties", {}))
        identifier, cluster_arn, secret_arn = database_arns(r.stack, logical, props)
        secret_id = uuid.uuid5(uuid.NAMESPACE_URL, cluster_arn)
        r.refs[logical] = identifier
        r.attrs[(logical, "DBClusterArn")] = cluster_arn
        r.attrs[(logical, "MasterUserSecret.SecretArn")] = secret_arn
        r.attrs[(logical, "DBClusterResourceId")] = f"cluster-{secret_id.hex[:26].upper()}"
        for instance, res in tpl.resources_of(self.template, "AWS::RDS::DBInstance").items():
            r.refs[instance] = str(res.get("Properties", {}).get("DBInstanceIdentifier") or f"{r.stack}-{instance}").lower()

        database, user = props.get("DatabaseName", "postgres"), props.get("MasterUsername", "postgres")
        self.database_name, self.database_user = database, user
        # synchronous_commit=off: a commit returns before its WAL reaches the disk; a crash of the
        # laptop may lose the last moments of work, never corrupts the data.
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", settings={"synchronous_commit": "off"}).start()
        self.postgres.ensure_database(database, owner=user)
        self._data_api = DataApi(resource_arn=cluster_arn, secret_arn=secret_arn, database=database,
                                 conninfo=lambda name: self.postgres.conninfo(name, user=user))
        self._serve(self._data_api if self.faults is None else FaultMiddleware(self._data_api, self.faults, "rds-data"),
                    self.rds_data_port)
        log.info("database %s: PostgreSQL started in %.2fs, Data API at %s", identifier,
                 self.postgres.started_in, self.rds_data_endpoint)

    def _start_moto(self) -> None:
        moto_patches.apply()
        from moto.core.config import default_user_config
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        app = _MotoWithLambda(DomainDispatcherApplication(create_backend_app), self.functions)
        self._serve(app if self.faults is None else FaultMiddleware(app, self.faults), self.aws_port)

    def _start_http(self) -> None:
        """The HTTP API (its routes guarded as the template's Auth says), the page, and the local issuer
        the page signs in with, on the API port."""
        api = tpl.resources_of(self.template, "AWS::Serverless::HttpApi")
        cors = next(iter(api.values()), {}).get("Properties", {}).get("CorsConfiguration")
        self.identity = identity.LocalIssuer(identity.issuer_of(self.api_url))
        config = {"apiBase": "", "local": True, "auth": identity.page_auth_config(self.identity.issuer)}
        config_js = "window.CATALOG_CONFIG = " + json.dumps(config) + ";\n"
        app = HttpApiApp(self.routes, self.functions, ROOT / "web", config_js,
                         self.resolver.resolve(cors) if cors else None,
                         auth=route_auth_from_template(self.template, self.resolver), identity=self.identity)
        self._serve(app, self.api_port)

    def _serve(self, app, port: int) -> None:
        server = make_server(self.host, port, app, threaded=True, request_handler=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True)
        thread.start()
        self._servers.append((server, thread))
        wait_for_port(port)

    # --- resources ---------------------------------------------------------------------
    def _provision(self) -> None:
        t, r = self.template, self.resolver
        stack = r.stack
        for logical, res in tpl.resources_of(t, "AWS::DynamoDB::Table").items():
            name = f"{stack}-{logical}"
            self._create_table(name, res["Properties"])
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:dynamodb:{tpl.REGION}:{tpl.ACCOUNT}:table/{name}"

        sqs = self.client("sqs")
        queues = tpl.resources_of(t, "AWS::SQS::Queue")
        for logical, res in queues.items():
            name = f"{stack}-{logical}"
            props = res.get("Properties", {})
            attributes = {k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
                          if k in props}
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            r.refs[logical] = url
            r.attrs[(logical, "Arn")] = f"arn:aws:sqs:{tpl.REGION}:{tpl.ACCOUNT}:{name}"
            r.attrs[(logical, "QueueName")] = name
            r.attrs[(logical, "QueueUrl")] = url
        for logical, res in queues.items():
            redrive = res.get("Properties", {}).get("RedrivePolicy")
            if redrive:
                sqs.set_queue_attributes(QueueUrl=r.refs[logical],
                                         Attributes={"RedrivePolicy": json.dumps(r.resolve(redrive))})

        s3 = self.client("s3")
        for logical, res in tpl.resources_of(t, "AWS::S3::Bucket").items():
            name = f"{stack}-{logical.lower()}"
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:s3:::{name}"
            r.attrs[(logical, "WebsiteURL")] = f"{self.aws_endpoint}/{name}/index.html"
            r.attrs[(logical, "DomainName")] = f"{self.host}:{self.aws_port}/{name}"
            try:
                s3.create_bucket(Bucket=name)
            except ClientError as error:
                if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            props = r.resolve(res.get("Properties", {}))
            if "CorsConfiguration" in props:
                rules = [{("MaxAgeSeconds" if k == "MaxAge" else k): v for k, v in rule.items()}
                         for rule in props["CorsConfiguration"]["CorsRules"]]
                s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})

        # Secrets Manager secrets and KMS keys, kept in data_dir across restarts (local/secrets_and_keys.py).
        secrets_and_keys.provision(self.client, r, t, self.data_dir)

        functions = {**tpl.resources_of(t, "AWS::Serverless::Function")}
        for logical in functions:
            name = f"{stack}-{logical}"
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:lambda:{tpl.REGION}:{tpl.ACCOUNT}:function:{name}"

        machines = tpl.resources_of(t, "AWS::Serverless::StateMachine")
        for logical, res in machines.items():
            name = r.resolve(res["Properties"].get("Name", f"{stack}-{logical}"))
            r.refs[logical] = f"arn:aws:states:{tpl.REGION}:{tpl.ACCOUNT}:stateMachine:{name}"
            r.attrs[(logical, "Name")] = name
            r.attrs[(logical, "Arn")] = r.refs[logical]

        # Bucket notifications need the queues' ARNs; set them once everything has a name.
        for logical, res in tpl.resources_of(t, "AWS::S3::Bucket").items():
            notifications = r.resolve(res.get("Properties", {}).get("NotificationConfiguration"))
            if notifications:
                s3.put_bucket_notification_configuration(
                    Bucket=r.refs[logical], NotificationConfiguration=_s3_notifications(notifications))

        environment: dict[str, str] = {}
        for logical in functions:
            props = tpl.function_properties(t, logical)
            env = {k: str(v) for k, v in r.resolve(props.get("Environment", {}).get("Variables", {})).items()}
            for key, value in env.items():
                if environment.get(key, value) != value:
                    raise RuntimeError(f"template: {key} differs between functions ({environment[key]} / {value}); "
                                       "the local cloud runs all handlers in one process")
                environment[key] = value
            self.functions.add(LocalFunction(
                logical_id=logical, name=r.refs[logical], code_dir=ROOT / props["CodeUri"],
                handler_spec=props["Handler"], memory=int(props.get("MemorySize", 128)),
                timeout=int(props.get("Timeout", 3))))
            for event in props.get("Events", {}).values():
                self._add_event_source(logical, event)
        environment.update(self.extra_environment)
        os.environ.update(environment)
        self.environment = environment

        sfn = self.client("stepfunctions")
        for logical, res in machines.items():
            props = res["Properties"]
            definition = (ROOT / props["DefinitionUri"]).read_text()
            for key, value in r.resolve(props.get("DefinitionSubstitutions", {})).items():
                definition = definition.replace("${" + key + "}", str(value))
            # moto's state lives in this process, so every start creates the machines afresh.
            name = r.attrs[(logical, "Name")]
            sfn.create_state_machine(name=name, definition=definition,
                                     roleArn=f"arn:aws:iam::{tpl.ACCOUNT}:role/{name}")

    def _add_event_source(self, logical: str, event: dict) -> None:
        props = event.get("Properties", {})
        if event["Type"] == "HttpApi":
            self.routes.append(Route.of(props["Method"], props["Path"], logical))
        elif event["Type"] == "SQS":
            queue_arn = self.resolver.resolve(props["Queue"])
            queue_logical = next(k for (k, a), v in self.resolver.attrs.items() if a == "Arn" and v == queue_arn)
            mapping = SqsMapping(function=logical, queue_url=self.resolver.refs[queue_logical], queue_arn=queue_arn,
                                 batch_size=int(props.get("BatchSize", 10)),
                                 report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                                 pollers=min(self.pollers_per_queue,
                                             int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 1000))),
                                 batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)))
            self.pollers.append(SqsPoller(mapping, self.functions, self.aws_endpoint))

    def _create_table(self, name: str, props: dict) -> None:
        ddb = self.client("dynamodb")
        if name in ddb.list_tables()["TableNames"]:
            return
        kwargs = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes") if k in props}
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
        ddb.create_table(TableName=name, **kwargs)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def _die_with_parent() -> None:
    """In the child: ask Linux to end it when the local cloud's process ends, however that ends.
    (Linux ties this to the starting thread: call LocalCloud.start() from a long-lived thread.)"""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: stop() still ends it on a normal exit


def _s3_notifications(config: dict) -> dict:
    """CloudFormation's notification shape -> the S3 API's."""
    out: dict = {}
    for cfn_key, api_key, target in (("QueueConfigurations", "QueueConfigurations", "Queue"),
                                     ("TopicConfigurations", "TopicConfigurations", "Topic"),
                                     ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function")):
        entries = []
        for entry in config.get(cfn_key, []):
            api_entry = {f"{target}Arn": entry[target], "Events": [entry["Event"]]}
            rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                api_entry["Filter"] = {"Key": {"FilterRules": rules}}
            entries.append(api_entry)
        if entries:
            out[api_key] = entries
    return out
