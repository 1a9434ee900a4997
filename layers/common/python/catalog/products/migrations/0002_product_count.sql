-- The catalog's product count, kept by statement-level triggers (one update per statement, from
-- its transition table), so a page never counts the table.
CREATE TABLE IF NOT EXISTS product_count (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    n  bigint NOT NULL
);

INSERT INTO product_count (id, n) SELECT true, count(*) FROM products ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION product_count_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE product_count SET n = n + (SELECT count(*) FROM added); RETURN NULL; END $$;

CREATE OR REPLACE FUNCTION product_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE product_count SET n = n - (SELECT count(*) FROM removed); RETURN NULL; END $$;

CREATE OR REPLACE FUNCTION product_count_emptied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE product_count SET n = 0; RETURN NULL; END $$;

CREATE OR REPLACE TRIGGER products_added AFTER INSERT ON products
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION product_count_added();

CREATE OR REPLACE TRIGGER products_removed AFTER DELETE ON products
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION product_count_removed();

CREATE OR REPLACE TRIGGER products_emptied AFTER TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION product_count_emptied();
