"""The catalog's running totals: product count and the shards that hold products.

Kept in one item of the imports table and changed only with ADD/DELETE, so imports, API
writes and delete-all can update it concurrently. Listing reads it instead of counting.
"""
from __future__ import annotations

from catalog.shared.aws import client

STATS_ID = "catalog#stats"


class CatalogStats:
    def __init__(self, table: str):
        self.table = table
        self.ddb = client("dynamodb")

    def add(self, products: int, shards: set[str] | None = None) -> None:
        if not products and not shards:
            return
        update, values = ["product_count :n"], {":n": {"N": str(products)}}
        if shards:
            update.append("shards :s")
            values[":s"] = {"SS": sorted(shards)}
        self.ddb.update_item(TableName=self.table, Key={"id": {"S": STATS_ID}},
                             UpdateExpression="ADD " + ", ".join(update), ExpressionAttributeValues=values)

    def get(self) -> tuple[int, list[str]]:
        item = self.ddb.get_item(TableName=self.table, Key={"id": {"S": STATS_ID}},
                                 ConsistentRead=True).get("Item", {})
        count = int(item.get("product_count", {}).get("N", "0"))
        return max(count, 0), sorted(item.get("shards", {}).get("SS", []))

    def reset(self) -> None:
        self.ddb.put_item(TableName=self.table, Item={"id": {"S": STATS_ID}, "product_count": {"N": "0"}})
