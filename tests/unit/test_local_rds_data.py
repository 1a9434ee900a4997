"""The local RDS Data API (local/rds_data.py) on an embedded PostgreSQL (local/postgres.py), called
through a real boto3 "rds-data" client, as the functions call Aurora: typed parameters, both result
formats, a 10,000-row JSON insert, transactions, errors worded as the Data API words them."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import psutil
import pytest
from botocore.exceptions import ClientError

from local.cloud import LocalCloud
from local.rds_data import translate
from tests.support.data_api import CLUSTER_ARN, SECRET_ARN, local_data_api

TIMINGS: dict[str, float] = {}


def rds_client(endpoint: str):
    return boto3.client("rds-data", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An embedded PostgreSQL in a tmp dir and the Data API for it on a free port."""
    with local_data_api(tmp_path_factory.mktemp("rds-data")) as running:
        TIMINGS["postgres start (initdb included)"] = running["postgres"].started_in
        pid = running["postgres"].process.pid
        yield running
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    print("\n" + "\n".join(f"  {name}: {seconds:.2f}s" for name, seconds in TIMINGS.items()))


@pytest.fixture(scope="module")
def rds(server):
    return rds_client(server["endpoint"])


def sql(rds, statement: str, parameters: list | None = None, **kwargs) -> dict:
    return rds.execute_statement(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, sql=statement,
                                 parameters=parameters or [], **kwargs)


def p(name: str, hint: str | None = None, **value) -> dict:
    return {"name": name, "value": value, **({"typeHint": hint} if hint else {})}


def error_of(call) -> dict:
    with pytest.raises(ClientError) as raised:
        call()
    return {"code": raised.value.response["Error"]["Code"], "message": raised.value.response["Error"]["Message"],
            "status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"]}


# --- statements and parameters ------------------------------------------------------------
def test_typed_parameters_round_trip_in_both_result_formats(rds):
    sql(rds, """CREATE TABLE items (
                  id serial PRIMARY KEY, sku text NOT NULL UNIQUE, qty bigint, ratio double precision,
                  active boolean, note text, price numeric(10, 2), attrs jsonb, seen timestamp,
                  day date, at time, uid uuid, tags text[], data bytea)""")
    inserted = sql(rds, """INSERT INTO items (sku, qty, ratio, active, note, price, attrs, seen, day, at, uid, data)
                           VALUES (:sku, :qty, :ratio, :active, :note, :price, :attrs, :seen, :day, :at, :uid, :data)""", [
        p("sku", stringValue="SKU-1"), p("qty", longValue=2 ** 40), p("ratio", doubleValue=0.25),
        p("active", booleanValue=True), p("note", isNull=True), p("price", "DECIMAL", stringValue="1234.50"),
        p("attrs", "JSON", stringValue='{"color": "red", "sizes": [1, 2]}'),
        p("seen", "TIMESTAMP", stringValue="2024-05-06 07:08:09.123456"), p("day", "DATE", stringValue="2024-05-06"),
        p("at", "TIME", stringValue="07:08:09"), p("uid", "UUID", stringValue="5f0b7e5e-2c6a-4f7e-9a51-0c2b1d3e4f5a"),
        p("data", blobValue=b"\x00\x01binary")])
    assert (inserted["numberOfRecordsUpdated"], "records" in inserted) == (1, False)
    sql(rds, "UPDATE items SET tags = ARRAY['a', NULL, 'c'] WHERE sku = :sku", [p("sku", stringValue="SKU-1")])

    listed = sql(rds, "SELECT * FROM items WHERE sku = :sku", [p("sku", stringValue="SKU-1")], includeResultMetadata=True)
    columns = [c["name"] for c in listed["columnMetadata"]]
    row = dict(zip(columns, listed["records"][0]))
    assert row == {"id": {"longValue": 1}, "sku": {"stringValue": "SKU-1"}, "qty": {"longValue": 2 ** 40},
                   "ratio": {"doubleValue": 0.25}, "active": {"booleanValue": True}, "note": {"isNull": True},
                   "price": {"stringValue": "1234.50"}, "attrs": {"stringValue": '{"color": "red", "sizes": [1, 2]}'},
                   "seen": {"stringValue": "2024-05-06 07:08:09.123"}, "day": {"stringValue": "2024-05-06"},
                   "at": {"stringValue": "07:08:09"}, "uid": {"stringValue": "5f0b7e5e-2c6a-4f7e-9a51-0c2b1d3e4f5a"},
                   "tags": {"arrayValue": {"stringValues": ["a", None, "c"]}}, "data": {"blobValue": b"\x00\x01binary"}}
    meta = {c["name"]: c for c in listed["columnMetadata"]}
    assert (meta["id"]["typeName"], meta["id"]["isAutoIncrement"], meta["id"]["nullable"]) == ("serial", True, 0)
    assert (meta["price"]["typeName"], meta["price"]["precision"], meta["price"]["scale"]) == ("numeric", 10, 2)
    assert (meta["sku"]["typeName"], meta["sku"]["tableName"], meta["note"]["nullable"]) == ("text", "items", 1)
    assert (meta["tags"]["typeName"], meta["tags"]["type"]) == ("_text", 2003)

    as_json = sql(rds, "SELECT id, sku, qty, ratio, active, note, price, attrs, tags FROM items",
                  formatRecordsAs="JSON", includeResultMetadata=True)
    assert "records" not in as_json and "columnMetadata" not in as_json
    assert json.loads(as_json["formattedRecords"]) == [
        {"id": 1, "sku": "SKU-1", "qty": 2 ** 40, "ratio": 0.25, "active": True, "note": None, "price": "1234.50",
         "attrs": '{"color": "red", "sizes": [1, 2]}', "tags": ["a", None, "c"]}]
    numbers = sql(rds, "SELECT price, 3::numeric AS whole, qty FROM items", formatRecordsAs="JSON",
                  resultSetOptions={"decimalReturnType": "DOUBLE_OR_LONG", "longReturnType": "STRING"})
    assert json.loads(numbers["formattedRecords"]) == [{"price": 1234.5, "whole": 3, "qty": str(2 ** 40)}]


def test_a_string_without_type_hint_is_varchar_as_on_aurora(rds):
    sql(rds, "CREATE TABLE hinted (id uuid PRIMARY KEY, doc jsonb)")
    error = error_of(lambda: sql(rds, "INSERT INTO hinted (id) VALUES (:id)",
                                 [p("id", stringValue="5f0b7e5e-2c6a-4f7e-9a51-0c2b1d3e4f5a")]))
    assert error["code"] == "DatabaseErrorException"
    assert "is of type uuid but expression is of type character varying" in error["message"]
    sql(rds, "INSERT INTO hinted (id, doc) VALUES (CAST(:id AS uuid), :doc)",
        [p("id", stringValue="5f0b7e5e-2c6a-4f7e-9a51-0c2b1d3e4f5a"), p("doc", "JSON", stringValue='{"a": 1}')])
    assert sql(rds, "SELECT doc->>'a' AS a FROM hinted", formatRecordsAs="JSON")["formattedRecords"] == '[{"a": "1"}]'
    bad = error_of(lambda: sql(rds, "SELECT :t", [p("t", "TIMESTAMP", stringValue="2024-05-06T07:08:09Z")]))
    assert (bad["code"], "YYYY-MM-DD HH:MM:SS" in bad["message"]) == ("BadRequestException", True)


def test_named_parameters_skip_casts_strings_identifiers_and_comments():
    query, used = translate("SELECT :a::int, ':b', \"c:d\", E'it\\'s :e' -- :f\n /* :g /* :h */ */ "
                            "|| 'x%' || :a || $$ :i $$ WHERE s LIKE :pattern", {"a", "b", "d", "e", "f", "g", "h", "i",
                                                                                 "pattern"})
    assert used == ["a", "a", "i", "pattern"]
    assert query == ("SELECT %(a)s::int, ':b', \"c:d\", E'it\\'s :e' -- :f\n /* :g /* :h */ */ "
                     "|| 'x%%' || %(a)s || $$ %(i)s $$ WHERE s LIKE %(pattern)s")
    assert translate("SELECT '100%' FROM t WHERE a = :unknown", {"a"}) == ("SELECT '100%' FROM t WHERE a = :unknown", [])


def test_ten_thousand_rows_as_one_json_parameter(rds):
    sql(rds, "CREATE TABLE bulk (sku text PRIMARY KEY, name text, price numeric(10, 2), qty int)")
    rows = json.dumps([{"sku": f"SKU-{i:05d}", "name": f"Product {i}", "price": f"{i % 1000}.25", "qty": i}
                       for i in range(10_000)])
    started = time.monotonic()
    result = sql(rds, """INSERT INTO bulk (sku, name, price, qty)
                         SELECT sku, name, price, qty
                         FROM jsonb_to_recordset(:rows::jsonb) AS r(sku text, name text, price numeric, qty int)""",
                 [p("rows", "JSON", stringValue=rows)])
    TIMINGS["10,000-row JSON insert through the Data API"] = time.monotonic() - started
    assert result["numberOfRecordsUpdated"] == 10_000
    totals = sql(rds, "SELECT count(*) AS n, sum(qty) AS qty, sum(price) AS price FROM bulk", formatRecordsAs="JSON")
    assert json.loads(totals["formattedRecords"]) == [{"n": 10_000, "qty": sum(range(10_000)),
                                                       "price": f"{sum(i % 1000 for i in range(10_000)) + 2500}.00"}]


def test_batch_execute_runs_each_parameter_set_and_commits_as_a_whole(rds):
    sql(rds, "CREATE TABLE batch (k text PRIMARY KEY, v bigint)")
    result = rds.batch_execute_statement(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN,
                                         sql="INSERT INTO batch (k, v) VALUES (:k, :v)",
                                         parameterSets=[[p("k", stringValue=f"k{i}"), p("v", longValue=i)]
                                                        for i in range(5)])
    assert result["updateResults"] == [{"generatedFields": []}] * 5
    error = error_of(lambda: rds.batch_execute_statement(
        resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, sql="INSERT INTO batch (k, v) VALUES (:k, :v)",
        parameterSets=[[p("k", stringValue="new"), p("v", longValue=1)], [p("k", stringValue="k0"), p("v", longValue=1)]]))
    assert "duplicate key" in error["message"]
    counted = sql(rds, "SELECT count(*) AS n FROM batch", formatRecordsAs="JSON")["formattedRecords"]
    assert json.loads(counted) == [{"n": 5}], "the failed batch left nothing behind"


# --- transactions -------------------------------------------------------------------------
def count(rds, **kwargs) -> int:
    return sql(rds, "SELECT count(*) FROM ledger", **kwargs)["records"][0][0]["longValue"]


def test_a_committed_transaction_is_seen_only_after_commit(rds):
    sql(rds, "CREATE TABLE ledger (id bigint PRIMARY KEY)")
    tx = rds.begin_transaction(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, database="catalog")["transactionId"]
    sql(rds, "INSERT INTO ledger VALUES (:id)", [p("id", longValue=1)], transactionId=tx)
    sql(rds, "INSERT INTO ledger VALUES (:id)", [p("id", longValue=2)], transactionId=tx)
    assert (count(rds, transactionId=tx), count(rds)) == (2, 0)
    committed = rds.commit_transaction(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, transactionId=tx)
    assert committed["transactionStatus"] == "Transaction Committed"
    assert count(rds) == 2


def test_a_rolled_back_transaction_leaves_nothing_and_is_gone(rds):
    tx = rds.begin_transaction(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN)["transactionId"]
    sql(rds, "INSERT INTO ledger VALUES (:id)", [p("id", longValue=3)], transactionId=tx)
    assert count(rds, transactionId=tx) == 3
    rolled = rds.rollback_transaction(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, transactionId=tx)
    assert rolled["transactionStatus"] == "Rollback Complete"
    assert count(rds) == 2
    gone = error_of(lambda: rds.commit_transaction(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, transactionId=tx))
    assert (gone["code"], gone["status"]) == ("TransactionNotFoundException", 404)


def test_calls_run_at_once_on_a_pool_of_connections(rds):
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        pids = list(pool.map(lambda _: sql(rds, "SELECT pg_backend_pid(), pg_sleep(0.4)")["records"][0][0]["longValue"],
                             range(6)))
    assert time.monotonic() - started < 6 * 0.4 * 0.75, "the six calls overlapped"
    assert len(set(pids)) > 1


def test_no_session_state_is_left_between_calls_and_each_call_has_45_seconds(rds):
    sql(rds, "SET work_mem = '77MB'")
    assert sql(rds, "SHOW work_mem")["records"][0][0]["stringValue"] != "77MB"
    assert sql(rds, "SHOW statement_timeout")["records"][0][0]["stringValue"] == "45s"


# --- errors -------------------------------------------------------------------------------
def test_a_sql_error_is_a_database_error_with_postgresql_s_message(rds):
    error = error_of(lambda: sql(rds, "SELECT * FROM no_such_table"))
    assert (error["code"], error["status"]) == ("DatabaseErrorException", 400)
    assert error["message"].startswith('ERROR: relation "no_such_table" does not exist')
    assert error["message"].endswith("; SQLState: 42P01")


def test_a_duplicate_key_is_recognizable(rds):
    sql(rds, "CREATE TABLE uniques (k text PRIMARY KEY)")
    sql(rds, "INSERT INTO uniques VALUES (:k)", [p("k", stringValue="same")])
    error = error_of(lambda: sql(rds, "INSERT INTO uniques VALUES (:k)", [p("k", stringValue="same")]))
    assert error["code"] == "DatabaseErrorException"
    assert error["message"] == ('ERROR: duplicate key value violates unique constraint "uniques_pkey"\n'
                                '  Detail: Key (k)=(same) already exists.; SQLState: 23505')


def test_a_result_over_one_mib_is_refused_as_aurora_refuses_it(rds):
    error = error_of(lambda: sql(rds, "SELECT repeat('x', 600 * 1024) FROM generate_series(1, 2)"))
    assert (error["code"], error["message"]) == ("UnsupportedResultException", "The result exceeds the size limit 1 MB")
    assert len(sql(rds, "SELECT repeat('x', 600 * 1024)")["records"][0][0]["stringValue"]) == 600 * 1024


def test_an_unknown_cluster_or_secret_is_refused(server):
    rds = rds_client(server["endpoint"])
    other = error_of(lambda: rds.execute_statement(resourceArn=CLUSTER_ARN + "x", secretArn=SECRET_ARN, sql="SELECT 1"))
    assert other["code"] == "HttpEndpointNotEnabledException"
    secret = error_of(lambda: rds.execute_statement(resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN + "x", sql="SELECT 1"))
    assert secret["code"] == "SecretsErrorException"


def test_pg_trgm_is_available_to_the_master_user(rds):
    sql(rds, "CREATE EXTENSION IF NOT EXISTS pg_trgm")
    sql(rds, "CREATE TABLE named (name text)")
    sql(rds, "CREATE INDEX named_trgm ON named USING gin (lower(name) gin_trgm_ops)")
    sql(rds, "INSERT INTO named VALUES ('Blue Widget'), ('Red Gadget')")
    found = sql(rds, "SELECT name FROM named WHERE lower(name) LIKE :q", [p("q", stringValue="%widg%")],
                formatRecordsAs="JSON")
    assert json.loads(found["formattedRecords"]) == [{"name": "Blue Widget"}]
    score = sql(rds, "SELECT similarity('widget', 'widgets') AS s", formatRecordsAs="JSON")
    assert json.loads(score["formattedRecords"])[0]["s"] > 0.5
    superuser = sql(rds, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")["records"][0][0]
    assert superuser == {"booleanValue": False}, "the master user is not a superuser, as on Aurora"


# --- the local cloud's part ---------------------------------------------------------------
def test_the_local_cloud_starts_the_database_of_the_template_and_stops_it(tmp_path):
    cloud = LocalCloud(data_dir=tmp_path, parameters={"CatalogStore": "aurora"})
    try:
        cloud._start_database("CatalogDatabase")     # the database part of start(), without dynalite and moto
        arn = cloud.attr("CatalogDatabase", "DBClusterArn")
        secret = cloud.attr("CatalogDatabase", "MasterUserSecret.SecretArn")
        assert arn == "arn:aws:rds:us-east-1:123456789012:cluster:catalog-catalogdatabase"
        assert secret.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-")
        assert cloud.ref("CatalogDatabase") == "catalog-catalogdatabase"
        assert (tmp_path / "postgres" / "PG_VERSION").is_file()
        answer = cloud.client("rds-data").execute_statement(
            resourceArn=arn, secretArn=secret, database="catalog", formatRecordsAs="JSON",
            sql="SELECT current_database() AS db, current_user AS who")
        assert json.loads(answer["formattedRecords"]) == [{"db": "catalog", "who": "catalog"}]
        pid = cloud.postgres.process.pid
    finally:
        cloud.stop()
    assert cloud.postgres.process is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
