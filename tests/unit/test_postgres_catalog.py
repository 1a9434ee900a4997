"""The PostgreSQL catalog store's import path, through the RDS Data API (the local endpoint on an
embedded PostgreSQL): created / updated / unchanged counted by one statement per request, an
unchanged row never written, id and created_at kept, a retried chunk counted exactly once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from catalog.imports.rows import ProductRow
from catalog.products import postgres
from catalog.products.catalogs import catalog_store
from catalog.products.postgres import PostgresCatalog
from catalog.shared import cursors
from catalog.shared.settings import Settings
from tests.support.data_api import CLUSTER_ARN, DATABASE, SECRET_ARN

SETTINGS = Settings(catalog_store="aurora", catalog_db_cluster_arn=CLUSTER_ARN, catalog_db_secret_arn=SECRET_ARN,
                    catalog_db_name=DATABASE)
T1, T2 = "2026-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z"


@pytest.fixture
def store(data_api, moto_env, monkeypatch):
    """The catalog on the session's embedded PostgreSQL (tests/unit/conftest.py), emptied. Its page
    cursors are signed with a fixed key (no Secrets Manager here: test_cursor_key.py tests the key)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_RDS_DATA", data_api["endpoint"])
    monkeypatch.setattr(cursors, "_key", lambda: b"a test key for the store's cursors")
    catalog = PostgresCatalog(SETTINGS)         # migrates on first use in this process
    catalog.db.execute("TRUNCATE products")
    return catalog


@pytest.fixture
def db(data_api):
    with psycopg.connect(data_api["postgres"].conninfo(DATABASE, user=DATABASE), autocommit=True) as connection:
        yield connection


def rows(*specs) -> dict[str, ProductRow]:
    """(sku, name[, price[, active]]) -> winners by key, as the planner hands them to a chunk."""
    out = {}
    for line, (sku, name, *rest) in enumerate(specs, start=2):
        price = rest[0] if rest else None
        active = rest[1] if len(rest) > 1 else True
        out[sku.strip().lower()] = ProductRow(line, sku.strip().lower(), sku.strip(), name, "", price, active)
    return out


def stored(db) -> dict[str, dict]:
    cursor = db.execute("SELECT sku_key, sku, name, price::text AS price, active, id, created_at, updated_at, "
                        "import_id, xmin::text AS version FROM products")
    names = [c.name for c in cursor.description]
    return {r[0]: dict(zip(names, r)) for r in cursor.fetchall()}


def counts(write) -> tuple[int, int, int]:
    return write.created, write.updated, write.unchanged


def test_a_first_chunk_creates_every_row_with_stable_ids(store, db):
    write = store.write_chunk("imp_1", 0, rows(("ABC-1", "Oak table", "10.50"), ("b-2", "Chair")), fresh=True, now=T1)
    assert counts(write) == (2, 0, 0)
    products = stored(db)
    assert set(products) == {"abc-1", "b-2"}
    assert products["abc-1"]["sku"] == "ABC-1" and products["abc-1"]["price"] == "10.50"
    assert products["b-2"]["price"] is None and products["b-2"]["import_id"] == "imp_1"
    assert products["abc-1"]["created_at"] == products["abc-1"]["updated_at"]
    ids = postgres.product_id_stream("imp_1:0")
    assert [products["abc-1"]["id"], products["b-2"]["id"]] == [ids(), ids()]


def test_an_identical_row_is_not_written_and_a_changed_one_keeps_id_and_created_at(store, db):
    store.write_chunk("imp_1", 0, rows(("ABC-1", "Oak table", "10.50"), ("b-2", "Chair")), fresh=True, now=T1)
    before = stored(db)
    write = store.write_chunk("imp_2", 0, rows(("abc-1", "Oak table", "10.50"), ("B-2", "Chair", "3.00")),
                              fresh=False, now=T2)
    after = stored(db)
    # abc-1: same content except the SKU's letter case, which is content (the SKU as last written)
    assert counts(write) == (0, 2, 0)
    assert after["abc-1"]["sku"] == "abc-1" and after["b-2"]["sku"] == "B-2" and after["b-2"]["price"] == "3.00"
    for key in ("abc-1", "b-2"):
        assert (after[key]["id"], after[key]["created_at"]) == (before[key]["id"], before[key]["created_at"])
        assert after[key]["updated_at"] > before[key]["updated_at"] and after[key]["import_id"] == "imp_2"
    again = store.write_chunk("imp_3", 0, rows(("abc-1", "Oak table", "10.50"), ("B-2", "Chair", "3.00")),
                              fresh=False, now=T2)
    assert counts(again) == (0, 0, 2)
    assert stored(db) == after          # not one row rewritten: same xmin, same import_id


def test_a_retried_chunk_counts_as_its_first_attempt(store, db):
    store.write_chunk("imp_0", 0, rows(("old-1", "Old"),), fresh=True, now=T1)
    chunk = rows(("old-1", "Old, renamed"), ("new-1", "New"), ("new-2", "Newer"))
    first = store.write_chunk("imp_9", 4, chunk, fresh=False, now=T2)
    written = stored(db)
    retry = store.write_chunk("imp_9", 4, chunk, fresh=False, now=T2)
    assert counts(first) == counts(retry) == (2, 1, 0)
    assert stored(db) == written


def test_a_chunk_that_died_half_way_is_completed_and_counted_once(store, db):
    chunk = rows(*[(f"SKU-{i}", f"Name {i}") for i in range(10)])
    half = dict(list(chunk.items())[:5])
    store.write_chunk("imp_5", 0, half, fresh=True, now=T1)          # the attempt that died before counting
    retry = store.write_chunk("imp_5", 0, chunk, fresh=True, now=T1)
    assert counts(retry) == (10, 0, 0)
    assert len(stored(db)) == 10


def test_rows_are_sent_in_requests_under_the_data_api_limit(store, db, monkeypatch):
    calls = []
    original = store.db.one
    monkeypatch.setattr(store.db, "one", lambda sql, params=None: (calls.append(len(params["rows"])),
                                                                    original(sql, params))[1])
    monkeypatch.setattr(postgres, "REQUEST_BUDGET", 2_000)
    chunk = rows(*[(f"SKU-{i:04d}", "A name long enough to fill a request " + "x" * 40) for i in range(100)])
    write = store.write_chunk("imp_6", 0, chunk, fresh=True, now=T1)
    assert counts(write) == (100, 0, 0) and len(stored(db)) == 100
    assert len(calls) > 5 and max(calls) <= 2_000


def test_migrations_are_applied_once_with_the_indexes(store, db):
    assert [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY version")] == [
        "0001_products", "0002_product_count"]
    indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'products'")}
    assert {"products_pkey", "products_name_trgm", "products_inactive"} <= indexes
    assert postgres.migrate(store.db) == []                           # nothing left to apply


def test_cold_starts_at_once_on_a_new_database_migrate_it_once(store, db):
    """Seen once by the load benchmark (Locust's first users on a fresh local cloud): a first page
    answered 500 with a duplicate key error from the Data API. Containers starting at once on a new
    database each ran `CREATE TABLE IF NOT EXISTS schema_migrations` before taking the advisory lock,
    and two such statements at once can collide in PostgreSQL's catalog; now it runs under the lock.
    The window is narrow (this test did not catch it before the change either): it checks that cold
    starts at once on a new database apply each migration exactly once."""
    for _ in range(10):         # the window is narrow: a few rounds
        db.execute("DROP TABLE IF EXISTS schema_migrations, product_count, products CASCADE")
        db.execute("DROP FUNCTION IF EXISTS product_count_added, product_count_removed, product_count_emptied")
        barrier = threading.Barrier(12)

        def cold_start(_):
            barrier.wait()
            return postgres.migrate(store.db)
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(cold_start, range(12)))
        assert sorted(results, key=len) == [[]] * 11 + [["0001_products", "0002_product_count"]]
        assert db.execute("SELECT n FROM product_count").fetchone()[0] == 0


def test_is_empty_follows_the_table(store):
    assert store.is_empty() is True
    store.write_chunk("imp_7", 0, rows(("x", "X")), fresh=True, now=T1)
    assert store.is_empty() is False


def test_the_deployment_chooses_the_store(store):
    assert isinstance(catalog_store(SETTINGS), PostgresCatalog)
    with pytest.raises(ValueError, match="unknown catalog store 'mysql'"):
        catalog_store(Settings(catalog_store="mysql"))


def test_calls_wait_while_a_paused_cluster_resumes(monkeypatch):
    from botocore.exceptions import ClientError

    from catalog.products import sql
    monkeypatch.setattr(sql.time, "sleep", lambda seconds: None)
    resuming = ClientError({"Error": {"Code": "DatabaseResumingException", "Message": "resuming"}}, "ExecuteStatement")
    answers = [resuming, resuming, {"numberOfRecordsUpdated": 1}]

    def call():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    assert sql.resuming(call) == {"numberOfRecordsUpdated": 1} and answers == []
    with pytest.raises(ClientError, match="resuming"):
        sql.resuming(lambda: (_ for _ in ()).throw(resuming), waits=(0, 0))
    other = ClientError({"Error": {"Code": "BadRequestException", "Message": "bad"}}, "ExecuteStatement")
    with pytest.raises(ClientError, match="bad"):
        sql.resuming(lambda: (_ for _ in ()).throw(other))


def test_the_count_follows_every_kind_of_write(store, db):
    from catalog.products.store import Product
    chunk = rows(*[(f"C-{i}", f"N {i}") for i in range(30)])
    store.write_chunk("imp_c", 0, chunk, fresh=True, now=T1)
    store.write_chunk("imp_d", 0, rows(("C-1", "renamed"), ("C-99", "new")), fresh=False, now=T2)  # 1 update, 1 insert
    assert store.count() == 31
    assert store.insert_product(Product("one", "One", "", None, True, "id-1", T1, T1)) is True
    assert store.insert_product(Product("ONE", "Again", "", None, True, "id-2", T1, T1)) is False
    assert store.delete_product("c-2").sku == "C-2" and store.delete_product("c-2") is None
    assert store.count() == 31 == db.execute("SELECT count(*) FROM products").fetchone()[0]
    position, done = store.delete_segment({}, lambda n: None, lambda: False)
    assert done and store.count() == 0


def test_a_large_import_refreshes_the_planner_statistics(store, db, monkeypatch):
    def analyzed() -> int:
        return db.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'products'").fetchone()[0]
    monkeypatch.setattr(postgres, "ANALYZE_AFTER", 10)
    before = analyzed()
    store.import_finished(9)
    assert analyzed() == before
    store.import_finished(10)
    assert analyzed() == before + 1


def test_matches_are_counted_up_to_a_bound_then_unknown(store, monkeypatch):
    from catalog.products.pages import ProductFilter
    store.write_chunk("imp_m", 0, rows(*[(f"M-{i}", "walnut shelf" if i < 7 else "oak") for i in range(12)]),
                      fresh=True, now=T1)
    monkeypatch.setattr(postgres, "MATCHES_COUNTED_UP_TO", 7)
    page = store.list_products(ProductFilter.of(q="walnut"), 5, None)
    assert (page.total, page.matches, len(page.items)) == (12, 7, 5)
    monkeypatch.setattr(postgres, "MATCHES_COUNTED_UP_TO", 6)
    page = store.list_products(ProductFilter.of(q="Walnut"), 5, None)
    assert (page.total, page.matches, len(page.items)) == (12, None, 5)
