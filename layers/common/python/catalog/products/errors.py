"""What the products context refuses."""
from __future__ import annotations

from catalog.shared.errors import BadRequest, Conflict, DomainError, Invalid, NotFound


class ProductNotFound(NotFound):
    def __init__(self, sku: str):
        super().__init__(f"product '{sku}' not found")


class ProductExists(Conflict):
    def __init__(self, existing_sku: str):
        message = f"a product with this SKU already exists (as '{existing_sku}')"
        super().__init__(message, {"sku": message})
        self.existing_sku = existing_sku


class WriteConflict(Conflict):
    """Other writers kept changing the product between our read and our write."""


class SkuChanged(Invalid):
    def __init__(self, path_sku: str):
        super().__init__("the SKU cannot be changed: it is the product's identity (create a new product instead)",
                         {"sku": f"must be '{path_sku}' (the SKU in the path); a product's SKU cannot be changed"})


class BadQueryError(BadRequest):
    def __init__(self, field: str, message: str):
        super().__init__(message, {field: message})
        self.field = field


class DeleteAllRunning(Conflict):
    def __init__(self, job_id: str):
        super().__init__(f"a delete-all is already running ({job_id}); try again when it has finished")
        self.job_id = job_id


class ImportRunning(Conflict):
    def __init__(self, import_id: str, then: str = "delete all"):
        super().__init__(f"an import is running ({import_id}); {then} when it has finished")
        self.import_id = import_id


class DeleteAllNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"delete-all job '{job_id}' not found")


class IncompleteDeleteAllError(DomainError):
    """Some segments never finished: the delete-all must not claim success."""


class ExportNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"export job '{job_id}' not found")


class IncompleteExportError(DomainError):
    """The export's job or upload is not where its steps expect it: it must not claim success."""
