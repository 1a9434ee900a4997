"""Domain code of the product-catalog importer, shared by every Lambda function."""
