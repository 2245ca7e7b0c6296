//! Forward-only schema migrations. Each entry moves the schema from version `i` to `i + 1`;
//! `PRAGMA user_version` records where a catalog stands. Never edit a released entry: add one.

/// The migration that moves the vectors into tables with rowids; a catalog that had vectors
/// before it (schema 1 to 6) is compacted once after it.
pub const VECTORS_MOVED: i64 = 7;

pub const MIGRATIONS: &[&str] = &[
    // 1: products, images, embeddings, full-text index, duplicate decisions, import runs.
    r#"
CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    color       TEXT NOT NULL DEFAULT '',
    price       REAL,
    attributes  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
    origin      TEXT NOT NULL CHECK (origin IN ('csv', 'folder')),
    source      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX products_category ON products(category);
CREATE INDEX products_source ON products(source);

CREATE TABLE images (
    id          INTEGER PRIMARY KEY,
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    view        TEXT NOT NULL DEFAULT '',
    color       TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok')),
    attributes  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
    file_size   INTEGER NOT NULL,
    file_mtime  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (product_id, path)
);
CREATE INDEX images_path ON images(path);
CREATE INDEX images_hash ON images(hash);

CREATE TABLE embeddings (
    owner_kind  TEXT NOT NULL CHECK (owner_kind IN ('image', 'product')),
    owner_id    INTEGER NOT NULL,
    model_id    TEXT NOT NULL,
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    input_hash  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, model_id)
) WITHOUT ROWID;

CREATE TRIGGER images_drop_embeddings AFTER DELETE ON images BEGIN
    DELETE FROM embeddings WHERE owner_kind = 'image' AND owner_id = old.id;
END;
CREATE TRIGGER products_drop_embeddings AFTER DELETE ON products BEGIN
    DELETE FROM embeddings WHERE owner_kind = 'product' AND owner_id = old.id;
END;

CREATE VIRTUAL TABLE products_fts USING fts5(
    title, description, category, color, sku,
    content = 'products', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts(rowid, title, description, category, color, sku)
    VALUES (new.id, new.title, new.description, new.category, new.color, new.sku);
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, title, description, category, color, sku)
    VALUES ('delete', old.id, old.title, old.description, old.category, old.color, old.sku);
END;
CREATE TRIGGER products_fts_update AFTER UPDATE ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, title, description, category, color, sku)
    VALUES ('delete', old.id, old.title, old.description, old.category, old.color, old.sku);
    INSERT INTO products_fts(rowid, title, description, category, color, sku)
    VALUES (new.id, new.title, new.description, new.category, new.color, new.sku);
END;

CREATE TABLE duplicate_decisions (
    id            INTEGER PRIMARY KEY,
    product_a     INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    product_b     INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    decision      TEXT NOT NULL CHECK (decision IN ('duplicate', 'not_duplicate', 'variants')),
    keep_product  INTEGER REFERENCES products(id) ON DELETE SET NULL,
    photos_hash   TEXT NOT NULL DEFAULT '',
    decided_at    INTEGER NOT NULL,
    CHECK (product_a < product_b),
    UNIQUE (product_a, product_b)
);

CREATE TABLE import_runs (
    id           INTEGER PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    status       TEXT NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'interrupted')),
    sources      TEXT NOT NULL CHECK (json_valid(sources)),
    counts       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts))
);

CREATE TABLE import_errors (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
    item     TEXT NOT NULL,
    line     INTEGER,
    kind     TEXT NOT NULL,
    message  TEXT NOT NULL
);
CREATE INDEX import_errors_run ON import_errors(run_id);
"#,
    // 2: settings (active models, registered model folders) and perceptual hashes of photos.
    r#"
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
ALTER TABLE images ADD COLUMN phash INTEGER;
CREATE INDEX embeddings_model ON embeddings(model_id, owner_kind);
"#,
    // 3: duplicate decisions keyed by SKU (they outlive a product pruned and imported again).
    r#"
CREATE TABLE pair_decisions (
    sku_a        TEXT NOT NULL,
    sku_b        TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('duplicate', 'not_duplicate', 'variants')),
    keep_sku     TEXT,
    photos_hash  TEXT NOT NULL DEFAULT '',
    decided_at   INTEGER NOT NULL,
    CHECK (sku_a < sku_b),
    PRIMARY KEY (sku_a, sku_b)
);
INSERT INTO pair_decisions (sku_a, sku_b, decision, keep_sku, photos_hash, decided_at)
SELECT min(pa.sku, pb.sku), max(pa.sku, pb.sku), d.decision, pk.sku, d.photos_hash, d.decided_at
FROM duplicate_decisions d
JOIN products pa ON pa.id = d.product_a
JOIN products pb ON pb.id = d.product_b
LEFT JOIN products pk ON pk.id = d.keep_product;
DROP TABLE duplicate_decisions;
"#,
    // 4: product-text vectors of a product's passages (title with a few sentences of its
    // description), which text queries are scored against besides the whole-product vector.
    r#"
CREATE TABLE passage_embeddings (
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    model_id    TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    PRIMARY KEY (model_id, product_id, seq)
) WITHOUT ROWID;
"#,
    // 5: results the user marked right or wrong for a query, by SKU.
    r#"
CREATE TABLE judgements (
    query       TEXT NOT NULL CHECK (query <> ''),
    sku         TEXT NOT NULL,
    right       INTEGER NOT NULL CHECK (right IN (0, 1)),
    judged_at   INTEGER NOT NULL,
    PRIMARY KEY (query, sku)
) WITHOUT ROWID;
"#,
    // 6: the full-text index is no longer read by search (BM25 is computed in memory).
    r#"
DROP TRIGGER IF EXISTS products_fts_insert;
DROP TRIGGER IF EXISTS products_fts_delete;
DROP TRIGGER IF EXISTS products_fts_update;
DROP TABLE IF EXISTS products_fts;
"#,
    // 7: vectors in tables with rowids. In a WITHOUT ROWID table a row holds at most about a
    // quarter of a page, so every vector (1.5 KB and more) spilled into an overflow page of its
    // own: twice the pages, most of them mostly empty, each a separate read.
    r#"
DROP TRIGGER images_drop_embeddings;
DROP TRIGGER products_drop_embeddings;
CREATE TABLE embeddings_7 (
    owner_kind  TEXT NOT NULL CHECK (owner_kind IN ('image', 'product')),
    owner_id    INTEGER NOT NULL,
    model_id    TEXT NOT NULL,
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    input_hash  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (owner_kind, owner_id, model_id)
);
INSERT INTO embeddings_7 SELECT owner_kind, owner_id, model_id, dim, vector, input_hash, created_at
FROM embeddings ORDER BY owner_kind, owner_id, model_id;
DROP TABLE embeddings;
ALTER TABLE embeddings_7 RENAME TO embeddings;
CREATE INDEX embeddings_model ON embeddings(model_id, owner_kind);
CREATE TRIGGER images_drop_embeddings AFTER DELETE ON images BEGIN
    DELETE FROM embeddings WHERE owner_kind = 'image' AND owner_id = old.id;
END;
CREATE TRIGGER products_drop_embeddings AFTER DELETE ON products BEGIN
    DELETE FROM embeddings WHERE owner_kind = 'product' AND owner_id = old.id;
END;
CREATE TABLE passage_embeddings_7 (
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    model_id    TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    UNIQUE (model_id, product_id, seq)
);
INSERT INTO passage_embeddings_7 SELECT product_id, model_id, seq, dim, vector
FROM passage_embeddings ORDER BY model_id, product_id, seq;
DROP TABLE passage_embeddings;
ALTER TABLE passage_embeddings_7 RENAME TO passage_embeddings;
"#,
];
