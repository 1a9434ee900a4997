-- The product catalog on PostgreSQL. sku_key is the trimmed, lower-cased SKU; "C" collation so
-- the primary key's order is byte order and serves SKU-ordered pages and SKU prefixes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS products (
    sku_key     text COLLATE "C" PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    price       numeric(10, 2),
    active      boolean NOT NULL DEFAULT true,
    id          text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    import_id   text
);

-- Case-insensitive "name contains": trigram index on the lower-cased name.
CREATE INDEX IF NOT EXISTS products_name_trgm ON products USING gin (lower(name) gin_trgm_ops);

-- active=false listings: only inactive products are in it.
CREATE INDEX IF NOT EXISTS products_inactive ON products (sku_key) WHERE NOT active;
