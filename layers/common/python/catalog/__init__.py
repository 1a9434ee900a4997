"""Domain code of the product-catalog importer, shared by every Lambda function: one package per
context (imports, products, webhooks) over the shared kernel (shared)."""
