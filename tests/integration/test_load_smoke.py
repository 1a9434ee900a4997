"""The load benchmark's Locust file (benchmarks/locustfile.py) against the session's local cloud: a
few seconds of readers and writers, every request answered as expected. No timing is asserted;
`make bench-load` (benchmarks/bench_load.py) prints the figures. Locust lives in the benchmark venv
(.venv-bench, requirements-bench.txt), not in the test venv, so the file runs in a process of its own;
without that venv the test fails and says how to build it (`make test` does)."""
from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote

from tests.support.auth import api_session

ROOT = Path(__file__).resolve().parents[2]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"


def _delete_prefix(http, api_url: str, prefix: str) -> None:
    while True:
        items = http.get(f"{api_url}/products", params={"sku": prefix, "limit": 200}, timeout=30).json()["items"]
        if not items:
            return
        for item in items:
            http.delete(f"{api_url}/products/{quote(item['sku'], safe='')}", timeout=30)


def test_locustfile_runs_against_the_local_cloud_without_errors(local_cloud, tmp_path):
    assert BENCH_PYTHON.exists(), ".venv-bench is missing: `make setup` builds it (as `make test` does)"
    http = api_session(local_cloud, "admin")
    seed = f"SMOKE-LOAD-{uuid.uuid4().hex[:6]}"
    for i in range(30):                                       # something to browse, whatever ran before
        response = http.post(f"{local_cloud.api_url}/products", timeout=30,
                             json={"sku": f"{seed}-{i:03d}", "name": f"Steel smoke {i}", "price": "1.50"})
        assert response.status_code == 201, response.text
    out = tmp_path / "load.json"
    try:
        run = subprocess.run([str(BENCH_PYTHON), str(ROOT / "benchmarks" / "locustfile.py"), "--host", local_cloud.api_url,
                              "--users", "5", "--run-time", "5", "--json", str(out)],
                             cwd=ROOT, capture_output=True, text=True, timeout=90)
        assert run.returncode == 0, run.stdout + run.stderr
        routes = json.loads(out.read_text())["routes"]
        errors = {name: route["error_kinds"] for name, route in routes.items() if route["errors"]}
        assert not errors, f"{errors}\n{run.stdout}"
        assert sum(route["requests"] for route in routes.values()) >= 10, run.stdout
        assert any(name.startswith(("POST", "PATCH", "DELETE")) for name in routes), run.stdout    # a writer ran
    finally:
        _delete_prefix(http, local_cloud.api_url, seed)
        _delete_prefix(http, local_cloud.api_url, "LOAD-")     # the writers' own SKUs that were still there
