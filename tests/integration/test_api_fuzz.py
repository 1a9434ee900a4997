"""API fuzzing with Schemathesis, driven by the application's own OpenAPI document (/openapi.json),
against a local cloud of its own.

Every operation of the document gets FUZZ_EXAMPLES generated requests (default 25 per operation,
positive and negative data, half of them aimed at things that exist; `FUZZ_EXAMPLES=500 pytest
tests/integration/test_api_fuzz.py::test_api_fuzz -s` for a longer run, with a tally of the answers)
on top of Schemathesis' deterministic coverage cases (boundaries, missing and wrong-typed values,
undeclared query parameters, a request without the token). Each answer must:

- not be a server error (`not_a_server_error`);
- be documented: its status (`status_code_conformance`), content type, headers and body schema
  (`response_schema_conformance`);
- when it is an error, have the documented error body `{error, fields?}` (`error_body_shape` below;
  Schemathesis has no such check): `error` a non-empty string, `fields` an object of strings naming
  the fields to blame, nothing else. The one exception is API Gateway's own 401 `{message}`, which
  the document states as such.

Checks left out, each for its reason:
- `positive_data_acceptance` / `negative_data_rejection`: the API accepts what a spreadsheet row holds
  (trimmed text, `active` spelled yes/no/1/0, a price as a string or number), so "valid for the JSON
  Schema" and "accepted" differ on purpose; its answers to either are checked as every answer is.
- `unsupported_method`: an undeclared method is answered by API Gateway (404 on AWS; the local cloud
  says 405), never by the application.

Destructive operations (delete-all, delete, rotate a secret) run freely: the fuzzing has a local cloud
of its own (`python -m local` in its own process, the session's catalog store), so the other
end-to-end tests never see what it does.

Every defect the fuzzing found is kept below as a plain regression test (`test_regression_*`)."""
from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import HealthCheck

from tests.conftest import LOCAL_CLOUD_PARAMETERS
from tests.support.auth import api_session, auth_header
from tests.support.cloud_process import CloudProcess

# Generated examples per operation (besides the coverage phase's deterministic cases). 25 keeps this
# file at a few minutes per catalog store in `make test`; FUZZ_EXAMPLES=300+ for a longer run.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

UNCHECKED = ("positive_data_acceptance", "negative_data_rejection", "unsupported_method")
ERROR_KEYS = {"error", "fields"}


@pytest.fixture(scope="module")
def fuzz_cloud():
    """The data folder is not under pytest's basetemp: a long run outlives it when other pytest
    sessions start meanwhile (pytest keeps the last three and deletes older ones, data and all)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-cloud-") as data_dir:
        cloud = CloudProcess(Path(data_dir), dict(LOCAL_CLOUD_PARAMETERS))
        yield cloud
        cloud.stop()


@pytest.fixture(scope="module")
def existing(fuzz_cloud) -> dict[str, str]:
    """Path parameter -> the id of something that exists (a product, an import, a delete-all job, a
    webhook endpoint whose receiver answers at once, one of its deliveries, a mapping preset), so that generated
    requests reach them, not only 404s. The fuzzing may change or delete them as it goes."""
    api = api_session(fuzz_cloud)
    url = fuzz_cloud.api_url
    job_id = api.delete(f"{url}/products", timeout=30).json()["id"]
    deadline = time.monotonic() + 120
    while api.get(f"{url}/products/delete-all/{job_id}", timeout=30).json()["status"] not in ("SUCCEEDED", "FAILED"):
        assert time.monotonic() < deadline, "the seed delete-all did not finish"
        time.sleep(0.5)
    assert api.post(f"{url}/products", json={"sku": "Fuzz-1", "name": "Seed"}, timeout=30).status_code == 201
    import_id = api.post(f"{url}/imports", json={"file_name": "seed.csv"}, timeout=30).json()["import"]["id"]
    # the receiver: the local cloud's own port, which answers at once (404, no such route)
    endpoint = api.post(f"{url}/webhooks", json={"url": f"{url}/fuzz-receiver"}, timeout=30).json()
    delivery_id = api.post(f"{url}/webhooks/{endpoint['id']}/test", timeout=30).json()["webhook_id"]
    assert api.put(f"{url}/mappings/fuzz-preset", json={"mapping": {"sku": "Ref"}}, timeout=30).status_code == 201
    return {"sku": "Fuzz-1", "import_id": import_id, "job_id": job_id, "endpoint_id": endpoint["id"],
            "delivery_id": delivery_id, "name": "fuzz-preset"}


@pytest.fixture(scope="module")
def api_schema(fuzz_cloud, existing):
    """The document as a client gets it: from the running API, with a token."""
    response = api_session(fuzz_cloud, "reader").get(f"{fuzz_cloud.api_url}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    schema = schemathesis.openapi.from_dict(response.json())
    schema.config.update(base_url=fuzz_cloud.api_url, suppress_health_check=[HealthCheck.all])
    schema.config.generation.update(max_examples=FUZZ_EXAMPLES)
    for name in UNCHECKED:
        getattr(schema.config.checks, name).enabled = False

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        """Half the time, every path parameter names something that exists."""
        known = {name: existing[name] for name in path_parameters or () if name in existing}
        if not known:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, {**path_parameters, **known}])
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


def error_body_problem(status: int, body) -> str | None:
    """What is wrong with an error answer's body, or None when it has the documented shape."""
    if status == 401 and body == {"message": "Unauthorized"}:
        return None         # API Gateway's JWT authorizer: documented as GatewayError
    if not isinstance(body, dict):
        return f"the body is not a JSON object: {body!r}"
    if set(body) - ERROR_KEYS:
        return f"unexpected keys {sorted(set(body) - ERROR_KEYS)} in {body!r}"
    if not isinstance(body.get("error"), str) or not body["error"].strip():
        return f"no `error` message in {body!r}"
    fields = body.get("fields")
    if "fields" in body and not (isinstance(fields, dict) and fields
                                 and all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())):
        return f"`fields` is not an object of field name -> message: {body!r}"
    return None


def error_body_shape(ctx, response, case):
    """Custom check: every 4xx/5xx answer is `{error, fields?}` (or API Gateway's documented 401)."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = response.content
    problem = error_body_problem(response.status_code, body)
    assert problem is None, f"error body without the documented {{error, fields}} shape: {problem}"
    return None


# --- the defects the fuzzing found, kept as plain examples (run before the fuzzing, on a quiet cloud) ---
def call(cloud, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{cloud.api_url}{path}", headers={**auth_header(cloud), **kwargs.pop("headers", {})},
                            timeout=30, allow_redirects=False, **kwargs)


def assert_error_body(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert error_body_problem(status, body) is None, body
    return body


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("method, path", [("POST", "/products"), ("PATCH", "/products/Fuzz-NJ-1"), ("POST", "/imports"),
                                          ("POST", "/webhooks"), ("POST", "/webhooks/wh_0/test")])
def test_regression_a_body_that_is_not_json_gets_415_and_the_error_body(fuzz_cloud, method, path, content_type):
    """Found: text/plain answered Powertools' own `{statusCode, detail}` (415, undocumented);
    multipart/form-data without its boundary crashed the function (500); a form body was read as if it
    were the JSON object. Every body the API reads is JSON, as the document says."""
    body = json.dumps({"sku": "Fuzz-NJ-1", "name": "x", "file_name": "a.csv", "url": "http://127.0.0.1:9/"})
    if content_type.endswith("urlencoded"):
        body = "sku=Fuzz-NJ-1&name=x&file_name=a.csv&url=http%3A%2F%2F127.0.0.1%3A9%2F"
    response = call(fuzz_cloud, method, path, data=body, headers={"Content-Type": content_type})
    assert assert_error_body(response, 415)["fields"] == {"body": "must be application/json"}
    assert call(fuzz_cloud, "GET", "/products/Fuzz-NJ-1").status_code == 404


@pytest.mark.parametrize("sku", ["€" * 64, "Fuzz€1", 'Fuzz"★ 2', "fuzz%41", "Fuzz\\3`", "\U000c7890\u13b0)"])
def test_regression_a_product_with_any_sku_can_be_read_changed_and_deleted(fuzz_cloud, sku):
    """Found: a path parameter holding a character outside Powertools' route pattern (`€`, `"`, `★`,
    a private-use character...) matched no route: Powertools answered its own 404 `{statusCode,
    message}`, so a product created with such a SKU could never be read, changed or deleted. And a
    SKU holding `%41` was decoded twice (read as `A`)."""
    assert call(fuzz_cloud, "POST", "/products", json={"sku": sku, "name": "Odd"}).status_code == 201
    path = "/products/" + quote(sku, safe="")
    read = call(fuzz_cloud, "GET", path)
    assert read.status_code == 200 and read.json()["sku"] == sku
    changed = call(fuzz_cloud, "PATCH", path, json={"name": "Odd, changed"})
    assert changed.status_code == 200 and changed.json()["name"] == "Odd, changed"
    assert call(fuzz_cloud, "DELETE", path).json()["deleted"]["sku"] == sku
    assert assert_error_body(call(fuzz_cloud, "GET", path), 404)["error"] == f"product '{sku}' not found"


@pytest.mark.parametrize("path", ["/imports/%F1%87%A2%90%E1%8E%B0%29", "/webhooks/%E2%98%85/deliveries",
                                  "/products/delete-all/%22"])
def test_regression_an_odd_id_is_not_found_with_the_error_body(fuzz_cloud, path):
    """Found with the fuzzer's own case (`GET /imports/%F1%87%A2%90%E1%8E%B0%29`): the same route miss, on ids."""
    assert_error_body(call(fuzz_cloud, "GET", path), 404)


def test_regression_deleting_a_webhook_answers_204_with_no_body(fuzz_cloud):
    """Found: the 204 was documented as JSON and sent `Content-Type: application/json` with no body."""
    endpoint = call(fuzz_cloud, "POST", "/webhooks", json={"url": "http://127.0.0.1:9/"}).json()
    response = call(fuzz_cloud, "DELETE", f"/webhooks/{endpoint['id']}")
    assert response.status_code == 204 and response.content == b""
    assert "application/json" not in response.headers.get("content-type", "")
    assert_error_body(call(fuzz_cloud, "DELETE", f"/webhooks/{endpoint['id']}"), 404)


# --- the fuzzing ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tally():
    """Answers per operation and status; printed at the end (`pytest -s` shows it)."""
    seen: Counter[tuple[str, int]] = Counter()
    yield seen
    operations = sorted({label for label, _ in seen})
    print(f"\nAPI fuzzing: {sum(seen.values())} requests, FUZZ_EXAMPLES={FUZZ_EXAMPLES}")
    for label in operations:
        statuses = ", ".join(f"{status}: {n}" for (op, status), n in sorted(seen.items()) if op == label)
        print(f"  {label:58} {statuses}")


@pytest.mark.timeout(600 + 4 * FUZZ_EXAMPLES)   # one test for every operation: 500 examples ran 15 minutes
@schema.parametrize()
def test_api_fuzz(case, fuzz_cloud, tally):
    response = case.call_and_validate(headers=auth_header(fuzz_cloud), additional_checks=[error_body_shape],
                                      timeout=60)
    tally[(case.operation.label, response.status_code)] += 1

