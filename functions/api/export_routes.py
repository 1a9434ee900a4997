"""Routes for exports: GET /products/export starts a job that writes the products the listing's
filters match as a CSV in S3 (202, Location = where to poll); GET /products/exports/{id} reports its
progress and, when it has finished, a signed download link (a new one with every read).

`/products/export` is a static route, so it is matched before `/products/{sku}`: a product whose SKU
is exactly `export` is read as `/products/EXPORT` (SKUs are case-insensitive; routes are not)."""
from typing import Annotated, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from schemas import ExportJob, responses

from catalog.products import export, rules
from catalog.products.errors import ExportNotFound
from catalog.products.export_jobs import ExportJobs, view
from catalog.products.pages import ProductFilter
from catalog.shared.errors import Invalid
from catalog.shared.settings import get_settings

router = Router()
TAGS = ["Products"]


def _answer(job: dict) -> dict:
    link = export.download_link(job)
    return {**view(job), **({"download_url": link, "download_expires_in": export.LINK_SECONDS} if link else {})}


@router.get("/products/export", summary="Export products as CSV: starts a background job (202), poll it for "
                                        "progress and the download link", tags=TAGS,
            responses=responses(202, ExportJob, "The job started", 422,
                                headers={"Location": "Where to poll the job"}))
def start_export(
        sku: Annotated[Optional[str], Query(max_length=rules.SKU_MAX, description="SKU prefix, any letter case")] = None,
        q: Annotated[Optional[str], Query(max_length=rules.NAME_MAX, description="Substring of the name, any letter case")] = None,
        name: Annotated[Optional[str], Query(max_length=rules.NAME_MAX, description="Same as q")] = None,
        active: Annotated[Optional[bool], Query(description="true: active only; false: inactive only")] = None):
    if q and name and q.strip().lower() != name.strip().lower():
        raise Invalid("give the name filter as q or as name, not both", {"name": "conflicts with q"})
    job = export.start(get_settings(), ProductFilter.of(sku, q or name, active))
    answer = _answer(job)
    return Response(202, "application/json", answer, headers={"Location": answer["url"]})


@router.get("/products/exports/<job_id>", summary="An export job's status, progress and, once it has "
                                                  "finished, a signed download link", tags=TAGS,
            responses=responses(200, ExportJob, "The job", 404, 422))
def get_export(job_id: Annotated[str, Path(max_length=80)]):
    job = ExportJobs(get_settings().imports_table).get(job_id)
    if job is None:
        raise ExportNotFound(job_id)
    return _answer(job)
