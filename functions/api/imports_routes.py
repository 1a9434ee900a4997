"""Routes for /imports: start an upload, follow progress, list history, cancel, error report."""
from typing import Annotated, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field, field_validator

from catalog import cursors, lifecycle, uploads
from catalog.imports import ImportStore
from catalog.settings import get_settings
from http_errors import ApiError

router = Router()


class CreateImportRequest(BaseModel):
    file_name: str = Field(min_length=1, max_length=255, description="Name of the file to upload")
    size: Optional[int] = Field(default=None, ge=1, description="File size in bytes, checked against the limit")

    @field_validator("file_name")
    @classmethod
    def printable(cls, value: str) -> str:
        if any(c < " " for c in value):
            raise ValueError("must not contain control characters")
        return value


def _store() -> ImportStore:
    return ImportStore(get_settings().imports_table)


def _found(import_id: str) -> dict:
    item = _store().get(import_id)
    if item is None:
        raise ApiError(404, f"import '{import_id}' not found")
    return item


def _view(item: dict) -> dict:
    item = lifecycle.expire_abandoned_upload(get_settings(), item)
    view = lifecycle.progress(item)
    if item.get("error_report_key"):
        view["error_report_url"] = f"/imports/{item['id']}/errors"
    return view


@router.post("/imports", summary="Start an import: returns the import id and a presigned upload form")
def create_import(request: CreateImportRequest):
    settings = get_settings()
    if request.size is not None and request.size > settings.max_upload_bytes:
        raise ApiError(413, f"the file is {request.size:,} bytes; the limit is {settings.max_upload_bytes:,}",
                       {"size": f"must be at most {settings.max_upload_bytes}"})
    item, upload = uploads.create_upload(settings, request.file_name, request.size)
    return Response(201, "application/json", {"import": _view(item), "upload": upload})


@router.get("/imports", summary="Import history, newest first")
def list_imports(limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 next: Annotated[Optional[str], Query(description="Cursor from the previous page")] = None):
    after = None
    if next:
        try:
            after = cursors.decode(next, "imports")
        except cursors.BadCursorError as error:
            raise ApiError(400, str(error), {"next": str(error)}) from None
    items, last = _store().list(limit, after)
    return {"items": [_view(i) for i in items], "next": cursors.encode(last, "imports") if last else None}


@router.get("/imports/<import_id>", summary="One import's status and progress")
def get_import(import_id: Annotated[str, Path(max_length=80)]):
    return _view(_found(import_id))


@router.post("/imports/<import_id>/cancel", summary="Cancel a running import")
def cancel_import(import_id: Annotated[str, Path(max_length=80)]):
    _found(import_id)
    cancelled, item = lifecycle.cancel(get_settings(), import_id)
    if not cancelled:
        raise ApiError(409, f"the import has already ended ({item['status']})")
    return _view(item)


@router.get("/imports/<import_id>/errors", summary="Download the bad-rows report (redirect to a signed URL)")
def import_errors(import_id: Annotated[str, Path(max_length=80)]):
    item = _found(import_id)
    if not item.get("error_report_key"):
        raise ApiError(404, "this import has no error report (no bad rows, or it has not finished)")
    url = uploads.report_url(item["bucket"], item["error_report_key"], f"errors-{import_id}.csv")
    return Response(302, "application/json", {"url": url}, headers={"Location": url})
