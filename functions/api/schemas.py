"""What the API answers, for the OpenAPI document: one pydantic model per response body and, per
route, the statuses it can answer (`responses(...)`). Documentation only: the handlers return plain
dicts, which the end-to-end fuzzing (tests/integration/test_api_fuzz.py) checks against these.

Objects allow properties beyond those listed (items grow fields as an import or a delivery moves on),
except the error body, whose shape is fixed: `{error, fields?}`.

A field that may be absent but is never null is typed without None and given `default=None`
(pydantic does not validate defaults), so the document says "optional" without "nullable".
"""
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

JSON = "application/json"


# --- errors ---------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    """Every error the API function answers."""
    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="What was wrong, for people")
    fields: dict[str, str] = Field(default=None, description="Where one or more fields are to blame: "
                                                             "field name -> what is wrong with it")


class GatewayError(BaseModel):
    """API Gateway's own answer when its JWT authorizer refuses the token (the function never runs)."""
    message: Literal["Unauthorized"]


ERRORS = {
    400: "The request cannot be read (body not JSON, a tampered or foreign cursor)",
    401: "No token, or the token is invalid or expired (answered by API Gateway's JWT authorizer)",
    403: "The token's roles do not allow this: reads need reader or admin, every other method admin",
    404: "Not found",
    409: "Clashes with the current state",
    413: "Over a size limit",
    415: "The body is not JSON (`Content-Type: application/json`)",
    422: "A value is not acceptable; `fields` names each field and what is wrong",
}


def responses(status: int, model: Optional[type[BaseModel]], description: str, *errors: int,
              headers: Optional[dict[str, str]] = None) -> dict[int, dict[str, Any]]:
    """The route's OpenAPI responses: its success (`model` None: no body) and, besides 401 and 403
    (every route), the error statuses it answers."""
    success: dict[str, Any] = {"description": description,
                               "content": {JSON: {"model": model}} if model is not None else {}}
    if headers:
        success["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                              for name, text in headers.items()}
    documented = {status: success,
                  401: {"description": ERRORS[401], "content": {JSON: {"model": GatewayError}}}}
    for code in sorted({403, *errors}):
        documented[code] = {"description": ERRORS[code], "content": {JSON: {"model": ErrorBody}}}
    return documented


# --- products -------------------------------------------------------------------------------
class Product(BaseModel):
    sku: str = Field(description="As last written (the key is the trimmed, lower-cased SKU)")
    name: str
    description: str
    price: Optional[str] = Field(description="Decimal with two places, e.g. \"12.50\"; null for none",
                                 json_schema_extra={"pattern": r"^(0|[1-9][0-9]{0,7})\.[0-9]{2}$"})
    active: bool
    id: str
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC; moves only when something changed")


class ProductPage(BaseModel):
    items: list[Product]
    total: int = Field(description="Products in the catalog")
    matches: Optional[int] = Field(description="Products matching the filters; null when not counted")
    limit: int
    next: Optional[str] = Field(description="Cursor of the next page (`cursor=`); null on the last")
    prev: Optional[str] = Field(description="Cursor of the previous page; null on the first")


class DeletedProduct(BaseModel):
    deleted: Product


class DeleteAllJob(BaseModel):
    id: str
    status: Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"]
    total: int
    deleted: int
    percent: float
    elapsed_seconds: float
    items_per_second: float
    created_at: str
    url: str = Field(default=None, description="Where to poll the job (in the 202 answer)")


class ExportFilters(BaseModel):
    sku: Optional[str] = Field(description="SKU prefix (trimmed, lower-cased); null for none")
    q: Optional[str] = Field(description="Name contains (lower-cased); null for none")
    active: Optional[bool]


class ExportJob(BaseModel):
    id: str
    status: Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"]
    filters: ExportFilters
    total: Optional[int] = Field(description="Products in the catalog for an unfiltered export; null with filters")
    rows: int = Field(description="Products written to the file so far (counted part by part)")
    parts: int = Field(description="Parts of the S3 multipart upload written so far")
    bytes: int = Field(description="Bytes written so far")
    percent: float
    elapsed_seconds: float
    rows_per_second: float
    file_name: str
    created_at: str
    url: str = Field(description="Where to poll the job (also the 202's Location)")
    started_at: str = None
    finished_at: str = None
    error: str = Field(default=None, description="Why it failed, for people")
    request_id: str = Field(default=None, description="Quote it when reporting an internal failure")
    download_url: str = Field(default=None, description="Once SUCCEEDED: a signed GET of the CSV (attachment)")
    download_expires_in: int = Field(default=None, description="Seconds the download link stays valid")


# --- imports --------------------------------------------------------------------------------
class ChangeSample(BaseModel):
    sku: str
    line: int = Field(description="The row's line in the file")
    field: Literal["sku", "name", "description", "price", "active"]
    old: Union[str, bool, None] = Field(description="As stored")
    new: Union[str, bool, None] = Field(description="As the file has it")


class Import(BaseModel):
    id: str
    status: Literal["PENDING", "QUEUED", "PLANNING", "PROCESSING", "FINALIZING", "SUCCEEDED", "FAILED",
                    "CANCELLED"]
    source: str = Field(description="api (POST /imports) or s3 (a file dropped in the bucket)")
    file_name: str
    created_at: str
    rows_processed: int
    created: int
    updated: int
    unchanged: int
    failed: int
    duplicates: int
    percent: float
    elapsed_seconds: float
    rows_per_second: float
    eta_seconds: Optional[float] = Field(description="Estimated seconds left; null when unknown or ended")
    size: Optional[int] = Field(default=None, description="Size in bytes, as announced or measured")
    total_rows: int = None
    unknown_columns: list[str] = None
    started_at: str = None
    finished_at: str = None
    error: str = Field(default=None, description="Why it failed or was cancelled, for people")
    error_report_url: str = Field(default=None, description="GET it for the bad-rows report")
    request_id: str = Field(default=None, description="Quote it when reporting an internal failure")
    waiting_for: str = Field(default=None, description="While QUEUED: the import holding the catalog, which "
                                                       "this one waits for (one bulk change at a time)")
    total_chunks: int = Field(default=None, description="Chunks the file was cut into")
    chunks_done: int = Field(default=None, description="Chunks processed and counted")
    column_mapping: dict[str, str] = Field(default=None, description="Which header fills which field "
                                                                     "(field -> header as in the file), once planned")
    headers: list[str] = Field(default=None, description="The file's header row, when a required column is "
                                                         "missing (its first 500 names)")
    missing_columns: list[str] = Field(default=None, description="Required fields no column fills (the import "
                                                                 "FAILED): map them and import again")
    mapping: dict[str, str] = Field(default=None, description="The column mapping the request asked for")
    preset: str = Field(default=None, description="The mapping preset asked for, or the one of the drop folder")
    file_layout: Literal["shopify"] = Field(default=None, description="A Shopify product export, read by product")
    chunk_map: str = Field(default=None, pattern="^[prdRf]*$",
                           description="One letter per chunk, in order: p pending, r running, d done, "
                                       "R done or running again after a failed attempt, f failed")
    mode: Literal["import", "preview"] = Field(description="preview: a dry run that writes nothing; its "
                                                           "counters say what an import would do")
    field_changes: dict[str, int] = Field(default=None, description="A preview's products that would change, "
                                                                    "per field: sku (its spelling), name, "
                                                                    "description, price, active")
    sample_changes: list[ChangeSample] = Field(default=None, description="When a preview has ended: up to 20 "
                                                                         "changes, in file order")
    from_import: str = Field(default=None, description="Started from the file this earlier import uploaded")
    drop_folder: str = Field(default=None, description="For a dropped file: its first folder under incoming/ "
                                                       "or preview/")


class UploadForm(BaseModel):
    url: str = Field(description="POST the file here as multipart/form-data")
    fields: dict[str, str] = Field(description="Form fields to send before the file")
    max_bytes: int
    expires_in: int = Field(description="Seconds the form stays valid")


class CreatedImport(BaseModel):
    import_: Import = Field(alias="import")
    upload: Optional[UploadForm] = Field(description="Where to upload the file; null when started from_import")


class ImportPage(BaseModel):
    items: list[Import]
    next: Optional[str] = Field(description="Cursor of the next page (`next=`); null on the last")


class ReportLink(BaseModel):
    url: str = Field(description="Signed URL of the report (also in Location), valid for minutes")


# --- column mappings ------------------------------------------------------------------------
class MappingPreset(BaseModel):
    name: str
    mapping: dict[str, str] = Field(description="field -> header")
    created_at: str
    updated_at: str


class MappingPresetList(BaseModel):
    items: list[MappingPreset]


# --- webhooks -------------------------------------------------------------------------------
class Webhook(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    status: Literal["healthy", "failing", "disabled"]
    secret_hint: str = Field(description="The signing secret's last characters")
    created_at: str
    updated_at: str
    disabled_reason: str = None


class WebhookWithSecret(Webhook):
    secret: str = Field(description="The signing secret: shown only in this answer")


class Delivery(BaseModel):
    endpoint_id: str
    delivery_id: str = Field(description="The webhook-id header of the delivery")
    attempt: int
    outcome: str
    timestamp: str
    event_type: str = None
    status_code: Optional[int] = None
    response_ms: Optional[float] = None
    error: Optional[str] = None


class WebhookDetail(Webhook):
    recent_deliveries: list[Delivery]


class WebhookList(BaseModel):
    items: list[Webhook]


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next: Optional[str]


class TestResult(BaseModel):
    ok: bool
    status_code: Optional[int] = Field(description="The receiver's status; null when none came back")
    response_ms: float
    error: Optional[str]
    webhook_id: str
    event: dict[str, Any] = Field(description="The sample event sent: {id, type, timestamp, data}")


class ReplayQueued(BaseModel):
    delivery_id: str
    endpoint_id: str
    queued: bool
