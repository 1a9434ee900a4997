"""An embedded PostgreSQL with the local RDS Data API in front of it, for tests that call the
catalog's SQL as the functions do (boto3 "rds-data")."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from werkzeug.serving import make_server

from local.cloud import _QuietHandler, free_port
from local.postgres import EmbeddedPostgres
from local.rds_data import DataApi

CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:test-cluster"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-test-AbCdEf"
DATABASE = "catalog"


@contextmanager
def local_data_api(folder: Path) -> Iterator[dict]:
    """Yields {"endpoint", "postgres", "app"}; stops the endpoint and the server afterwards."""
    pg = EmbeddedPostgres(folder / "postgres", settings={"fsync": "off"}).start()
    pg.ensure_database(DATABASE, owner=DATABASE)
    app = DataApi(resource_arn=CLUSTER_ARN, secret_arn=SECRET_ARN, database=DATABASE,
                  conninfo=lambda name: pg.conninfo(name, user=DATABASE))
    port = free_port()
    http = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"endpoint": f"http://127.0.0.1:{port}", "postgres": pg, "app": app}
    finally:
        http.shutdown()
        thread.join(timeout=5)
        app.close()
        pg.stop()


def empty_postgres_catalog(running: dict) -> None:
    """Migrates (first time) and empties the catalog, as a fresh deployment would have it."""
    with psycopg.connect(running["postgres"].conninfo(DATABASE, user=DATABASE), autocommit=True) as connection:
        exists = connection.execute("SELECT to_regclass('products') IS NOT NULL").fetchone()[0]
        if exists:
            connection.execute("TRUNCATE products")
