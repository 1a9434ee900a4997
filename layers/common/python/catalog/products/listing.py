"""Listing products: filters, SKU order and cursor pages, read from the indexes shard by shard.

The products table's indexes are partitioned by `shard` (the first two characters of the SKU
key) and sorted by `sku_key`, so walking the shards in order gives every product in SKU order.
The shards that hold products come from the catalog stats item (no scan per request).

Plans, by filter:
- nothing / active=true   `by_sku` (ALL), shard by shard (`active` as a filter expression);
- sku prefix (2+ chars)   the one shard the prefix lives in, `begins_with(sku_key, :p)`;
  (1 char)                the shards starting with that character;
- active=false            the sparse `inactive` index (only inactive products are in it);
- q / name                the slim `search` index (keys + name_lc), `contains(name_lc, :q)`,
                          a few shards queried at once, then BatchGetItem for the page's items;
                          with active=... it filters `by_sku` / `inactive` instead (they hold
                          name_lc and active).

A filter that matches rarely would leave the walk reading hundreds of shards for one page. After
each batch of shards the walk projects, from the matches found so far, how many more shards a full
page needs; when that is a large part of what is left, it reads the rest at once with a parallel
segmented Scan of the same index (about 30 calls of 1 MB for 500,000 products instead of hundreds of
queries), sorts those matches by shard and SKU, and so also learns how many matches there are.

A page is fetched as limit+1 matches so we know whether another page follows. Cursors are
opaque and signed (catalog.cursors) and bound to the filters they were made for: `next` is the
position after the page's last item, `prev` the position before its first item, walked backwards.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from catalog.products.errors import BadQueryError
from catalog.products.pages import Page, ProductFilter, check_limit, make_cursor, read_cursor
from catalog.products.stats import CatalogStats
from catalog.products.store import Product, ProductStore, shard_of
from catalog.shared.aws import client

FILTERED_PAGE = 4000      # items DynamoDB evaluates per filtered query call (fewer round trips)
PARALLEL_SHARDS = 4       # shards queried at once when a filter may leave shards empty
SCAN_WHEN_SHARE = 0.5     # scan when a page projects to need more than this share of the shards left
SPARSE_PROBE = 2000       # inactive items read to learn which shards hold any


@dataclass
class IndexPlan:
    index: str
    shards: list[str]
    prefix: str = ""                               # begins_with on sku_key
    filters: list[str] = field(default_factory=list)
    names: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    keys_only: bool = False                        # items need a BatchGetItem afterwards
    shard_attr: str = "shard"

    @property
    def filtered(self) -> bool:
        return bool(self.filters)

    def attributes(self, shard_value: str, shard: str) -> tuple[dict, dict]:
        """ExpressionAttributeNames and -Values: the plan's, `#sh` for the shard attribute with `shard`
        as `shard_value`, and `:p` for the SKU prefix if any."""
        names = {"#sh": self.shard_attr, **self.names}
        values = {shard_value: {"S": shard}, **self.values}
        if self.prefix:
            values[":p"] = {"S": self.prefix}
        return names, values


@dataclass
class Walk:
    found: list[dict]              # {"s": shard, "k": sku_key, "item"} in walk order, at most `need`
    matches_after: int | None      # every match after the start position, when the walk saw them all


class ProductQuery:
    def __init__(self, products_table: str, imports_table: str, scan_segments: int):
        self.table = products_table
        self.scan_segments = max(1, scan_segments)    # for a filter that matches too rarely to walk
        self.stats = CatalogStats(imports_table)
        self.ddb = client("dynamodb")

    # --- planning ------------------------------------------------------------------------
    def plan(self, f: ProductFilter, shards: list[str]) -> IndexPlan:
        if f.sku:
            if len(f.sku) >= 2:
                shards = [shard_of(f.sku)] if shard_of(f.sku) in shards else []
            else:
                shards = [s for s in shards if s.startswith(f.sku)]
        if f.active is False:
            plan = IndexPlan("inactive", self._inactive_shards(shards), shard_attr="inactive_shard")
        elif f.q and f.active is None:
            plan = IndexPlan("search", shards, keys_only=True)
        else:
            plan = IndexPlan("by_sku", shards)
            if f.active is True:
                plan.filters.append("#active = :true")
                plan.names["#active"] = "active"
                plan.values[":true"] = {"BOOL": True}
        plan.prefix = f.sku
        if f.q:
            plan.filters.append("contains(name_lc, :q)")
            plan.values[":q"] = {"S": f.q}
        return plan

    def export_plan(self, f: ProductFilter, shards: list[str]) -> IndexPlan:
        """The listing's plan, but never the slim `search` index: an export needs every attribute, and
        `by_sku` holds them all (and name_lc) for the same shards and order."""
        plan = self.plan(f, shards)
        return replace(plan, index="by_sku", keys_only=False) if plan.keys_only else plan

    def query_page(self, plan: IndexPlan, shard: str, start_key: str | None,
                   limit: int | None = None) -> tuple[list[dict], str | None]:
        """One Query call (up to 1 MB, or `limit` items evaluated) in SKU order: (matching items, the
        sku_key to continue after, or None at the shard's end)."""
        response = self.ddb.query(**self._query_args(plan, shard, start_key, True, limit))
        last = response.get("LastEvaluatedKey")
        return response.get("Items", []), (last["sku_key"]["S"] if last else None)

    def _inactive_shards(self, shards: list[str]) -> list[str]:
        """The sparse index is small when few products are inactive: one scan call then tells exactly
        which shards hold any, so the walk skips the empty ones. When it is large, shards are dense."""
        response = self.ddb.scan(TableName=self.table, IndexName="inactive", Limit=SPARSE_PROBE,
                                 ProjectionExpression="inactive_shard")
        if "LastEvaluatedKey" in response:
            return shards
        present = {i["inactive_shard"]["S"] for i in response.get("Items", [])}
        return [s for s in shards if s in present]

    # --- listing -------------------------------------------------------------------------
    def list(self, f: ProductFilter, limit: int = 50, cursor: str | None = None) -> Page:
        check_limit(limit)
        total, shards = self.stats.get()
        position = self._position(cursor, f) if cursor else None
        plan = self.plan(f, shards)
        forward = position is None or position["d"] == "f"
        after = (position["s"], position["k"]) if position else None
        walk = self._walk(plan, after, forward, limit + 1)
        keys = walk.found
        more = len(keys) > limit
        keys = keys[:limit]
        if not forward:
            keys.reverse()
        items = self._materialize(plan, keys)

        def make(direction: str, item: dict) -> str:
            return make_cursor(f, direction, {"s": item["s"], "k": item["k"]})

        next_cursor = prev_cursor = None
        if keys:
            if (forward and more) or (not forward):
                next_cursor = make("f", keys[-1])
            if (forward and position is not None) or (not forward and more):
                prev_cursor = make("b", keys[0])
        elif position is not None:
            # An empty page after a cursor (e.g. everything after it was deleted): offer a way back.
            prev_cursor = make("b", {"s": position["s"], "k": position["k"]}) if forward else None
            next_cursor = make("f", {"s": position["s"], "k": position["k"]}) if not forward else None
        matches = self._matches(f, plan, total, walk.matches_after, position)
        return Page([Product.from_item(i).to_json() for i in items], total, matches, limit, next_cursor, prev_cursor)

    def _position(self, cursor: str, f: ProductFilter) -> dict:
        position = read_cursor(cursor, f)
        if not isinstance(position.get("s"), str):
            raise BadQueryError("cursor", "the cursor is malformed")
        return position

    def _matches(self, f: ProductFilter, plan: IndexPlan, total: int, matches_after: int | None,
                 position: dict | None) -> int | None:
        if f.empty:
            return total
        if position is None and matches_after is not None:
            return matches_after             # the walk (or its scan) saw every match
        if f.sku and len(f.sku) >= 2 and f.active is None and not f.q:
            return self._count_prefix(plan)  # one COUNT query on one shard
        return None

    def _count_prefix(self, plan: IndexPlan) -> int:
        count = 0
        for shard in plan.shards:
            kwargs = self._query_args(plan, shard, None, True, None)
            kwargs["Select"] = "COUNT"
            while True:
                response = self.ddb.query(**kwargs)
                count += response.get("Count", 0)
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return count

    # --- reading the index -----------------------------------------------------------------
    def _query_args(self, plan: IndexPlan, shard: str, start_key: str | None, forward: bool, limit: int | None) -> dict:
        names, values = plan.attributes(":sh", shard)
        condition = "#sh = :sh"
        if plan.prefix:
            condition += " AND begins_with(sku_key, :p)"
        kwargs = dict(TableName=self.table, IndexName=plan.index, KeyConditionExpression=condition,
                      ExpressionAttributeNames=names, ExpressionAttributeValues=values, ScanIndexForward=forward)
        if plan.filters:
            kwargs["FilterExpression"] = " AND ".join(plan.filters)
        if limit:
            kwargs["Limit"] = limit
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = {plan.shard_attr: {"S": shard}, "sku_key": {"S": start_key}}
        return kwargs

    def _query_shard_page(self, plan: IndexPlan, shard: str, start_key: str | None, forward: bool,
                          need: int) -> tuple[list[dict], str | None]:
        """One query call: (matching items, the sku_key to continue after, or None at the shard's end)."""
        limit = FILTERED_PAGE if plan.filtered else need
        response = self.ddb.query(**self._query_args(plan, shard, start_key, forward, limit))
        last = response.get("LastEvaluatedKey")
        return response.get("Items", []), (last["sku_key"]["S"] if last else None)

    def _walk(self, plan: IndexPlan, after: tuple[str, str] | None, forward: bool, need: int) -> Walk:
        """Up to `need` matches strictly after (or before) `after`, as {"s", "k", "item"} in walk order."""
        shards = sorted(plan.shards, reverse=not forward)
        first_key = None
        if after is not None:
            shard, first_key = after
            if forward:
                shards = [s for s in shards if s >= shard]
            else:
                shards = [s for s in shards if s <= shard]
            if not shards or shards[0] != shard:
                first_key = None
        found: list[dict] = []
        width = PARALLEL_SHARDS if plan.filtered else 1
        pool = ThreadPoolExecutor(max_workers=max(width, self.scan_segments)) if plan.filtered else None
        try:
            i = 0
            while i < len(shards) and len(found) < need:
                if pool and i and self._scan_pays(len(found), i, len(shards) - i, need):
                    rest = self._scan_rest(plan, shards[i - 1], forward, pool)
                    return Walk((found + rest)[:need], len(found) + len(rest))
                batch = shards[i:i + width]
                starts = [first_key if i + j == 0 else None for j in range(len(batch))]
                if pool:
                    results = list(pool.map(lambda a: self._query_shard_page(plan, a[0], a[1], forward, need),
                                            zip(batch, starts)))
                else:
                    results = [self._query_shard_page(plan, batch[0], starts[0], forward, need - len(found))]
                for shard, (items, cont) in zip(batch, results):
                    for item in items:
                        found.append({"s": shard, "k": item["sku_key"]["S"], "item": item})
                    while cont is not None and len(found) < need:
                        items, cont = self._query_shard_page(plan, shard, cont, forward, need - len(found))
                        for item in items:
                            found.append({"s": shard, "k": item["sku_key"]["S"], "item": item})
                    if len(found) >= need:
                        break
                i += len(batch)
        finally:
            if pool:
                pool.shutdown(wait=False, cancel_futures=True)
        return Walk(found[:need], len(found) if len(found) < need else None)

    @staticmethod
    def _scan_pays(found: int, walked: int, left: int, need: int) -> bool:
        """Whether the shards still to walk for a full page, projected from the matches per shard so
        far, are a large enough share of those left that reading them all at once is cheaper."""
        if found == 0:
            return True
        projected = (need - found) * walked / found
        return projected > SCAN_WHEN_SHARE * left

    def _scan_rest(self, plan: IndexPlan, last_shard: str, forward: bool, pool: ThreadPoolExecutor) -> list[dict]:
        """Every match in the shards after `last_shard` (in walk order), in walk order: one parallel
        segmented Scan of the plan's index, filtered by the plan's conditions."""
        names, values = plan.attributes(":walked", last_shard)
        filters = [f"#sh {'>' if forward else '<'} :walked", *plan.filters]
        if plan.prefix:
            filters.append("begins_with(sku_key, :p)")
        request = dict(TableName=self.table, IndexName=plan.index, FilterExpression=" AND ".join(filters),
                       ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                       TotalSegments=self.scan_segments)
        if plan.keys_only:
            request["ProjectionExpression"] = "#sh, sku_key"

        def segment(number: int) -> list[dict]:
            kwargs, items = {**request, "Segment": number}, []
            while True:
                response = self.ddb.scan(**kwargs)
                items.extend(response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    return items
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

        matches = [{"s": item[plan.shard_attr]["S"], "k": item["sku_key"]["S"], "item": item}
                   for items in pool.map(segment, range(self.scan_segments)) for item in items]
        matches.sort(key=lambda m: (m["s"], m["k"]), reverse=not forward)
        return matches

    def _materialize(self, plan: IndexPlan, keys: list[dict]) -> list[dict]:
        if not plan.keys_only:
            return [k["item"] for k in keys]
        full = ProductStore(self.table).get_many([k["k"] for k in keys])
        return [full[k["k"]] for k in keys if k["k"] in full]
