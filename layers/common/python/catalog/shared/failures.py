"""Turning a Step Functions error ({Error, Cause}) into one sentence for the person who started
the job (an import or a delete-all)."""
from __future__ import annotations

import json


def readable_failure(error: dict | None, job: str = "import") -> str:
    if not error:
        return f"the {job} failed"
    kind, cause = error.get("Error") or "", error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            kind = parsed.get("errorType") or kind
            cause = parsed.get("errorMessage") or cause
    except (TypeError, ValueError):
        pass
    if kind.endswith("BadFileError"):
        return f"The file cannot be imported: {cause}"
    if kind.endswith(("IncompleteImportError", "IncompleteDeleteAllError")):
        return f"The {job} did not complete: {cause}"
    if kind == "States.Timeout":
        return f"The {job} took too long and was stopped"
    return f"The {job} failed ({kind or 'error'}): {cause or 'no details'}"[:1000]
