"""The `catalog` command-line client (cli/main.py): imports, products, export and webhooks through
the HTTP API."""
