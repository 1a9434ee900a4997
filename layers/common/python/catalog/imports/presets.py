"""Named column mappings (presets): {field: header}, saved once and applied by name to an import
(`POST /imports {preset}`) or to every file dropped under `incoming/<preset name>/`.

Presets live in the imports table as items `preset#<name>` of kind `mapping_preset`: the `history`
index (kind, created_at) lists them without touching import history, which is kind `import`.
"""
from __future__ import annotations

import re

from catalog.imports.columns import check_mapping
from catalog.imports.errors import BadFileError, InvalidMapping, InvalidPresetName, PresetNotFound
from catalog.imports.progress import IMPORT_ID
from catalog.shared.aws import client
from catalog.shared.clock import now_iso
from catalog.shared.dynamo import conditional, from_item, to_value
from catalog.shared.errors import Conflict

KIND = "mapping_preset"
ID_PREFIX = "preset#"
MAX_PRESETS = 200
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_NAME = re.compile(NAME_PATTERN)
# Folders that are never preset names: the API's uploads (incoming/imp_<id>/).
RESERVED_PREFIXES = ("imp_",)


def check_name(name: str, field: str = "name") -> str:
    if not _NAME.match(name or ""):
        raise InvalidPresetName(f"'{(name or '')[:60]}' is not a preset name",
                                {field: "1 to 40 characters: lower-case letters, digits, '-' and '_', "
                                        "starting with a letter or digit"})
    if name.startswith(RESERVED_PREFIXES):
        raise InvalidPresetName(f"'{name}' is reserved", {field: "names starting with imp_ are reserved (upload folders)"})
    return name


_IMPORT_ID = re.compile(f"^{IMPORT_ID}$")


def drop_folder(key: str) -> str | None:
    """The first folder under incoming/ or preview/ of a dropped file (e.g. a mapping preset's name),
    unless it is an import id (the API's upload folders); None for a file at the top."""
    parts = key.split("/")
    if len(parts) < 3 or not parts[1] or _IMPORT_ID.match(parts[1]):
        return None
    return parts[1]


def view(item: dict) -> dict:
    return {"name": item["name"], "mapping": item.get("mapping") or {}, "created_at": item["created_at"],
            "updated_at": item["updated_at"]}


class PresetStore:
    def __init__(self, table: str):
        self.table = table
        self.ddb = client("dynamodb")

    def get(self, name: str) -> dict | None:
        item = self.ddb.get_item(TableName=self.table, Key={"id": {"S": ID_PREFIX + name}},
                                 ConsistentRead=True).get("Item")
        return view(from_item(item)) if item and item.get("kind", {}).get("S") == KIND else None

    def found(self, name: str, field: str | None = None) -> dict:
        preset = self.get(name) if _NAME.match(name or "") else None
        if preset is None:
            raise PresetNotFound(name, field)
        return preset

    def list(self) -> list[dict]:
        items, start = [], None
        while True:
            kwargs = dict(TableName=self.table, IndexName="history", KeyConditionExpression="kind = :k",
                          ExpressionAttributeValues={":k": {"S": KIND}})
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self.ddb.query(**kwargs)
            items += [view(from_item(i)) for i in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start:
                return sorted(items, key=lambda p: p["name"])

    def put(self, name: str, mapping: dict[str, str]) -> tuple[dict, bool]:
        """Creates or replaces a preset: (the preset, whether it is new)."""
        check_name(name)
        mapping = check_mapping(mapping)
        if not mapping:
            raise InvalidMapping("the mapping is empty", {"mapping": "map at least one field to a column"})
        if self.get(name) is None and len(self.list()) >= MAX_PRESETS:
            raise Conflict(f"there are already {MAX_PRESETS} presets; delete one first")
        now = now_iso()
        old = self.ddb.update_item(
            TableName=self.table, Key={"id": {"S": ID_PREFIX + name}},
            UpdateExpression="SET kind = :k, #n = :n, mapping = :m, updated_at = :t, "
                             "created_at = if_not_exists(created_at, :t)",
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":k": {"S": KIND}, ":n": {"S": name}, ":m": to_value(mapping),
                                       ":t": {"S": now}},
            ReturnValues="ALL_OLD").get("Attributes")
        return self.get(name) or {"name": name, "mapping": mapping, "created_at": now, "updated_at": now}, not old

    def delete(self, name: str) -> bool:
        """Deletes a preset; False when there is none of that name."""
        if not _NAME.match(name or ""):
            return False
        return conditional(lambda: self.ddb.delete_item(
            TableName=self.table, Key={"id": {"S": ID_PREFIX + name}}, ConditionExpression="kind = :k",
            ExpressionAttributeValues={":k": {"S": KIND}}))


def mapping_for_import(store: PresetStore, item: dict) -> tuple[dict[str, str], str | None]:
    """The mapping an import is planned with, and the preset it uses: the preset the request named
    (or, for a file dropped under `incoming/<name>/`, the preset of that name when there is one),
    with the request's own mapping over it. A file uploaded through the API lies under
    `incoming/imp_<id>/`, never a preset's folder."""
    name = item.get("preset")
    preset = None
    if name:
        preset = store.get(name)
        if preset is None:
            raise BadFileError(f"the mapping preset '{name}' no longer exists; import again with another")
    else:
        folder = drop_folder(item.get("key", ""))
        if folder and _NAME.match(folder) and not folder.startswith(RESERVED_PREFIXES):
            preset = store.get(folder)
            name = folder if preset else None
    explicit = item.get("mapping") or {}
    taken = {header.casefold() for header in explicit.values()}
    kept = {f: h for f, h in (preset["mapping"] if preset else {}).items() if h.casefold() not in taken}
    return {**kept, **explicit}, name
