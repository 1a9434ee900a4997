"""Products: the product model and its DynamoDB store, validation rules, single-product writes,
listing with filters and cursors, catalog stats and delete-all."""
