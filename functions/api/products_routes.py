"""Routes for /products: list with filters and cursor pages, read, create, replace, patch, delete,
and delete-all as a background job.

Bodies are pydantic models whose validators call catalog.rules, so the API validates exactly as an
import row does; errors are 422 {error, fields: {field: message}}.

The SKU is the product's identity. PUT/PATCH may omit `sku`; when given it must be the same SKU
as the path's, compared case-insensitively after trimming (the stored display form then takes
the body's letter case, as an import row would); any other SKU is refused with 422 naming `sku`.
PUT replaces the whole content (omitted optional fields go back to their defaults: empty
description, no price, active); PATCH changes only the fields it names (`"price": null` clears
the price). Neither creates a missing product (404): use POST.
"""
from typing import Annotated, Any, Optional, Union
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from schemas import DeleteAllJob, DeletedProduct, Product, ProductPage, responses

from catalog.products import delete_all, rules
from catalog.products.catalogs import catalog_store
from catalog.products.delete_all_jobs import DeleteAllJobs, view
from catalog.products.errors import DeleteAllNotFound, SkuChanged
from catalog.products.pages import MAX_LIMIT, ProductFilter
from catalog.products.writes import ProductValues, ProductWriter
from catalog.shared.errors import Invalid
from catalog.shared.settings import get_settings

router = Router()
TAGS = ["Products"]   # groups the operations on the docs page

READ_ONLY = ("id", "created_at", "updated_at")


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _price(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a number, a numeric string or null")
    return rules.parse_price(str(value) if not isinstance(value, float) else repr(value))


def _active(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return rules.parse_active(value)
    raise ValueError("must be true or false")


def _rule(parser, value):
    try:
        return parser(value)
    except rules.FieldError as error:
        raise ValueError(error.message) from None


class _ProductBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Read-only fields a client may send back unchanged (e.g. the object it got from GET); ignored.
    id: Optional[Any] = Field(default=None, exclude=True, description="Read-only; ignored")
    created_at: Optional[Any] = Field(default=None, exclude=True, description="Read-only; ignored")
    updated_at: Optional[Any] = Field(default=None, exclude=True, description="Read-only; ignored")

    @field_validator("sku", mode="before", check_fields=False)
    @classmethod
    def _sku(cls, value):
        return None if value is None else _rule(rules.parse_sku, _text(value))

    @field_validator("name", mode="before", check_fields=False)
    @classmethod
    def _name(cls, value):
        return _rule(rules.parse_name, _text(value))

    @field_validator("description", mode="before", check_fields=False)
    @classmethod
    def _description(cls, value):
        return _rule(rules.parse_description, _text(value))

    @field_validator("price", mode="before", check_fields=False)
    @classmethod
    def _price(cls, value):
        return _rule(_price, value)

    @field_validator("active", mode="before", check_fields=False)
    @classmethod
    def _active(cls, value):
        return _rule(_active, value)


class ProductCreate(_ProductBody):
    sku: str = Field(description=f"Unique, case-insensitively; 1-{rules.SKU_MAX} characters")
    name: str = Field(description=f"1-{rules.NAME_MAX} characters")
    description: str = Field(default="", description=f"Up to {rules.DESCRIPTION_MAX} characters")
    price: Optional[Union[str, float]] = Field(default=None, description="Decimal >= 0, two places at most; null for none")
    active: bool = True


class ProductReplace(_ProductBody):
    sku: Optional[str] = Field(default=None, description="Optional; must be the path's SKU (any letter case)")
    name: str
    description: str = ""
    price: Optional[Union[str, float]] = None
    active: bool = True


class ProductPatch(_ProductBody):
    sku: Optional[str] = Field(default=None, description="Optional; must be the path's SKU (any letter case)")
    name: Optional[str] = None
    description: Optional[str] = None
    price: Optional[Union[str, float]] = None
    active: Optional[bool] = None


def _settings():
    return get_settings()


def _writer() -> ProductWriter:
    return ProductWriter(_settings())




def _same_sku(path_sku: str, body_sku: Optional[str]) -> str:
    """The display SKU to store: the body's when it names the same product, else the path's."""
    path_sku = path_sku.strip()
    if body_sku is None:
        return path_sku
    if rules.normalize_sku(body_sku) != rules.normalize_sku(path_sku):
        raise SkuChanged(path_sku)
    return body_sku


# --- listing ------------------------------------------------------------------------------
@router.get("/products", summary="List products in SKU order, with filters and cursor pages", tags=TAGS,
            responses=responses(200, ProductPage, "One page of products", 400, 422))
def list_products(
        sku: Annotated[Optional[str], Query(max_length=rules.SKU_MAX, description="SKU prefix, any letter case")] = None,
        q: Annotated[Optional[str], Query(max_length=rules.NAME_MAX, description="Substring of the name, any letter case")] = None,
        name: Annotated[Optional[str], Query(max_length=rules.NAME_MAX, description="Same as q")] = None,
        active: Annotated[Optional[bool], Query(description="true: active only; false: inactive only")] = None,
        limit: Annotated[Optional[int], Query(ge=1, le=MAX_LIMIT, description="Page size (default 50)")] = None,
        cursor: Annotated[Optional[str], Query(max_length=2000, description="`next` or `prev` of a page")] = None):
    if q and name and q.strip().lower() != name.strip().lower():
        raise Invalid("give the name filter as q or as name, not both", {"name": "conflicts with q"})
    s = _settings()
    page = catalog_store(s).list_products(ProductFilter.of(sku, q or name, active),
                                          limit or min(s.page_size, MAX_LIMIT), cursor)
    return page.to_json()


# --- delete-all (before /products/<sku> so its paths are never taken for a SKU) -------------
@router.delete("/products", summary="Delete every product: starts a background job (202), poll its progress", tags=TAGS,
               responses=responses(202, DeleteAllJob, "The job started (or the one already running)", 409,
                                   headers={"Location": "Where to poll the job"}))
def start_delete_all():
    job = delete_all.start(_settings())
    location = f"/products/delete-all/{job['id']}"
    return Response(202, "application/json", {**view(job), "url": location},
                    headers={"Location": location})


@router.get("/products/delete-all/<job_id>", summary="A delete-all job's status and progress", tags=TAGS,
            responses=responses(200, DeleteAllJob, "The job", 404, 422))
def get_delete_all(job_id: Annotated[str, Path(max_length=80)]):
    job = DeleteAllJobs(_settings().imports_table).get(job_id)
    if job is None:
        raise DeleteAllNotFound(job_id)
    return view(job)


# --- one product --------------------------------------------------------------------------
@router.get("/products/<sku>", summary="One product", tags=TAGS,
            responses=responses(200, Product, "The product", 404, 422))
def get_product(sku: Annotated[str, Path(max_length=3 * rules.SKU_MAX)]):
    return _writer().get(sku).to_json()


@router.post("/products", summary="Create a product (409 when the SKU exists in any letter case)", tags=TAGS,
             responses=responses(201, Product, "Created", 400, 409, 415, 422,
                                 headers={"Location": "The product's URL"}))
def create_product(body: ProductCreate):
    product = _writer().create(ProductValues(body.sku, body.name, body.description, body.price, body.active))
    return Response(201, "application/json", product.to_json(),
                    headers={"Location": f"/products/{quote(product.sku, safe='')}"})


def _update(sku: str, change) -> dict:
    product, _changed = _writer().update(sku, change)
    return product.to_json()


@router.put("/products/<sku>", summary="Replace a product's content (the SKU stays)", tags=TAGS,
            responses=responses(200, Product, "The product as stored", 400, 404, 409, 415, 422))
def replace_product(sku: Annotated[str, Path(max_length=3 * rules.SKU_MAX)], body: ProductReplace):
    display = _same_sku(sku, body.sku)
    return _update(sku, lambda stored: ProductValues(
        display if body.sku is not None else stored.sku, body.name, body.description, body.price, body.active))


@router.patch("/products/<sku>", summary="Change some of a product's fields", tags=TAGS,
              responses=responses(200, Product, "The product as stored", 400, 404, 409, 415, 422))
def patch_product(sku: Annotated[str, Path(max_length=3 * rules.SKU_MAX)], body: ProductPatch):
    given = body.model_fields_set - set(READ_ONLY)
    for field in ("name", "description", "active"):
        if field in given and getattr(body, field) is None:
            raise Invalid(f"invalid request ({field}: must not be null)", {field: "must not be null"})
    if not given:
        raise Invalid("nothing to change: give at least one of name, description, price, active",
                       {"body": "no fields to change"})
    display = _same_sku(sku, body.sku)

    def change(stored):
        return ProductValues(
            display if body.sku is not None else stored.sku,
            body.name if "name" in given else stored.name,
            body.description if "description" in given else stored.description,
            body.price if "price" in given else stored.price,
            body.active if "active" in given else stored.active)
    return _update(sku, change)


@router.delete("/products/<sku>", summary="Delete a product", tags=TAGS,
               responses=responses(200, DeletedProduct, "The product that was deleted", 404, 409, 422))
def delete_product(sku: Annotated[str, Path(max_length=3 * rules.SKU_MAX)]):
    return {"deleted": _writer().delete(sku).to_json()}
