"""What the imports context refuses or reports as failed."""
from __future__ import annotations

from catalog.shared.errors import Conflict, DomainError, Invalid, NotFound, TooLarge


class BadFileError(DomainError):
    """The file as a whole cannot be imported (the import fails at once with this message)."""


class ImportRefused(DomainError):
    """The import may not run now (a delete-all holds the catalog): it fails with this message."""


class CatalogBusy(DomainError):
    """Another import holds the catalog: this one waits, queued (the state machine retries its plan)."""

    def __init__(self, holder: str):
        super().__init__(f"waiting for import {holder} to finish")
        self.holder = holder


class IncompleteImportError(DomainError):
    """Some chunks never reported: the import must not claim success."""


class ImportNotFound(NotFound):
    def __init__(self, import_id: str):
        super().__init__(f"import '{import_id}' not found")


class ImportEnded(Conflict):
    def __init__(self, status: str):
        super().__init__(f"the import has already ended ({status})")


class NoErrorReport(NotFound):
    def __init__(self):
        super().__init__("this import has no error report (no bad rows, or it has not finished)")


class UploadTooLarge(TooLarge):
    def __init__(self, size: int, limit: int):
        super().__init__(f"the file is {size:,} bytes; the limit is {limit:,}", {"size": f"must be at most {limit}"})


class SourceImportNotFound(NotFound):
    """`from_import` names no import."""

    def __init__(self, import_id: str):
        super().__init__(f"import '{import_id}' not found", {"from_import": "no such import"})


class SourceNotUploaded(Conflict):
    """`from_import` names an import whose file has not arrived yet."""

    def __init__(self, import_id: str):
        super().__init__(f"import '{import_id}' is still waiting for its file (PENDING); upload it first",
                         {"from_import": "its file has not been uploaded yet"})


class SourceFileGone(Conflict):
    """`from_import` names an import whose uploaded file is no longer in the bucket."""

    def __init__(self, import_id: str, key: str):
        super().__init__(f"the file of import '{import_id}' ({key}) is no longer in the bucket (uploads are "
                         f"kept 7 days); upload it again", {"from_import": f"its file {key} is gone"})


class DeleteAllRunning(Conflict):
    def __init__(self, message: str):
        super().__init__(message, {"from_import": "a delete-all is running"})


class MissingColumns(BadFileError):
    """A required field has no column: the import fails, and its item shows the file's headers so a
    person can map them."""

    def __init__(self, message: str, headers: list[str], missing: list[str], mapping: dict[str, str]):
        super().__init__(message)
        self.headers, self.missing, self.mapping = headers, missing, mapping


class InvalidMapping(Invalid):
    """A column mapping names an unknown field, or one header for two fields."""


class PresetNotFound(NotFound):
    def __init__(self, name: str, field: str | None = None):
        super().__init__(f"mapping preset '{name}' not found", {field: "no preset of this name"} if field else None)


class InvalidPresetName(Invalid):
    pass
