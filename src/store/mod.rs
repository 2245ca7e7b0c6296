//! The catalog's SQLite store: connection set-up, migrations and every query the core runs.
//! Nothing outside the core touches SQL; callers go through [`crate::Catalog`].

mod migrations;

use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, params};
use serde_json::{Map, Value};

use crate::domain::{
    Image, ImportErrorRecord, ImportRun, ImportStatus, Origin, OwnerKind, PHash, Product,
    ProductFilter, SkipKind, Stats,
};
use crate::error::{Error, Result};

pub use migrations::MIGRATIONS;
use migrations::VECTORS_MOVED;

pub struct Store {
    conn: Connection,
}

/// Whether a write added, changed or left a row as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Updated,
    Unchanged,
}

/// Product fields as an import supplies them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductData {
    pub sku: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub color: String,
    pub price: Option<f64>,
    pub attributes: Map<String, Value>,
}

/// What the integrity check found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Integrity {
    /// Empty when all is well.
    pub problems: Vec<String>,
    /// Every problem is in an index (the tables are intact): rebuilding the indexes fixes it.
    pub indexes_only: bool,
}

/// A pair of SKUs in the order `pair_decisions` keeps them (lower first).
fn sku_pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a < b { (a, b) } else { (b, a) }
}

/// A line of `PRAGMA integrity_check` about an index, which `REINDEX` rebuilds from its table.
fn is_index_problem(line: &str) -> bool {
    [
        "missing from index",
        "wrong # of entries in index",
        "non-unique entry in index",
    ]
    .iter()
    .any(|p| line.contains(p))
}

/// A stored duplicate decision: ((product a, product b), decision, kept product, photos fingerprint).
pub type DecisionRow = ((i64, i64), String, Option<i64>, String);

/// Width, height and perceptual hash of a photo content.
pub type KnownContent = (u32, u32, Option<PHash>);

/// What the store knows of a photo file from an earlier import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    pub size: i64,
    pub mtime: i64,
    pub hash: String,
    pub width: u32,
    pub height: u32,
    /// Perceptual hash (bits of a u64).
    pub phash: Option<PHash>,
}

/// One product's use of a photo file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageData {
    pub path: String,
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub view: String,
    pub color: String,
    pub position: i64,
    pub attributes: Map<String, Value>,
    pub size: i64,
    pub mtime: i64,
    pub phash: Option<PHash>,
}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        check_header(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL keeps readers (the app) going while an import writes, and makes every commit atomic
        // under a crash or SIGKILL; NORMAL sync is durable across process death.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn };
        store.migrate(path)?;
        Ok(store)
    }

    fn migrate(&mut self, path: &Path) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::SchemaTooNew {
                path: path.to_path_buf(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        // Migration 7 rewrote the vectors: the pages they left are returned and the new tables
        // laid out in order (half the file, twice as fast to read from a cold disk). A catalog
        // that cannot be compacted now (a full disk) is still whole.
        if (1..VECTORS_MOVED).contains(&version) {
            tracing::info!("compacting {} after moving its vectors", path.display());
            if let Err(e) = self.conn.execute_batch("VACUUM") {
                tracing::warn!("could not compact {}: {e}", path.display());
            }
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Ok(self.conn.transaction()?)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// SQLite's integrity check and the foreign keys.
    pub fn integrity(&self) -> Result<Integrity> {
        let mut problems: Vec<String> = {
            let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        problems.retain(|r| r != "ok");
        let mut indexes_only = problems.iter().all(|p| is_index_problem(p));
        let fk: i64 =
            self.conn
                .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
        if fk > 0 {
            problems.push(format!("{fk} foreign key violations"));
            indexes_only = false;
        }
        Ok(Integrity {
            indexes_only: indexes_only && !problems.is_empty(),
            problems,
        })
    }

    /// Rebuilds every index from the tables.
    pub fn rebuild_indexes(&self) -> Result<()> {
        self.conn.execute_batch("REINDEX;")?;
        Ok(())
    }

    /// A byte copy of the database at `dest`, with its write-ahead log beside it (`dest-wal`),
    /// as SQLite finds it when `dest` is opened. Not checkpointed first: a damaged index can
    /// keep the checkpoint from running.
    pub fn copy_to(from: &Path, dest: &Path) -> Result<()> {
        std::fs::copy(from, dest).map_err(|e| Error::io(dest, e))?;
        let wal = |p: &Path| {
            let mut s = p.as_os_str().to_owned();
            s.push("-wal");
            std::path::PathBuf::from(s)
        };
        if wal(from).is_file() {
            std::fs::copy(wal(from), wal(dest)).map_err(|e| Error::io(wal(dest), e))?;
        }
        Ok(())
    }

    // ---- products ----

    /// Inserts the product or brings its fields up to date. Returns its id and what changed.
    pub fn upsert_product(
        tx: &Transaction,
        data: &ProductData,
        origin: Origin,
        source: &str,
    ) -> Result<(i64, Change)> {
        let attributes = Value::Object(data.attributes.clone()).to_string();
        let existing = tx
            .query_row(
                "SELECT id, title, description, category, color, price, attributes, origin, source
                 FROM products WHERE sku = ?1",
                [&data.sku],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        ProductData {
                            sku: data.sku.clone(),
                            title: r.get(1)?,
                            description: r.get(2)?,
                            category: r.get(3)?,
                            color: r.get(4)?,
                            price: r.get(5)?,
                            attributes: parse_object(&r.get::<_, String>(6)?),
                        },
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                    ))
                },
            )
            .optional()?;
        let now = now_millis();
        match existing {
            Some((id, old, old_origin, old_source))
                if old == *data && old_origin == origin.as_str() && old_source == source =>
            {
                Ok((id, Change::Unchanged))
            }
            Some((id, ..)) => {
                tx.execute(
                    "UPDATE products SET title=?2, description=?3, category=?4, color=?5, price=?6,
                     attributes=?7, origin=?8, source=?9, updated_at=?10 WHERE id=?1",
                    params![
                        id,
                        data.title,
                        data.description,
                        data.category,
                        data.color,
                        data.price,
                        attributes,
                        origin.as_str(),
                        source,
                        now
                    ],
                )?;
                Ok((id, Change::Updated))
            }
            None => {
                tx.execute(
                    "INSERT INTO products (sku, title, description, category, color, price, attributes,
                     origin, source, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                    params![
                        data.sku,
                        data.title,
                        data.description,
                        data.category,
                        data.color,
                        data.price,
                        attributes,
                        origin.as_str(),
                        source,
                        now
                    ],
                )?;
                Ok((tx.last_insert_rowid(), Change::Added))
            }
        }
    }

    pub fn delete_product(tx: &Transaction, id: i64) -> Result<()> {
        tx.execute("DELETE FROM products WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- images ----

    /// The most recent state recorded for a photo file, whichever product uses it.
    pub fn known_file(conn: &Connection, path: &str) -> Result<Option<KnownFile>> {
        Ok(conn
            .query_row(
                "SELECT file_size, file_mtime, hash, width, height, phash FROM images
                 WHERE path = ?1 ORDER BY updated_at DESC LIMIT 1",
                [path],
                |r| {
                    Ok(KnownFile {
                        size: r.get(0)?,
                        mtime: r.get(1)?,
                        hash: r.get(2)?,
                        width: r.get(3)?,
                        height: r.get(4)?,
                        phash: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// Products that use the photo at `path`, with their origin.
    pub fn products_using(conn: &Connection, path: &str) -> Result<Vec<(i64, Origin)>> {
        let mut stmt = conn.prepare_cached(
            "SELECT p.id, p.origin FROM images i JOIN products p ON p.id = i.product_id
             WHERE i.path = ?1",
        )?;
        let rows = stmt
            .query_map([path], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .map(|(id, o)| (id, Origin::parse(&o)))
            .collect())
    }

    pub fn upsert_image(tx: &Transaction, product_id: i64, data: &ImageData) -> Result<Change> {
        let attributes = Value::Object(data.attributes.clone()).to_string();
        let existing = tx
            .query_row(
                "SELECT id, hash, width, height, view, color, position, attributes, file_size, file_mtime, phash
                 FROM images WHERE product_id = ?1 AND path = ?2",
                params![product_id, data.path],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        ImageData {
                            path: data.path.clone(),
                            hash: r.get(1)?,
                            width: r.get(2)?,
                            height: r.get(3)?,
                            view: r.get(4)?,
                            color: r.get(5)?,
                            position: r.get(6)?,
                            attributes: parse_object(&r.get::<_, String>(7)?),
                            size: r.get(8)?,
                            mtime: r.get(9)?,
                            phash: r.get(10)?,
                        },
                    ))
                },
            )
            .optional()?;
        let now = now_millis();
        match existing {
            Some((_, old)) if old == *data => Ok(Change::Unchanged),
            Some((id, old)) => {
                // A new file time with the same bytes is bookkeeping, not a change to the photo.
                let same_photo = ImageData {
                    size: data.size,
                    mtime: data.mtime,
                    ..old
                } == *data;
                tx.execute(
                    "UPDATE images SET hash=?2, width=?3, height=?4, view=?5, color=?6, position=?7,
                     attributes=?8, file_size=?9, file_mtime=?10, updated_at=?11, phash=?12 WHERE id=?1",
                    params![
                        id,
                        data.hash,
                        data.width,
                        data.height,
                        data.view,
                        data.color,
                        data.position,
                        attributes,
                        data.size,
                        data.mtime,
                        now,
                        data.phash
                    ],
                )?;
                Ok(if same_photo {
                    Change::Unchanged
                } else {
                    Change::Updated
                })
            }
            None => {
                tx.execute(
                    "INSERT INTO images (product_id, path, hash, width, height, view, color, position,
                     attributes, file_size, file_mtime, updated_at, phash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    params![
                        product_id,
                        data.path,
                        data.hash,
                        data.width,
                        data.height,
                        data.view,
                        data.color,
                        data.position,
                        attributes,
                        data.size,
                        data.mtime,
                        now,
                        data.phash
                    ],
                )?;
                Ok(Change::Added)
            }
        }
    }

    /// Brings every image row of a file up to date with what was just read from it.
    /// Returns how many rows now show a different photo (content, not just file time).
    pub fn update_file(tx: &Transaction, path: &str, k: &KnownFile) -> Result<usize> {
        let changed = tx
            .prepare_cached(
                "UPDATE images SET hash = ?2, width = ?3, height = ?4, phash = ?6, updated_at = ?5
                 WHERE path = ?1 AND (hash, width, height) IS NOT (?2, ?3, ?4)",
            )?
            .execute(params![
                path,
                k.hash,
                k.width,
                k.height,
                now_millis(),
                k.phash
            ])?;
        tx.prepare_cached("UPDATE images SET file_size = ?2, file_mtime = ?3 WHERE path = ?1")?
            .execute(params![path, k.size, k.mtime])?;
        Ok(changed)
    }

    /// Width, height and perceptual hash of every photo content the catalog holds, by content hash.
    pub fn known_hashes(&self) -> Result<HashMap<String, KnownContent>> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash, width, height, max(phash) FROM images GROUP BY hash")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn product_origin(conn: &Connection, id: i64) -> Result<Option<Origin>> {
        Ok(conn
            .query_row("SELECT origin FROM products WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .map(|o| Origin::parse(&o)))
    }

    pub fn delete_image(tx: &Transaction, id: i64) -> Result<()> {
        tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Every (image id, product id, path) of the products whose source is `source`.
    pub fn images_of_source(conn: &Connection, source: &str) -> Result<Vec<(i64, i64, String)>> {
        let mut stmt = conn.prepare(
            "SELECT i.id, i.product_id, i.path FROM images i JOIN products p ON p.id = i.product_id
             WHERE p.source = ?1 ORDER BY i.id",
        )?;
        let rows = stmt
            .query_map([source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every (product id, sku) whose source is `source`.
    pub fn products_of_source(conn: &Connection, source: &str) -> Result<Vec<(i64, String)>> {
        let mut stmt =
            conn.prepare("SELECT id, sku FROM products WHERE source = ?1 ORDER BY id")?;
        let rows = stmt
            .query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn image_count_of_product(conn: &Connection, product_id: i64) -> Result<i64> {
        Ok(conn.query_row(
            "SELECT count(*) FROM images WHERE product_id = ?1",
            [product_id],
            |r| r.get(0),
        )?)
    }

    // ---- settings ----

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Marks `sku` right or wrong for `query` (`None`: forgets the mark).
    pub fn set_judgement(&self, query: &str, sku: &str, right: Option<bool>) -> Result<()> {
        match right {
            Some(r) => self.conn.execute(
                "INSERT INTO judgements (query, sku, right, judged_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(query, sku) DO UPDATE SET right = excluded.right,
                    judged_at = excluded.judged_at",
                params![query, sku, r, now_millis()],
            )?,
            None => self.conn.execute(
                "DELETE FROM judgements WHERE query = ?1 AND sku = ?2",
                params![query, sku],
            )?,
        };
        Ok(())
    }

    /// Every mark (of one query, when given) as (query, SKU, right), oldest query first.
    pub fn judgements(&self, query: Option<&str>) -> Result<Vec<(String, String, bool)>> {
        let mut stmt = self.conn.prepare(
            "SELECT query, sku, right FROM judgements WHERE ?1 IS NULL OR query = ?1
             ORDER BY min(judged_at) OVER (PARTITION BY query), query, sku",
        )?;
        let rows = stmt
            .query_map([query], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn delete_setting(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])?;
        Ok(())
    }

    // ---- embeddings ----

    /// One row per distinct photo content that lacks a perceptual hash, or an embedding by
    /// `model` (when given): (content hash, a path to read it from, needs phash, needs embedding).
    pub fn photos_to_embed(
        &self,
        model: Option<&str>,
    ) -> Result<Vec<(String, String, bool, bool)>> {
        let mut stmt = self.conn.prepare(
            "SELECT i.hash, min(i.path), max(i.phash IS NULL),
                    max(?1 IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM embeddings e WHERE e.owner_kind = 'image' AND e.owner_id = i.id
                        AND e.model_id = ?1 AND e.input_hash = i.hash))
             FROM images i GROUP BY i.hash
             HAVING max(i.phash IS NULL) OR max(?1 IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM embeddings e WHERE e.owner_kind = 'image' AND e.owner_id = i.id
                        AND e.model_id = ?1 AND e.input_hash = i.hash))
             ORDER BY min(i.path)",
        )?;
        let rows = stmt
            .query_map([model], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Stores an embedding for every image row showing the photo with content `hash`.
    pub fn put_photo_embedding(
        tx: &Transaction,
        hash: &str,
        model: &str,
        vector: &[f32],
    ) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO embeddings (owner_kind, owner_id, model_id, dim, vector, input_hash, created_at)
             SELECT 'image', id, ?2, ?3, ?4, hash, ?5 FROM images WHERE hash = ?1
             ON CONFLICT(owner_kind, owner_id, model_id) DO UPDATE SET
                dim = excluded.dim, vector = excluded.vector, input_hash = excluded.input_hash,
                created_at = excluded.created_at",
        )?
        .execute(params![hash, model, vector.len() as i64, f32_blob(vector), now_millis()])?;
        Ok(())
    }

    pub fn put_photo_phash(tx: &Transaction, hash: &str, phash: PHash) -> Result<()> {
        tx.prepare_cached("UPDATE images SET phash = ?2 WHERE hash = ?1")?
            .execute(params![hash, phash])?;
        Ok(())
    }

    /// Every product's title.
    pub fn titles(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT title FROM products")?;
        let titles = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(titles)
    }

    /// Products with their current product-text embedding input hash for `model`, if any.
    pub fn products_for_text(
        &self,
        model: &str,
    ) -> Result<Vec<(i64, ProductData, Option<String>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.id, p.sku, p.title, p.description, p.category, p.color, e.input_hash
             FROM products p LEFT JOIN embeddings e
               ON e.owner_kind = 'product' AND e.owner_id = p.id AND e.model_id = ?1
             ORDER BY p.id",
        )?;
        let rows = stmt
            .query_map([model], |r| {
                Ok((
                    r.get(0)?,
                    ProductData {
                        sku: r.get(1)?,
                        title: r.get(2)?,
                        description: r.get(3)?,
                        category: r.get(4)?,
                        color: r.get(5)?,
                        ..ProductData::default()
                    },
                    r.get(6)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn put_product_embedding(
        tx: &Transaction,
        id: i64,
        model: &str,
        vector: &[f32],
        input_hash: &str,
    ) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO embeddings (owner_kind, owner_id, model_id, dim, vector, input_hash, created_at)
             VALUES ('product', ?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(owner_kind, owner_id, model_id) DO UPDATE SET
                dim = excluded.dim, vector = excluded.vector, input_hash = excluded.input_hash,
                created_at = excluded.created_at",
        )?
        .execute(params![id, model, vector.len() as i64, f32_blob(vector), input_hash, now_millis()])?;
        Ok(())
    }

    /// Replaces the passage vectors of product `id` for `model`.
    pub fn put_passages(
        tx: &Transaction,
        id: i64,
        model: &str,
        vectors: &[Vec<f32>],
    ) -> Result<()> {
        tx.prepare_cached(
            "DELETE FROM passage_embeddings WHERE model_id = ?1 AND product_id = ?2",
        )?
        .execute(params![model, id])?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO passage_embeddings (product_id, model_id, seq, dim, vector)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (seq, v) in vectors.iter().enumerate().take(1 << PASSAGE_SEQ_BITS) {
            insert.execute(params![id, model, seq as i64, v.len() as i64, f32_blob(v)])?;
        }
        Ok(())
    }

    pub fn photo_vector(&self, model: &str, hash: &str) -> Result<Option<Vec<f32>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT e.vector FROM embeddings e JOIN images i ON e.owner_kind = 'image' AND e.owner_id = i.id
                 WHERE e.model_id = ?1 AND i.hash = ?2 LIMIT 1",
                [model, hash],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .map(|b| blob_f32(&b)))
    }

    pub fn vector_count(&self, owner_kind: OwnerKind, model: &str) -> Result<usize> {
        Ok(self.conn.query_row(
            &format!("SELECT count(*) FROM {}", vectors_of(owner_kind)),
            params![owner_kind, model],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

    /// Each distinct photo (by content hash) with one path to read it from.
    pub fn photo_files(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash, min(path) FROM images GROUP BY hash ORDER BY hash")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The size of `model`'s vectors of this kind, if it has any.
    pub fn vector_dim(&self, owner_kind: OwnerKind, model: &str) -> Result<Option<usize>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT dim FROM {} LIMIT 1", vectors_of(owner_kind)),
                params![owner_kind, model],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|d| d as usize))
    }

    /// `model`'s vectors of this kind by owner id (for passages, see [`passage_owner`]), in id
    /// order, decoded into one buffer that `f` sees row by row (no copy of them all is kept). Passages are read in their primary
    /// key's order (product, place), which is their owner ids' order, so SQLite sorts nothing.
    pub fn for_each_vector(
        &self,
        owner_kind: OwnerKind,
        model: &str,
        mut f: impl FnMut(i64, &[f32]) -> Result<()>,
    ) -> Result<()> {
        let sql = match owner_kind {
            OwnerKind::Passage => format!(
                "SELECT (product_id << {PASSAGE_SEQ_BITS}) | seq, vector FROM passage_embeddings
                 WHERE ?1 = 'passage' AND model_id = ?2 ORDER BY product_id, seq"
            ),
            _ => format!(
                "SELECT owner_id, vector FROM {} ORDER BY owner_id",
                vectors_of(owner_kind)
            ),
        };
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params![owner_kind, model])?;
        let mut buf: Vec<f32> = Vec::new();
        while let Some(r) = rows.next()? {
            let blob = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            buf.clear();
            extend_f32(&mut buf, blob);
            f(r.get(0)?, &buf)?;
        }
        Ok(())
    }

    /// Every product and every image in two queries (for search), images in display order.
    pub fn all_products_with_images(&self) -> Result<Vec<Product>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, sku, title, description, category, color, price, attributes, origin, source
             FROM products ORDER BY id",
        )?;
        let mut products: Vec<Product> = stmt
            .query_map([], product_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        let index: HashMap<i64, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        let mut stmt = self.conn.prepare(
            "SELECT id, product_id, path, hash, width, height, view, color, position, attributes, phash
             FROM images ORDER BY product_id, position, id",
        )?;
        let images = stmt.query_map([], image_from_row)?;
        for im in images {
            let im = im?;
            if let Some(&i) = index.get(&im.product_id) {
                products[i].images.push(im);
            }
        }
        Ok(products)
    }

    /// Products matching an FTS5 query with their BM25 score (higher is better), best first,
    /// from a temporary FTS5 index of the products made on first use: what `Lexicon::bm25`
    /// computes in memory, tested against this.
    #[cfg(test)]
    pub fn keyword_search(&self, fts_query: &str, limit: usize) -> Result<Vec<(i64, f64)>> {
        self.conn.execute_batch(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.products_fts USING fts5(
                 title, description, category, color, sku, attributes,
                 tokenize = 'unicode61 remove_diacritics 2');",
        )?;
        let empty: bool = self.conn.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM products_fts LIMIT 1)",
            [],
            |r| r.get(0),
        )?;
        if empty {
            let mut insert = self.conn.prepare(
                "INSERT INTO products_fts(rowid, title, description, category, color, sku, attributes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for p in self.all_products_with_images()? {
                insert.execute(params![
                    p.id,
                    p.title,
                    p.description,
                    p.category,
                    p.color,
                    p.sku,
                    crate::domain::descriptive_words(&p.attributes)
                ])?;
            }
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid, -bm25(products_fts, 5.0, 1.0, 3.0, 2.0, 3.0, 2.0) FROM products_fts
             WHERE products_fts MATCH ?1 ORDER BY bm25(products_fts, 5.0, 1.0, 3.0, 2.0, 3.0, 2.0) LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![fts_query, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    // ---- duplicate decisions ----

    /// The decisions on pairs of products in the catalog now: ((lower id, higher id),
    /// decision, kept product, photos fingerprint). Decisions are stored by SKU, so a product
    /// removed and imported again finds its decisions again.
    pub fn decisions(&self) -> Result<Vec<DecisionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT min(pa.id, pb.id), max(pa.id, pb.id), d.decision, pk.id, d.photos_hash
             FROM pair_decisions d
             JOIN products pa ON pa.sku = d.sku_a
             JOIN products pb ON pb.sku = d.sku_b
             LEFT JOIN products pk ON pk.sku = d.keep_sku",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(((r.get(0)?, r.get(1)?), r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Records (or replaces) the decision on a pair of products, by SKU.
    pub fn put_decision(
        &self,
        a: &str,
        b: &str,
        decision: &str,
        keep: Option<&str>,
        fingerprint: &str,
    ) -> Result<()> {
        let (lo, hi) = sku_pair(a, b);
        self.conn.execute(
            "INSERT INTO pair_decisions (sku_a, sku_b, decision, keep_sku, photos_hash, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(sku_a, sku_b) DO UPDATE SET decision = excluded.decision,
                keep_sku = excluded.keep_sku, photos_hash = excluded.photos_hash,
                decided_at = excluded.decided_at",
            params![lo, hi, decision, keep, fingerprint, now_millis()],
        )?;
        Ok(())
    }

    /// Forgets the decision on a pair of products, by SKU (an undo).
    pub fn delete_decision(&self, a: &str, b: &str) -> Result<()> {
        let (lo, hi) = sku_pair(a, b);
        self.conn.execute(
            "DELETE FROM pair_decisions WHERE sku_a = ?1 AND sku_b = ?2",
            params![lo, hi],
        )?;
        Ok(())
    }

    /// One product per (SKU, perceptual hash, vector), with one photo embedded by `model`.
    pub fn insert_embedded_photos<'a>(
        &self,
        rows: impl Iterator<Item = (String, PHash, &'a [f32])>,
        model: &str,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let now = now_millis();
        for (sku, phash, v) in rows {
            tx.execute(
                "INSERT INTO products (sku, title, origin, source, created_at, updated_at) VALUES (?1, ?1, 'folder', 'synthetic', ?2, ?2)",
                params![sku, now],
            )?;
            let pid = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO images (product_id, path, hash, width, height, file_size, file_mtime, updated_at, phash)
                 VALUES (?1, ?2, ?2, 1, 1, 0, 0, ?3, ?4)",
                params![pid, format!("synthetic-{sku}"), now, phash],
            )?;
            let iid = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO embeddings (owner_kind, owner_id, model_id, dim, vector, input_hash, created_at)
                 VALUES ('image', ?1, ?2, ?3, ?4, '', ?5)",
                params![iid, model, v.len() as i64, f32_blob(v), now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Products, each with its product-text vector and passage vectors by `model` already made.
    /// The vectors' input hash is left empty, so that `embed` would encode the texts again.
    pub fn insert_embedded_products<'a>(
        &self,
        rows: impl Iterator<Item = (ProductData, &'a [f32], &'a [Vec<f32>])>,
        model: &str,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for (data, v, passages) in rows {
            let (id, _) = Self::upsert_product(&tx, &data, Origin::Csv, "synthetic")?;
            Self::put_product_embedding(&tx, id, model, v, "")?;
            Self::put_passages(&tx, id, model, passages)?;
        }
        tx.commit()?;
        Ok(())
    }

    // ---- import runs ----

    pub fn begin_run(&self, sources: &[String]) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO import_runs (started_at, status, sources) VALUES (?1, 'running', ?2)",
            params![now_millis(), serde_json::to_string(sources)?],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run: i64, status: ImportStatus, counts: &Value) -> Result<()> {
        self.conn.execute(
            "UPDATE import_runs SET status = ?2, finished_at = ?3, counts = ?4 WHERE id = ?1",
            params![run, status, now_millis(), counts.to_string()],
        )?;
        Ok(())
    }

    pub fn record_error(conn: &Connection, run: i64, e: &ImportErrorRecord) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO import_errors (run_id, item, line, kind, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![run, e.item, e.line, e.kind, e.message])?;
        Ok(())
    }

    /// Runs marked running: (id, started at, in ms since the epoch).
    pub fn running_runs(&self) -> Result<Vec<(i64, i64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, started_at FROM import_runs WHERE status = 'running'")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn mark_interrupted(&self, run: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE import_runs SET status = 'interrupted' WHERE id = ?1 AND status = 'running'",
            [run],
        )?;
        Ok(())
    }

    pub fn run_exists(&self, run: i64) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM import_runs WHERE id = ?1", [run], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn runs(&self, limit: usize) -> Result<Vec<ImportRun>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.started_at, r.finished_at, r.status, r.sources, r.counts,
                    (SELECT count(*) FROM import_errors e WHERE e.run_id = r.id)
             FROM import_runs r ORDER BY r.id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(ImportRun {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    status: r.get(3)?,
                    sources: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                    counts: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                    errors: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn errors(&self, run: i64) -> Result<Vec<ImportErrorRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT item, line, kind, message FROM import_errors WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([run], |r| {
                Ok(ImportErrorRecord {
                    item: r.get(0)?,
                    line: r.get(1)?,
                    kind: r.get(2)?,
                    message: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    // ---- reading the catalog ----

    pub fn stats(&self) -> Result<Stats> {
        let c = &self.conn;
        let one = |sql: &str| -> Result<i64> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
        let mut stmt = c.prepare(
            "SELECT category, count(*) FROM products GROUP BY category ORDER BY count(*) DESC, category",
        )?;
        let categories = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = c.prepare(
            "SELECT model_id, owner_kind, count(*) FROM embeddings GROUP BY model_id, owner_kind ORDER BY 1, 2",
        )?;
        let embeddings = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Stats {
            products: one("SELECT count(*) FROM products")?,
            images: one("SELECT count(*) FROM images")?,
            distinct_photos: one("SELECT count(DISTINCT hash) FROM images")?,
            products_without_images: one(
                "SELECT count(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.product_id = p.id)",
            )?,
            categories,
            embeddings,
            import_runs: one("SELECT count(*) FROM import_runs")?,
            schema_version: self.schema_version()?,
        })
    }

    pub fn products(&self, filter: &ProductFilter) -> Result<Vec<Product>> {
        let mut sql = String::from(
            "SELECT id, sku, title, description, category, color, price, attributes, origin, source
             FROM products WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(cat) = filter.category.as_deref().filter(|c| !c.is_empty()) {
            sql.push_str(" AND (category = ? OR category LIKE ? ESCAPE '\\')");
            args.push(cat.to_string().into());
            args.push(format!("{}/%", escape_like(cat)).into());
        }
        sql.push_str(" ORDER BY sku LIMIT ? OFFSET ?");
        args.push((filter.limit.unwrap_or(i64::MAX as usize) as i64).into());
        args.push((filter.offset as i64).into());
        let mut stmt = self.conn.prepare(&sql)?;
        let mut products: Vec<Product> = stmt
            .query_map(rusqlite::params_from_iter(args), product_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        for p in &mut products {
            p.images = self.images_of(p.id)?;
        }
        Ok(products)
    }

    pub fn product_by_sku(&self, sku: &str) -> Result<Product> {
        let mut p = self
            .conn
            .query_row(
                "SELECT id, sku, title, description, category, color, price, attributes, origin, source
                 FROM products WHERE sku = ?1",
                [sku],
                product_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::UnknownSku(sku.to_string()))?;
        p.images = self.images_of(p.id)?;
        Ok(p)
    }

    fn images_of(&self, product_id: i64) -> Result<Vec<Image>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, product_id, path, hash, width, height, view, color, position, attributes, phash
             FROM images WHERE product_id = ?1 ORDER BY position, id",
        )?;
        let rows = stmt
            .query_map([product_id], image_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// An image from `SELECT id, product_id, path, hash, width, height, view, color, position,
/// attributes, phash`.
fn image_from_row(r: &rusqlite::Row) -> rusqlite::Result<Image> {
    Ok(Image {
        id: r.get(0)?,
        product_id: r.get(1)?,
        path: r.get(2)?,
        hash: r.get(3)?,
        width: r.get(4)?,
        height: r.get(5)?,
        view: r.get(6)?,
        color: r.get(7)?,
        position: r.get(8)?,
        attributes: parse_object(&r.get::<_, String>(9)?),
        phash: r.get(10)?,
    })
}

fn product_from_row(r: &rusqlite::Row) -> rusqlite::Result<Product> {
    Ok(Product {
        id: r.get(0)?,
        sku: r.get(1)?,
        title: r.get(2)?,
        description: r.get(3)?,
        category: r.get(4)?,
        color: r.get(5)?,
        price: r.get(6)?,
        attributes: parse_object(&r.get::<_, String>(7)?),
        origin: Origin::parse(&r.get::<_, String>(8)?),
        source: r.get(9)?,
        images: Vec::new(),
    })
}

fn parse_object(s: &str) -> Map<String, Value> {
    match serde_json::from_str(s) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Little-endian f32s, as embeddings are stored.
impl ToSql for PHash {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(i64::from(*self)))
    }
}

impl FromSql for PHash {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<PHash> {
        i64::column_result(v).map(PHash::from)
    }
}

impl ToSql for SkipKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for SkipKind {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<SkipKind> {
        let s = v.as_str()?;
        Ok(SkipKind::from_code(s).unwrap_or(SkipKind::Other))
    }
}

impl ToSql for ImportStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for ImportStatus {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<ImportStatus> {
        let s = v.as_str()?;
        ImportStatus::from_code(s)
            .ok_or_else(|| FromSqlError::Other(format!("unknown import status {s:?}").into()))
    }
}

/// Passage vectors are identified by their product's id and place:
/// `product_id << PASSAGE_SEQ_BITS | seq`.
pub const PASSAGE_SEQ_BITS: u32 = 6;

/// The product a passage id belongs to.
pub fn passage_owner(id: i64) -> i64 {
    id >> PASSAGE_SEQ_BITS
}

/// The vectors of one owner kind and model (`?1` the kind, `?2` the model) as a subquery with
/// `owner_id`, `dim` and `vector` columns.
fn vectors_of(kind: OwnerKind) -> String {
    match kind {
        OwnerKind::Passage => format!(
            "(SELECT (product_id << {PASSAGE_SEQ_BITS}) | seq AS owner_id, dim, vector FROM passage_embeddings
              WHERE ?1 = 'passage' AND model_id = ?2)"
        ),
        _ => "(SELECT owner_id, dim, vector FROM embeddings WHERE owner_kind = ?1 AND model_id = ?2)"
            .to_string(),
    }
}

impl ToSql for OwnerKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// An existing catalog file must be an SQLite database: an empty or foreign file is damage to
/// report, never a new empty catalog to write over it.
fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let why = match n {
        0 => "the file is empty",
        _ if &head[..n] != b"SQLite format 3\0" => "the file is not an SQLite database",
        _ => return Ok(()),
    };
    Err(Error::CatalogDamaged {
        path: path.to_path_buf(),
        why: why.into(),
    })
}

pub fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn blob_f32(b: &[u8]) -> Vec<f32> {
    let mut v = Vec::with_capacity(b.len() / 4);
    extend_f32(&mut v, b);
    v
}

/// Appends a vector stored as little-endian `f32` bytes.
fn extend_f32(out: &mut Vec<f32>, b: &[u8]) {
    out.extend(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_index_damage_counts_as_repairable() {
        assert!(is_index_problem(
            "row 5 missing from index sqlite_autoindex_products_1"
        ));
        assert!(is_index_problem(
            "wrong # of entries in index images_product"
        ));
        assert!(!is_index_problem(
            "*** in database main ***\nPage 12: btreeInitPage() returns error code 11"
        ));
    }

    #[test]
    fn vectors_of_a_version_6_catalog_move_to_tables_with_rowids_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        let v = |i: i64| -> Vec<f32> { (0..384).map(|j| (i * 1000 + j) as f32).collect() };
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..6] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 6).unwrap();
            for id in 1..=3i64 {
                conn.execute(
                    "INSERT INTO products (id, sku, title, origin, source, created_at, updated_at)
                     VALUES (?1, ?1, 't', 'csv', 's.csv', 0, 0)",
                    params![id],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO embeddings VALUES ('product', ?1, 'm', 384, ?2, 'h', 0)",
                    params![id, f32_blob(&v(id))],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO passage_embeddings VALUES (?1, 'm', 0, 384, ?2)",
                    params![id, f32_blob(&v(10 + id))],
                )
                .unwrap();
            }
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        // The old tables' pages are returned (the file is compacted once).
        let free: i64 = store
            .conn
            .pragma_query_value(None, "freelist_count", |r| r.get(0))
            .unwrap();
        assert_eq!(free, 0);
        let read = |store: &Store, kind| {
            let mut got = Vec::new();
            store
                .for_each_vector(kind, "m", |id, x| {
                    got.push((id, x.to_vec()));
                    Ok(())
                })
                .unwrap();
            got
        };
        assert_eq!(
            read(&store, OwnerKind::Product),
            (1..=3).map(|i| (i, v(i))).collect::<Vec<_>>()
        );
        assert_eq!(
            read(&store, OwnerKind::Passage),
            (1..=3)
                .map(|i| (i << PASSAGE_SEQ_BITS, v(10 + i)))
                .collect::<Vec<_>>()
        );
        // Writing again replaces (the key is still unique), and deleting a product still takes
        // its vectors with it (the triggers and the foreign key are back).
        let tx = store.transaction().unwrap();
        Store::put_product_embedding(&tx, 2, "m", &v(7), "h2").unwrap();
        Store::put_passages(&tx, 2, "m", &[v(8)]).unwrap();
        Store::delete_product(&tx, 1).unwrap();
        tx.commit().unwrap();
        assert_eq!(read(&store, OwnerKind::Product), vec![(2, v(7)), (3, v(3))]);
        assert_eq!(
            read(&store, OwnerKind::Passage),
            vec![
                (2 << PASSAGE_SEQ_BITS, v(8)),
                (3 << PASSAGE_SEQ_BITS, v(13))
            ]
        );
        let without_rowid: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('embeddings', 'passage_embeddings')
                 AND sql LIKE '%WITHOUT ROWID%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(without_rowid, 0);
    }

    #[test]
    fn decisions_of_a_version_2_catalog_move_to_skus() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..2] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 2).unwrap();
            for (id, sku) in [(1, "ZED"), (2, "ALPHA"), (3, "MID")] {
                conn.execute(
                    "INSERT INTO products (id, sku, title, origin, source, created_at, updated_at)
                     VALUES (?1, ?2, ?2, 'csv', 's.csv', 0, 0)",
                    params![id, sku],
                )
                .unwrap();
            }
            conn.execute_batch(
                "INSERT INTO duplicate_decisions (product_a, product_b, decision, keep_product, photos_hash, decided_at)
                 VALUES (1, 2, 'duplicate', 1, 'fp12', 5), (2, 3, 'not_duplicate', NULL, 'fp23', 6);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let mut got = store.decisions().unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![
                ((1, 2), "duplicate".to_string(), Some(1), "fp12".to_string()),
                (
                    (2, 3),
                    "not_duplicate".to_string(),
                    None,
                    "fp23".to_string()
                ),
            ]
        );
    }
}
