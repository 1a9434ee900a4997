"""Turning a Step Functions error ({Error, Cause}) into one sentence for the person who started
the job (an import, a delete-all or an export).

Only failures the application explains itself (a bad file, a job that did not complete, a
timeout) are put into words from their cause. Any other error's text (a Lambda error message can
name roles, accounts, buckets and ARNs) never reaches users: they read that the job failed with
an internal error and get a request id, under which the raw error is in the logs.
"""
from __future__ import annotations

import json


def error_kind_and_cause(error: dict | None) -> tuple[str, str]:
    """(error type, message) of a Step Functions error, reading a Lambda error's JSON cause."""
    if not error:
        return "", ""
    kind, cause = error.get("Error") or "", error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            kind = parsed.get("errorType") or kind
            cause = parsed.get("errorMessage") or cause
    except (TypeError, ValueError):
        pass
    return str(kind), str(cause)


def readable_failure(error: dict | None, job: str = "import", request_id: str = "") -> str:
    if not error:
        return f"the {job} failed"
    kind, cause = error_kind_and_cause(error)
    if kind.endswith("BadFileError"):
        return f"The file cannot be imported: {cause}"[:1000]
    if kind.endswith("ImportRefused"):
        return f"The {job} was refused: {cause}"[:1000]
    if kind.endswith("CatalogBusy"):
        return f"The {job} waited too long in the queue ({cause})"[:1000]
    if kind.endswith(("IncompleteImportError", "IncompleteDeleteAllError", "IncompleteExportError")):
        return f"The {job} did not complete: {cause}"[:1000]
    if kind == "States.Timeout":
        return f"The {job} took too long and was stopped"
    reference = f" (request id {request_id})" if request_id else ""
    return f"The {job} failed because of an internal error{reference}. Try again; if it fails again, " \
           f"report the request id."
