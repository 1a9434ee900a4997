"""Routes for /imports: start an upload, follow progress, list history, cancel, error report."""
from typing import Annotated, Literal, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field, field_validator
from schemas import CreatedImport, Import, ImportPage, ReportLink, responses

from catalog.imports import lifecycle, uploads
from catalog.imports.columns import check_mapping
from catalog.imports.errors import ImportNotFound, NoErrorReport
from catalog.imports.presets import PresetStore
from catalog.imports.progress import ImportStore
from catalog.shared import cursors
from catalog.shared.emf import handler_metrics
from catalog.shared.errors import Invalid
from catalog.shared.settings import get_settings

router = Router()
metrics = handler_metrics()   # flushed by the route that records (the API's handler is shared by every route)
TAGS = ["Imports"]   # groups the operations on the docs page


class CreateImportRequest(BaseModel):
    """One model for every way to start an import: a new upload (`file_name`), or the file an earlier
    import or preview uploaded (`from_import`)."""
    file_name: Optional[str] = Field(default=None, min_length=1, max_length=255,
                                     description="Name of the file to upload (required unless from_import is given)")
    size: Optional[int] = Field(default=None, ge=1, description="File size in bytes, checked against the limit")
    mode: Literal["import", "preview"] = Field(
        default="import", description="import writes the catalog; preview (a dry run) writes nothing and "
                                      "reports what an import would do")
    from_import: Optional[str] = Field(
        default=None, min_length=1, max_length=80,
        description="Start at once from the file this earlier import or preview uploaded (no upload; "
                    "the answer's `upload` is null)")
    mapping: Optional[dict[str, str]] = Field(default=None, description="Column mapping {field: header} "
                                              "(fields: sku, name, description, price, active); over the preset's "
                                              "and the built-in aliases")
    preset: Optional[str] = Field(default=None, max_length=40, description="Name of a saved mapping preset (GET /mappings)")

    @field_validator("file_name")
    @classmethod
    def printable(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and any(c < " " for c in value):
            raise ValueError("must not contain control characters")
        return value


def _store() -> ImportStore:
    return ImportStore(get_settings().imports_table)


def _found(import_id: str) -> dict:
    item = _store().get(import_id)
    if item is None:
        raise ImportNotFound(import_id)
    return item


def _view(item: dict) -> dict:
    item = lifecycle.close_if_abandoned(get_settings(), item)
    view = lifecycle.progress(item)
    if item.get("error_report_key"):
        view["error_report_url"] = f"/imports/{item['id']}/errors"
    return view


@router.post("/imports", summary="Start an import or a preview: returns the import id and a presigned upload form, "
                                   "or, with from_import, the import started from the earlier upload", tags=TAGS,
             responses=responses(201, CreatedImport, "The import (PENDING, or QUEUED with from_import) and its upload "
                                                     "form (null with from_import)", 400, 404, 409, 413, 415, 422))
def create_import(request: CreateImportRequest):
    if request.file_name is None and request.from_import is None:
        raise Invalid("invalid request (file_name: is required; or give from_import to use an uploaded file again)",
                      {"file_name": "is required"})
    mapping = check_mapping(request.mapping)
    if request.preset is not None:
        PresetStore(get_settings().imports_table).found(request.preset, field="preset")
    if request.from_import is not None:
        item = lifecycle.start_again(get_settings(), request.from_import, request.mode, mapping=mapping,
                                     preset=request.preset)
        return Response(201, "application/json", {"import": _view(item), "upload": None})
    item, upload = uploads.create_upload(get_settings(), request.file_name, request.size, request.mode,
                                         mapping=mapping, preset=request.preset)
    return Response(201, "application/json", {"import": _view(item), "upload": upload})


@router.get("/imports", summary="Import history, newest first", tags=TAGS,
            responses=responses(200, ImportPage, "One page of imports", 400, 422))
def list_imports(limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 next: Annotated[Optional[str], Query(description="Cursor from the previous page")] = None):
    after = cursors.decode(next, "imports", param="next") if next else None
    items, last = _store().list(limit, after)
    return {"items": [_view(i) for i in items], "next": cursors.encode(last, "imports") if last else None}


@router.get("/imports/<import_id>", summary="One import's status and progress", tags=TAGS,
            responses=responses(200, Import, "The import", 404, 422))
def get_import(import_id: Annotated[str, Path(max_length=80)]):
    return _view(_found(import_id))


@router.post("/imports/<import_id>/cancel", summary="Cancel a running import", tags=TAGS,
             responses=responses(200, Import, "The import, CANCELLED", 404, 409, 422))
def cancel_import(import_id: Annotated[str, Path(max_length=80)]):
    item = lifecycle.cancel(get_settings(), import_id, metrics)
    metrics.flush_metrics()
    return _view(item)


@router.get("/imports/<import_id>/errors", tags=TAGS,
            summary="Download the bad-rows report: a redirect to a signed URL, or the URL itself (200) when the "
                    "request accepts JSON only",
            responses={**responses(302, ReportLink, "Redirect to the report (CSV)", 404, 422,
                                   headers={"Location": "Signed URL of the report"}),
                       200: {"description": "The signed URL (Accept: application/json): a browser page that "
                                            "fetches with its token opens it without a cross-origin redirect",
                             "content": {"application/json": {"model": ReportLink}}}})
def import_errors(import_id: Annotated[str, Path(max_length=80)]):
    item = _found(import_id)
    if not item.get("error_report_key"):
        raise NoErrorReport()
    url = uploads.report_url(item["bucket"], item["error_report_key"], f"errors-{import_id}.csv")
    if _accepts_json_only(router.current_event.headers.get("accept") or ""):
        return Response(200, "application/json", {"url": url})
    return Response(302, "application/json", {"url": url}, headers={"Location": url})


def _accepts_json_only(accept: str) -> bool:
    """A fetch from the page (Accept: application/json) gets the URL; a browser link, curl or a
    script (*/*, text/csv or nothing) gets the redirect."""
    types = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
    return types == {"application/json"}
