"""`make smoke` (scripts/smoke.py) against the local cloud, with an admin token from the local
issuer: the same script a team runs against a deployed stack."""
from __future__ import annotations

import pytest

from scripts import smoke
from tests.support.auth import token


def test_smoke_script_passes_against_the_local_cloud(local_cloud, capsys):
    assert smoke.main(["--api", local_cloud.api_url, "--token", token(local_cloud, "admin"), "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert "SUCCEEDED" in out and "deleted product" in out and "smoke test passed" in out


def test_smoke_script_fails_without_a_valid_token(local_cloud, capsys):
    assert smoke.main(["--api", local_cloud.api_url, "--token", "not-a-token"]) == 1
    assert "401" in capsys.readouterr().err


def test_smoke_script_fails_for_a_reader(local_cloud, capsys):
    with pytest.raises(smoke.SmokeFailed, match="403"):
        smoke.run(local_cloud.api_url, token(local_cloud, "reader"), log=lambda *_: None)
