"""Routes for /mappings: named column-mapping presets (create or replace, list, read, delete)."""
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, Field
from schemas import MappingPreset, MappingPresetList, responses

from catalog.imports.errors import PresetNotFound
from catalog.imports.presets import PresetStore
from catalog.shared.settings import get_settings

router = Router()
TAGS = ["Column mappings"]   # groups the operations on the docs page


class PutMappingRequest(BaseModel):
    mapping: dict[str, str] = Field(description="{field: header}: fields sku, name, description, price, active; "
                                                "each header once")


def _store() -> PresetStore:
    return PresetStore(get_settings().imports_table)


@router.get("/mappings", summary="Saved column-mapping presets, by name", tags=TAGS,
            responses=responses(200, MappingPresetList, "Every preset"))
def list_mappings():
    return {"items": _store().list()}


@router.get("/mappings/<name>", summary="One column-mapping preset", tags=TAGS,
            responses=responses(200, MappingPreset, "The preset", 404, 422))
def get_mapping(name: Annotated[str, Path(max_length=40)]):
    return _store().found(name)


@router.put("/mappings/<name>", summary="Create or replace a column-mapping preset", tags=TAGS,
            responses={**responses(200, MappingPreset, "Replaced", 400, 409, 415, 422),
                       201: {"description": "Created", "content": {"application/json": {"model": MappingPreset}}}})
def put_mapping(name: Annotated[str, Path(max_length=40)], request: PutMappingRequest):
    preset, created = _store().put(name, request.mapping)
    return Response(201 if created else 200, content_types.APPLICATION_JSON, preset)


@router.delete("/mappings/<name>", summary="Delete a column-mapping preset", tags=TAGS,
               responses=responses(204, None, "Deleted", 404, 422))
def delete_mapping(name: Annotated[str, Path(max_length=40)]):
    if not _store().delete(name):
        raise PresetNotFound(name)
    return Response(204)
