"""The RDS Data API, as boto3's "rds-data" client calls it, answered by a local PostgreSQL.

A WSGI app for the five operations the functions use (rest-json, as botocore's service model
defines them): POST /Execute, /BatchExecute, /BeginTransaction, /CommitTransaction and
/RollbackTransaction. The local cloud serves it on its own port and hands the handlers
AWS_ENDPOINT_URL_RDS_DATA, so their code is the code that runs against Aurora.

What it keeps of Aurora PostgreSQL's Data API:
- `:name` parameters, found outside '...' strings, "..." identifiers and comments (and `::` casts).
  Like the Data API it does not skip $$-quoted bodies, so a `:name` there is a parameter too.
- Parameter types as the Data API's JDBC driver sends them: stringValue as varchar (so a uuid,
  json or timestamp column needs a typeHint or a cast), longValue as bigint, doubleValue as double
  precision, booleanValue, blobValue as bytea, isNull untyped; typeHint JSON, UUID, DECIMAL,
  TIMESTAMP, DATE, TIME send the string as json, uuid, numeric, timestamp, date, time (DATE, TIME
  and TIMESTAMP in the documented formats only). A JSON parameter is json, not jsonb:
  `jsonb_to_recordset(:rows::jsonb)`, or `json_to_recordset(:rows)`.
- Results: `records` of Fields (numeric as stringValue unless resultSetOptions say otherwise,
  timestamps as UTC 'YYYY-MM-DD HH:MM:SS[.FFF]', one-dimensional arrays as arrayValue),
  `columnMetadata` when asked, or `formattedRecords` (a JSON string) with formatRecordsAs=JSON.
- Every call outside a transaction commits on its own (a batch as a whole) and leaves no session
  state behind (SET, temporary tables); transactions are keyed by id, each on its own connection,
  rolled back after 3 minutes without a call or 24 hours in all.
- Limits: a request of 4 MiB, SQL of 64 KiB, 1 MiB of result data (10 MiB of formattedRecords),
  45 s per call unless continueAfterTimeout; and the results the Data API refuses (multidimensional
  arrays, "char", interval, xml).
- Errors with the codes and HTTP statuses of the service model; a SQL error is a
  DatabaseErrorException whose message is PostgreSQL's, as the Data API words it:
  'ERROR: duplicate key value violates unique constraint "t_pkey"\\n  Detail: Key (id)=(1) already
  exists.; SQLState: 23505'.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import psycopg
from psycopg import postgres
from psycopg.adapt import AdaptersMap, Dumper
from psycopg.types.numeric import Int8
from psycopg.types.string import TextLoader
from werkzeug.wrappers import Request, Response

log = logging.getLogger("local.rds_data")

MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_SQL_CHARS = 65536
MAX_RESULT_BYTES = 1024 * 1024
MAX_FORMATTED_RESULT_BYTES = 10 * 1024 * 1024
CALL_TIMEOUT_MS = 45_000
TRANSACTION_IDLE_SECONDS = 180
TRANSACTION_MAX_SECONDS = 24 * 3600
POOL_WAIT_SECONDS = 30

TRANSACTION_COMMITTED = "Transaction Committed"
ROLLBACK_COMPLETE = "Rollback Complete"


# --- errors ---------------------------------------------------------------------------------
class DataApiError(Exception):
    """An error answer: HTTP status, the service model's error code, its message."""

    def __init__(self, status: int, code: str, message: str | None = None, **extra: Any):
        super().__init__(message or code)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _bad_request(message: str) -> DataApiError:
    return DataApiError(400, "BadRequestException", message)


def _database_error(error: psycopg.Error) -> DataApiError:
    """A PostgreSQL error worded as the Data API words it (PostgreSQL's JDBC driver's message,
    then the SQLSTATE)."""
    diag = error.diag
    text = f"{diag.severity_nonlocalized or diag.severity or 'ERROR'}: {diag.message_primary or str(error).strip()}"
    for label, value in (("Detail", diag.message_detail), ("Hint", diag.message_hint),
                         ("Position", diag.statement_position), ("Where", diag.context)):
        if value:
            text += f"\n  {label}: {value}"
    if error.sqlstate:
        text += f"; SQLState: {error.sqlstate}"
    if error.sqlstate == "57014" and "statement timeout" in (diag.message_primary or ""):
        return DataApiError(400, "StatementTimeoutException", text)
    return DataApiError(400, "DatabaseErrorException", text)


# --- parameters -----------------------------------------------------------------------------
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = _NAME_START | frozenset(string.digits)


def translate(sql: str, names: Collection[str]) -> tuple[str, list[str]]:
    """Data API SQL -> psycopg SQL: each `:name` whose name is among `names` becomes `%(name)s`
    (and every `%` becomes `%%`). Returns the SQL and the names it uses; with none used, the SQL
    as it was (it then runs without parameters, several statements allowed).

    Skipped, as the Data API skips them: '...' strings (E'...' with backslash escapes), "..."
    identifiers, -- and /* */ comments, `::` casts. Not skipped, as the Data API does not skip
    them: $$-quoted bodies and array slices (`a[lo:hi]` reads `:hi` as a parameter). A `:name`
    without a value stays as it is, and PostgreSQL reports the syntax error."""
    if ":" not in sql:
        return sql, []
    out: list[str] = []
    used: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'" or c == '"':
            escapes = c == "'" and i > 0 and sql[i - 1] in "eE" and (i < 2 or sql[i - 2] not in _NAME_CHARS)
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                elif sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                    else:
                        break
                else:
                    j += 1
            j = min(j + 1, n)
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
        elif c == ":" and sql.startswith("::", i):
            j = i + 2
        elif c == ":" and i + 1 < n and sql[i + 1] in _NAME_START:
            j = i + 1
            while j < n and sql[j] in _NAME_CHARS:
                j += 1
            name = sql[i + 1:j]
            if name in names:
                used.append(name)
                out.append(f"%({name})s")
                i = j
                continue
        else:
            j = i + 1
        out.append(sql[i:j])
        i = j
    if not used:
        return sql, []
    placeholders = {f"%({name})s" for name in used}
    return "".join(p if p in placeholders else p.replace("%", "%%") for p in out), used


class _Typed(str):
    """A string sent with an explicit PostgreSQL type, as the Data API's JDBC driver sends it."""
    pg_type = "varchar"


class _Varchar(_Typed):
    pg_type = "varchar"


class _Json(_Typed):
    pg_type = "json"


class _Uuid(_Typed):
    pg_type = "uuid"


class _Decimal(_Typed):
    pg_type = "numeric"


class _Timestamp(_Typed):
    pg_type = "timestamp"


class _Date(_Typed):
    pg_type = "date"


class _Time(_Typed):
    pg_type = "time"


_TYPE_HINTS: dict[str, tuple[type[_Typed], re.Pattern | None, str]] = {
    "JSON": (_Json, None, ""),
    "UUID": (_Uuid, None, ""),
    "DECIMAL": (_Decimal, None, ""),
    "TIMESTAMP": (_Timestamp, re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?"), "YYYY-MM-DD HH:MM:SS[.FFF]"),
    "DATE": (_Date, re.compile(r"\d{4}-\d{2}-\d{2}"), "YYYY-MM-DD"),
    "TIME": (_Time, re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{1,9})?"), "HH:MM:SS[.FFF]"),
}


def _parameter_value(parameter: dict) -> Any:
    """One SqlParameter's value, typed as the Data API sends it to PostgreSQL."""
    value = parameter.get("value") or {}
    hint = parameter.get("typeHint")
    if "arrayValue" in value:
        raise _bad_request("Array parameters are not supported.")
    if value.get("isNull") or not value:
        return None
    if "stringValue" in value:
        text = value["stringValue"]
        if hint is None:
            return _Varchar(text)
        if hint not in _TYPE_HINTS:
            raise _bad_request(f"Invalid typeHint {hint!r} for parameter {parameter.get('name')}")
        cls, pattern, shape = _TYPE_HINTS[hint]
        if pattern is not None and not pattern.fullmatch(text):
            raise _bad_request(f"Value {text!r} of parameter {parameter.get('name')} does not match "
                               f"the {hint} format {shape}")
        return cls(text)
    if "longValue" in value:
        return Int8(value["longValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "booleanValue" in value:
        return bool(value["booleanValue"])
    if "blobValue" in value:
        return base64.b64decode(value["blobValue"])
    raise _bad_request(f"Parameter {parameter.get('name')} has no value")


def _statement(sql: str, parameters: list[dict]) -> tuple[str, dict | None]:
    """The psycopg query and parameters for Data API SQL and SqlParameters."""
    values: dict[str, Any] = {}
    for parameter in parameters:
        name = parameter.get("name")
        if not name:
            raise _bad_request("Parameter name is required")
        values[name] = _parameter_value(parameter)
    query, used = translate(sql, values)
    return (query, {name: values[name] for name in used}) if used else (sql, None)


# --- adapters: typed parameters out; results as numbers, booleans, bytes or PostgreSQL's text ---
_ADAPTERS = AdaptersMap(psycopg.adapters)


def _text_dumper(type_name: str) -> type[Dumper]:
    class TypedTextDumper(Dumper):
        oid = postgres.types[type_name].oid

        def dump(self, obj: str) -> bytes:
            return obj.encode()
    return TypedTextDumper


for _cls in (_Varchar, _Json, _Uuid, _Decimal, _Timestamp, _Date, _Time):
    _ADAPTERS.register_dumper(_cls, _text_dumper(_cls.pg_type))

# Values the Data API returns as JSON numbers, booleans or base64 keep psycopg's loaders (arrays
# of them too); every other type is read as PostgreSQL's text output, which is what the Data API
# returns in stringValue.
_NATIVE = {"bool", "int2", "int4", "int8", "oid", "float4", "float8", "bytea"}
for _info in postgres.types:
    if _info.name not in _NATIVE:
        _ADAPTERS.register_loader(_info.oid, TextLoader)
_ADAPTERS.register_loader("record", TextLoader)

_OID = {name: postgres.types[name].oid for name in ("bool", "int2", "int4", "int8", "oid", "float4", "float8",
                                                      "numeric", "timestamp", "timestamptz", "date")}
_TIMESTAMPS = {_OID["timestamp"], _OID["timestamptz"]}
_INTEGERS = {_OID["int2"], _OID["int4"], _OID["int8"], _OID["oid"]}
# Result types Aurora's Data API refuses with UnsupportedResultException.
_UNSUPPORTED = {postgres.types[n].oid: n for n in ('"char"', "interval", "xml")}
_UNSUPPORTED.update({postgres.types[n].array_oid: "_" + n.strip('"') for n in ('"char"', "interval", "xml", "regtype")})
_TIMESTAMP_TEXT = re.compile(r"^(\d{4,}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d{1,3})?\d*(?:[+-]\d{2}(?::\d{2}){0,2})?( BC)?$")


def _type_name(oid: int) -> str:
    info = postgres.types.get(oid)
    if info is None:
        return ""
    return f"_{info.name}" if info.array_oid == oid and info.oid != oid else info.name


def _is_array(oid: int) -> bool:
    info = postgres.types.get(oid)
    return info is not None and info.array_oid == oid


def _element_oid(oid: int) -> int:
    info = postgres.types.get(oid)
    return info.oid if info is not None and info.array_oid == oid else oid


# --- results --------------------------------------------------------------------------------
@dataclass
class _Options:
    decimal_as_number: bool = False      # resultSetOptions.decimalReturnType DOUBLE_OR_LONG
    long_as_string: bool = False         # resultSetOptions.longReturnType STRING

    @classmethod
    def of(cls, request: dict) -> _Options:
        options = request.get("resultSetOptions") or {}
        return cls(options.get("decimalReturnType") == "DOUBLE_OR_LONG", options.get("longReturnType") == "STRING")


def _scalar(value: Any, oid: int, options: _Options) -> tuple[str, Any]:
    """(Field member, value) for one non-null scalar of a column of type `oid`."""
    if isinstance(value, bool):
        return "booleanValue", value
    if isinstance(value, int):
        return ("stringValue", str(value)) if options.long_as_string else ("longValue", value)
    if isinstance(value, float):
        return "doubleValue", value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "blobValue", base64.b64encode(bytes(value)).decode()
    text = str(value)
    if oid == _OID["numeric"] and options.decimal_as_number:
        try:
            return ("longValue", int(text)) if re.fullmatch(r"-?\d+", text) else ("doubleValue", float(text))
        except ValueError:
            return "stringValue", text
    if oid in _TIMESTAMPS or oid == _OID["date"]:
        if "infinity" in text:
            raise DataApiError(500, "InternalFailure")   # what Aurora's Data API answers for infinity
        if oid in _TIMESTAMPS:
            match = _TIMESTAMP_TEXT.match(text)
            if match:  # UTC (the session's zone), offset dropped, milliseconds at most
                text = match.group(1) + (match.group(2) or "") + (match.group(3) or "")
    return "stringValue", text


def _field(value: Any, oid: int, options: _Options) -> dict:
    if value is None:
        return {"isNull": True}
    if isinstance(value, list):
        return {"arrayValue": _array(value, _element_oid(oid), options)}
    member, converted = _scalar(value, oid, options)
    return {member: converted}


_ARRAY_MEMBERS = {"booleanValue": "booleanValues", "longValue": "longValues", "doubleValue": "doubleValues",
                  "stringValue": "stringValues", "blobValue": "stringValues"}


def _array(values: list, element_oid: int, options: _Options) -> dict:
    if any(isinstance(v, list) for v in values):
        raise DataApiError(400, "UnsupportedResultException", "The result contains a multidimensional array")
    converted = [None if v is None else _scalar(v, element_oid, options) for v in values]
    members = {c[0] for c in converted if c is not None}
    if not members:
        oid = element_oid
        member = ("booleanValue" if oid == _OID["bool"] else "longValue" if oid in _INTEGERS
                  else "doubleValue" if oid in (_OID["float4"], _OID["float8"]) else "stringValue")
    else:
        member = members.pop() if len(members) == 1 else "stringValue"
    return {_ARRAY_MEMBERS[member]: [None if c is None else c[1] for c in converted]}


def _json_value(value: Any, oid: int, options: _Options) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_json_value(v, _element_oid(oid), options) for v in value]
    return _scalar(value, oid, options)[1]


def _size(value: Any) -> int:
    """Bytes a value takes in the database's answer (what the 1 MiB limit counts)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, list):
        return sum(_size(v) for v in value)
    return 8


# JDBC type codes (java.sql.Types) PostgreSQL's driver reports for each type, for columnMetadata.
_JDBC_TYPES = {"bool": -7, "bit": -7, "int2": 5, "int4": 4, "int8": -5, "oid": -5, "float4": 7, "float8": 8,
               "money": 8, "numeric": 2, "bpchar": 1, "char": 1, "varchar": 12, "text": 12, "name": 12,
               "bytea": -2, "date": 91, "time": 92, "timetz": 92, "timestamp": 93, "timestamptz": 93,
               "refcursor": 2012}
_PRECISION = {"bool": 1, "int2": 5, "int4": 10, "int8": 19, "oid": 10, "float4": 8, "float8": 17, "date": 13,
              "time": 15, "timetz": 21, "timestamp": 29, "timestamptz": 35, "uuid": 36}
_SIGNED = {"int2", "int4", "int8", "float4", "float8", "numeric", "money"}
_CASE_INSENSITIVE = _SIGNED | {"bool", "oid", "date", "time", "timetz", "timestamp", "timestamptz", "uuid", "bit"}
_UNBOUNDED = 2147483647


def _column_metadata(cursor: psycopg.Cursor) -> list[dict]:
    """columnMetadata as the Data API gives it for PostgreSQL (from PostgreSQL's JDBC driver)."""
    result = cursor.pgresult
    description = cursor.description or []
    tables = [(result.ftable(i), result.ftablecol(i)) for i in range(len(description))]
    columns: dict[tuple[int, int], tuple] = {}
    wanted = [(t, c) for t, c in tables if t]
    if wanted:
        rows = cursor.connection.execute(
            """SELECT a.attrelid::int8, a.attnum::int4, c.relname::text, a.attnotnull,
                      a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%%', false)
                 FROM unnest(%s::oid[], %s::int2[]) AS w(rel, num)
                 JOIN pg_attribute a ON a.attrelid = w.rel AND a.attnum = w.num
                 JOIN pg_class c ON c.oid = a.attrelid
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum""",
            [[t for t, _ in wanted], [c for _, c in wanted]]).fetchall()
        columns = {(r[0], r[1]): r[2:] for r in rows}
    metadata = []
    for (table_oid, table_col), column in zip(tables, description):
        oid = column.type_code
        name = _type_name(oid) or cursor.connection.execute(
            "SELECT typname::text FROM pg_type WHERE oid = %s", [oid]).fetchone()[0]
        table, not_null, auto = columns.get((table_oid, table_col), ("", None, False))
        base = name.lstrip("_") if _is_array(oid) else name
        if auto and name in ("int2", "int4", "int8"):
            name = {"int2": "smallserial", "int4": "serial", "int8": "bigserial"}[name]
        if base == "numeric":
            precision, scale = column.precision or 0, column.scale or 0
        elif base in ("varchar", "bpchar") and column.display_size:
            precision, scale = column.display_size, 0
        else:
            precision = _PRECISION.get(base, _UNBOUNDED)
            scale = {"float4": 8, "float8": 17, "timestamp": 6, "timestamptz": 6, "time": 6, "timetz": 6}.get(base, 0)
        metadata.append({
            "name": column.name, "label": column.name, "type": 2003 if _is_array(oid) else _JDBC_TYPES.get(base, 1111),
            "typeName": name, "schemaName": "", "tableName": table or "",
            "isAutoIncrement": bool(auto), "isSigned": base in _SIGNED, "isCurrency": base == "money",
            "isCaseSensitive": base not in _CASE_INSENSITIVE,
            "nullable": 2 if not_null is None else 0 if not_null else 1,
            "precision": precision, "scale": scale,
            "arrayBaseColumnType": _JDBC_TYPES.get(base, 1111) if _is_array(oid) else 0,
        })
    return metadata


# --- connections ----------------------------------------------------------------------------
class _Pool:
    """Connections to one database, autocommit, handed out one caller at a time."""

    def __init__(self, conninfo: str, size: int):
        self.conninfo, self.size = conninfo, size
        self._idle: list[psycopg.Connection] = []
        self._count = 0
        self._ready = threading.Condition()
        self._closed = False

    def take(self) -> psycopg.Connection:
        deadline = time.monotonic() + POOL_WAIT_SECONDS
        with self._ready:
            while True:
                if self._closed:
                    raise DataApiError(503, "ServiceUnavailableError", "The local Data API is stopping")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.size:
                    self._count += 1
                    break
                if not self._ready.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise DataApiError(503, "ServiceUnavailableError", "No database connection free")
        try:
            return psycopg.connect(self.conninfo, autocommit=True, prepare_threshold=None, context=_ADAPTERS,
                                   options=f"-c statement_timeout={CALL_TIMEOUT_MS}")
        except psycopg.Error as error:
            self._forget()
            message = str(error).strip()
            if "does not exist" in message:
                raise DataApiError(400, "DatabaseErrorException", message) from None
            raise DataApiError(504, "DatabaseUnavailableException", message) from None

    def give(self, conn: psycopg.Connection) -> None:
        """Back to the pool with no session state left (SET, temporary tables, prepared
        statements: the Data API keeps none between calls); a broken connection is closed."""
        try:
            if conn.closed or self._closed:
                raise psycopg.OperationalError("closed")
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            conn.execute("DISCARD ALL")
        except psycopg.Error:
            conn.close()
            self._forget()
            return
        with self._ready:
            self._idle.append(conn)
            self._ready.notify()

    def _forget(self) -> None:
        with self._ready:
            self._count -= 1
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._ready.notify_all()
        for conn in idle:
            conn.close()


@dataclass
class _Transaction:
    id: str
    pool: _Pool
    conn: psycopg.Connection
    started: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


# --- the app --------------------------------------------------------------------------------
class DataApi:
    """WSGI app: the RDS Data API for one cluster (resource ARN, secret ARN, default database)."""

    OPERATIONS: ClassVar[dict[str, str]] = {"/Execute": "execute_statement", "/BatchExecute": "batch_execute_statement",
                                            "/BeginTransaction": "begin_transaction",
                                            "/CommitTransaction": "commit_transaction",
                                            "/RollbackTransaction": "rollback_transaction"}

    def __init__(self, *, resource_arn: str, secret_arn: str, database: str, conninfo: Callable[[str], str],
                 pool_size: int = 16):
        self.resource_arn, self.secret_arn, self.database = resource_arn, secret_arn, database
        self.conninfo = conninfo            # database name -> libpq connection string
        self.pool_size = pool_size
        self._pools: dict[str, _Pool] = {}
        self._transactions: dict[str, _Transaction] = {}
        self._lock = threading.Lock()

    # --- HTTP ------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        request_id = str(uuid.uuid4())
        try:
            operation = self.OPERATIONS.get(request.path)
            if request.method != "POST" or operation is None:
                raise DataApiError(404, "UnknownOperationException", f"{request.method} {request.path}")
            if (request.content_length or 0) > MAX_REQUEST_BYTES:
                raise _bad_request(f"Request size exceeds the limit of {MAX_REQUEST_BYTES} bytes")
            body = request.get_data(cache=False)
            if len(body) > MAX_REQUEST_BYTES:
                raise _bad_request(f"Request size exceeds the limit of {MAX_REQUEST_BYTES} bytes")
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise _bad_request("The request body is not valid JSON") from None
            self._expire_transactions()
            self._check_target(payload)
            status, result = 200, getattr(self, operation)(payload)
            headers = {}
        except DataApiError as error:
            status, result = error.status, {"message": error.message, **error.extra} if error.message else {}
            headers = {"x-amzn-ErrorType": error.code}
        except Exception as error:  # an emulator fault is the service's 500, with the cause
            log.exception("local Data API: unexpected error")
            status, result = 500, {"message": f"{type(error).__name__}: {error}"}
            headers = {"x-amzn-ErrorType": "InternalServerErrorException"}
        response = Response(json.dumps(result), status=status, mimetype="application/json")
        response.headers["x-amzn-RequestId"] = request_id
        for key, value in headers.items():
            response.headers[key] = value
        return response(environ, start_response)

    def _check_target(self, payload: dict) -> None:
        for key in ("resourceArn", "secretArn"):
            if not payload.get(key):
                raise _bad_request(f"{key} is required")
        if payload["resourceArn"] != self.resource_arn:
            raise DataApiError(400, "HttpEndpointNotEnabledException",
                               f"HttpEndpoint is not enabled for resource {payload['resourceArn']}")
        secret = payload["secretArn"]
        name = self.secret_arn.rsplit(":", 1)[-1]
        if secret not in (self.secret_arn, name, name.rsplit("-", 1)[0], self.secret_arn.rsplit("-", 1)[0]):
            raise DataApiError(400, "SecretsErrorException", f"Secrets Manager can't find the specified secret {secret}")

    # --- operations --------------------------------------------------------------------------
    def execute_statement(self, request: dict) -> dict:
        sql = self._sql(request)
        query, params = _statement(sql, request.get("parameters") or [])
        options = _Options.of(request)
        with self._connection(request) as conn, conn.cursor() as cursor:
            self._run(cursor, request, lambda: cursor.execute(query, params))
            if cursor.description is None:
                return {"numberOfRecordsUpdated": max(cursor.rowcount, 0), "generatedFields": []}
            rows = cursor.fetchall()
            oids = [column.type_code for column in cursor.description]
            for oid in oids:
                if oid in _UNSUPPORTED:
                    raise DataApiError(400, "UnsupportedResultException",
                                       f"The result contains the unsupported data type {_UNSUPPORTED[oid]}")
            if sum(_size(value) for row in rows for value in row) > MAX_RESULT_BYTES:
                raise DataApiError(400, "UnsupportedResultException", "The result exceeds the size limit 1 MB")
            response: dict[str, Any] = {"numberOfRecordsUpdated": 0}
            if request.get("formatRecordsAs") == "JSON":
                labels = [column.name for column in cursor.description]
                formatted = json.dumps([{label: _json_value(value, oid, options)
                                         for label, value, oid in zip(labels, row, oids)} for row in rows])
                if len(formatted.encode()) > MAX_FORMATTED_RESULT_BYTES:
                    raise DataApiError(400, "UnsupportedResultException", "The result exceeds the size limit 10 MB")
                response["formattedRecords"] = formatted
            else:
                response["records"] = [[_field(value, oid, options) for value, oid in zip(row, oids)] for row in rows]
                if request.get("includeResultMetadata"):
                    response["columnMetadata"] = _column_metadata(cursor)
            return response

    def batch_execute_statement(self, request: dict) -> dict:
        sql = self._sql(request)
        statements = [_statement(sql, parameter_set) for parameter_set in request.get("parameterSets") or []]
        if not statements:
            return {"updateResults": []}
        query = statements[0][0]
        if any(other != query for other, _ in statements):
            raise _bad_request("Every parameter set must give a value to the same parameters")
        in_transaction = bool(request.get("transactionId"))
        with self._connection(request) as conn, conn.cursor() as cursor:
            def run():
                if all(params is None for _, params in statements):
                    for _ in statements:
                        cursor.execute(sql)
                else:
                    cursor.executemany(query, [params or {} for _, params in statements])
            if in_transaction:
                self._run(cursor, request, run)
            else:  # outside a transaction the batch commits as a whole, or not at all
                self._run(cursor, request, lambda: _in_transaction(conn, run))
        return {"updateResults": [{"generatedFields": []} for _ in statements]}

    def begin_transaction(self, request: dict) -> dict:
        pool = self._pool(request.get("database") or self.database)
        conn = pool.take()
        try:
            conn.execute("BEGIN")
        except psycopg.Error as error:
            pool.give(conn)
            raise _database_error(error) from None
        transaction = _Transaction(secrets.token_urlsafe(96)[:128], pool, conn)
        with self._lock:
            self._transactions[transaction.id] = transaction
        return {"transactionId": transaction.id}

    def commit_transaction(self, request: dict) -> dict:
        transaction = self._end(request)
        try:
            status = transaction.conn.execute("COMMIT").statusmessage
        except psycopg.Error as error:
            raise _database_error(error) from None
        finally:
            transaction.pool.give(transaction.conn)
            transaction.lock.release()
        if status == "ROLLBACK":  # the transaction had failed: PostgreSQL rolled it back instead
            raise DataApiError(400, "DatabaseErrorException", "ERROR: The database returned ROLLBACK, so the "
                               "transaction cannot be committed; SQLState: 25P02")
        return {"transactionStatus": TRANSACTION_COMMITTED}

    def rollback_transaction(self, request: dict) -> dict:
        transaction = self._end(request)
        try:
            transaction.conn.execute("ROLLBACK")
        except psycopg.Error as error:
            raise _database_error(error) from None
        finally:
            transaction.pool.give(transaction.conn)
            transaction.lock.release()
        return {"transactionStatus": ROLLBACK_COMPLETE}

    def close(self) -> None:
        """Rolls back the open transactions and closes every connection."""
        with self._lock:
            transactions, self._transactions = list(self._transactions.values()), {}
            pools, self._pools = list(self._pools.values()), {}
        for transaction in transactions:
            try:
                transaction.conn.close()
            except psycopg.Error:
                pass
        for pool in pools:
            pool.close()

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _sql(request: dict) -> str:
        sql = request.get("sql")
        if not sql:
            raise _bad_request("sql is required")
        if len(sql) > MAX_SQL_CHARS:
            raise _bad_request(f"SQL statement exceeds the maximum length of {MAX_SQL_CHARS} characters")
        return sql

    def _pool(self, database: str) -> _Pool:
        with self._lock:
            if database not in self._pools:
                self._pools[database] = _Pool(self.conninfo(database), self.pool_size)
            return self._pools[database]

    @contextmanager
    def _connection(self, request: dict) -> Iterator[psycopg.Connection]:
        """The transaction's connection (held for the call), or one from the pool for this call."""
        transaction_id = request.get("transactionId")
        if transaction_id:
            transaction = self._transaction(transaction_id)
            with transaction.lock:
                try:
                    yield transaction.conn
                finally:
                    transaction.last_used = time.monotonic()
            return
        pool = self._pool(request.get("database") or self.database)
        conn = pool.take()
        try:
            yield conn
        finally:
            pool.give(conn)

    @staticmethod
    def _run(cursor: psycopg.Cursor, request: dict, action: Callable[[], Any]) -> None:
        """Runs the statement(s); a PostgreSQL error becomes the Data API's error. The call's 45 s
        limit is the session's statement_timeout, lifted for continueAfterTimeout."""
        lift = bool(request.get("continueAfterTimeout"))
        try:
            if lift:
                cursor.execute("SET statement_timeout = 0")
            action()
        except psycopg.Error as error:
            if error.sqlstate is None and cursor.connection.closed:
                raise DataApiError(504, "DatabaseUnavailableException", str(error).strip()) from None
            raised = _database_error(error)
            if raised.code == "StatementTimeoutException":
                raised.extra["dbConnectionId"] = cursor.connection.info.backend_pid
            raise raised from None
        finally:
            if lift and not cursor.connection.closed:
                try:
                    cursor.execute("SET statement_timeout = DEFAULT")
                except psycopg.Error:
                    pass   # a failed transaction refuses it; its end resets the session anyway

    def _transaction(self, transaction_id: str) -> _Transaction:
        with self._lock:
            transaction = self._transactions.get(transaction_id)
        if transaction is None:
            raise DataApiError(404, "TransactionNotFoundException", f"Transaction {transaction_id} is not found")
        return transaction

    def _end(self, request: dict) -> _Transaction:
        """Takes the transaction out of the table, holding its lock (released by the caller)."""
        transaction_id = request.get("transactionId")
        if not transaction_id:
            raise _bad_request("transactionId is required")
        transaction = self._transaction(transaction_id)
        transaction.lock.acquire()
        with self._lock:
            if self._transactions.pop(transaction_id, None) is None:   # ended meanwhile
                transaction.lock.release()
                raise DataApiError(404, "TransactionNotFoundException", f"Transaction {transaction_id} is not found")
        return transaction

    def _expire_transactions(self) -> None:
        """Rolls back the transactions no call has used for 3 minutes, or open for 24 hours."""
        now = time.monotonic()
        with self._lock:
            expired = [t for t in self._transactions.values()
                       if now - t.last_used > TRANSACTION_IDLE_SECONDS or now - t.started > TRANSACTION_MAX_SECONDS]
        for transaction in expired:
            if not transaction.lock.acquire(blocking=False):
                continue  # in use right now
            with self._lock:
                current = self._transactions.pop(transaction.id, None)
            if current is not None:
                log.info("local Data API: transaction %s expired, rolled back", transaction.id[:12])
                transaction.pool.give(transaction.conn)   # give() rolls it back
            transaction.lock.release()


def _in_transaction(conn: psycopg.Connection, action: Callable[[], Any]) -> None:
    with conn.transaction():
        action()
