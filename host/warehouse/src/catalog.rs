//! The data catalog (数据目录): every table of the warehouse with its layer,
//! business domain, standardized name, owner, descriptions, column
//! sensitivity, row count, freshness and quality score, searchable.
//!
//! **Owns:** the `zw_catalog_*` tables ([`ensure_tables`]) and what is
//! written to them by [`refresh`]; the sensitivity an admin confirms
//! ([`confirm_sensitivity`]). **Reads, never writes:** the warehouse's data
//! tables and the loader's bookkeeping (`zw_batch`, `zw_table_load`,
//! `zw_quarantine`, `zw_reconcile`, `zw_drift`). **Must not know:** HTTP or
//! who may read what; the server exposes [`search`], [`table_detail`] and
//! [`directory`] as JSON (every result type is `Serialize`).
//!
//! # What the catalog holds
//!
//! | table | one row per | holds |
//! |---|---|---|
//! | `zw_catalog_table` | data table | layer, source table, domain, description, owner, naming check, row count, freshness, quality score and parts, reconciliation status |
//! | `zw_catalog_column` | column of a data table | database type, declared type, description, suggested sensitivity with kind and reason, share of non-empty sampled values |
//! | `zw_catalog_sensitivity` | confirmed column | the level an admin confirmed, by whom, when |
//!
//! [`refresh`] rebuilds the first two from the database as it is — every
//! table except the bookkeeping ones (`zw_*`, `sqlite_*`, `_sqlx*`), so a
//! stray `tmp_x` shows up with its naming violation rather than hiding —
//! and drops the rows of tables that no longer exist. Confirmations live in
//! their own table and are never touched by a refresh: they survive it, and
//! come back if a dropped table is re-created.
//!
//! Metadata comes from the **latest manifest that listed the source table**
//! (`zw_batch.manifest`, newest batch first): the source table of
//! `ods_payment` or `dwd_payment` is `payment`. The layer comes from the
//! name's prefix (`ods_` → ODS, `dwd_` → DWD, `dws_` → DWS, `ads_` → ADS,
//! anything else → OTHER). The owner is [`RefreshOptions::table_owners`],
//! else [`RefreshOptions::owners`] for the domain, else the built-in
//! [`default_owner`]. Tables without a manifest have domain `未分类`.
//!
//! # Naming rules (standardized names)
//!
//! A table name must
//! 1. match `^(ods|dwd|dws|ads)_[a-z][a-z0-9_]*$` (rule `pattern`);
//! 2. be at most 63 bytes, PostgreSQL's identifier limit (rule `length`);
//! 3. not contain `__` (rule `double_underscore`);
//! 4. start with its layer's prefix; a name without one has no layer (rule `layer_prefix`).
//!
//! Its columns must be lowercase snake case without `__` and at most 63
//! bytes, except the bookkeeping columns the loaders add (`_batch_id`,
//! `_line`: one leading underscore) (rule `column`). Each table's result is
//! stored with the violated rules and a conforming suggested name.
//!
//! # Sensitivity levels
//!
//! | level | 中文 | meaning | suggested for |
//! |---|---|---|---|
//! | `public` | 公开 | may be shown to anyone | never suggested; only an admin sets it |
//! | `internal` | 内部 | business data for those granted the dataset | every column nothing else matched |
//! | `sensitive` | 敏感 | personal information | mobile/phone numbers, e-mail, names of persons, addresses, bank account numbers, salary and personal income, birth dates |
//! | `secret` | 机密 | 敏感个人信息 (PIPL) and credentials | 居民身份证号 and other identity documents, bank-card numbers, passwords and keys |
//!
//! A column's suggestion is the highest level found by
//! - **its name** (whole `_`-separated words: `id_card`, `sfzh`, `cert_no`,
//!   `mobile`, `phone`, `tel`, `bank_acct`, `acct_no`, `contact`, `address`,
//!   `salary`, …) and **its description** (`身份证`, `证件号`, `手机`, `电话`,
//!   `账号`, `卡号`, `姓名`, `联系人`, `地址`, `工资`, …);
//! - **its sampled values** (at most [`RefreshOptions::sample_rows`] rows per
//!   table, text-like columns only), so that a `remark` full of ID numbers is
//!   caught: an 18-character 居民身份证号 anywhere in the value with a valid
//!   ISO 7064 MOD 11-2 check character and a real birth date; a mobile number
//!   `1[3-9]\d{9}` not touching other digits; a whole value of 16–19 digits
//!   (a bank-card number when it passes the Luhn check, `secret`; otherwise a
//!   bank account number, `sensitive`); an e-mail address. A kind counts when
//!   at least 1 % of the non-empty sampled values (and at least one) hold it.
//!
//! The reason (which rule, how many values, a masked example) is stored with
//! the suggestion. An admin's confirmed level overrides the suggestion; the
//! *effective* level (confirmed, else suggested) is what search filters on.
//!
//! # Quality score (质量分, 0–100)
//!
//! `score = round(100 × Σ wᵢ·vᵢ / Σ wᵢ)` over the parts that apply (a part
//! that does not apply drops out and the others' weights are rescaled):
//!
//! | part | weight | value |
//! |---|---|---|
//! | validity | 0.35 | ODS: 1 − quarantined / received lines of the table's latest finished load (`zw_table_load`). DWD: 1 − quarantined / rows in of the source's latest finished clean run (`zw_clean_run`); before cleaning has recorded a run, 1 − rows quarantined with layer `dwd` (`zw_quarantine`) / ODS rows of the newest batch found in the table. Not for DWS/ADS. |
//! | completeness | 0.25 | share of non-empty values in the sampled rows, over all non-bookkeeping columns |
//! | reconciliation | 0.25 | latest `zw_reconcile` of the source table: `match` 1, `mismatch` 0; not applicable before the first run |
//! | freshness | 0.15 | max(0, 1 − d / 30) where d is the number of days the `as_of` of the table's latest batch lags the newest batch in the warehouse |
//!
//! Each part is stored and returned with its value and an explanation.
//! Freshness of an ODS table is its latest finished load; of a DWD table the
//! latest finished clean run of its source (`zw_clean_run`), or, without
//! one, the newest loaded batch of its source found among its rows (by
//! `_batch_id`).

mod naming;
mod quality;
mod sensitivity;

pub use naming::{MAX_NAME_BYTES, Violation, is_bookkeeping_column};
pub use quality::QualityPart;
pub use sensitivity::{Kind, Level, Suggestion, ValueScan, is_id_card, luhn, mask};

use crate::db::Db;
use crate::on_db;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use zhiyun_batch::Manifest;
use zhiyun_store::now_micros;

/// The domain of tables no manifest describes.
pub const UNCLASSIFIED: &str = "未分类";

/// The business domains in the order the directory lists them.
pub const DOMAINS: &[&str] = &[
    "资金",
    "总账",
    "预算",
    "营销电费",
    "工程",
    "资产",
    "物资",
    "税务",
    "人资",
    "共享运营",
];

/// The built-in owner (责任部门) of a business domain.
pub fn default_owner(domain: &str) -> Option<&'static str> {
    Some(match domain {
        "资金" => "财务部资金管理处",
        "总账" => "财务部会计核算处",
        "预算" => "财务部预算管理处",
        "营销电费" => "营销部电费电价处",
        "工程" => "财务部工程财务处",
        "资产" => "财务部资产管理处",
        "物资" => "物资部供应链管理处",
        "税务" => "财务部税务管理处",
        "人资" => "人力资源部薪酬福利处",
        "共享运营" => "财务共享服务中心",
        _ => return None,
    })
}

/// The warehouse layer of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Layer {
    /// 贴源层: as received (`ods_`).
    Ods,
    /// 明细层: cleaned and typed (`dwd_`).
    Dwd,
    /// 汇总层: wide tables per subject (`dws_`).
    Dws,
    /// 应用层: app-ready metrics (`ads_`).
    Ads,
    /// No layer prefix.
    Other,
}

impl Layer {
    pub const ALL: [Layer; 5] = [Layer::Ods, Layer::Dwd, Layer::Dws, Layer::Ads, Layer::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Ods => "ODS",
            Layer::Dwd => "DWD",
            Layer::Dws => "DWS",
            Layer::Ads => "ADS",
            Layer::Other => "OTHER",
        }
    }

    /// The table-name prefix of the layer (`ods_` …).
    pub fn prefix(self) -> Option<&'static str> {
        match self {
            Layer::Ods => Some("ods_"),
            Layer::Dwd => Some("dwd_"),
            Layer::Dws => Some("dws_"),
            Layer::Ads => Some("ads_"),
            Layer::Other => None,
        }
    }

    /// The layer a table name's prefix names (case-insensitively).
    pub fn of_table(name: &str) -> Layer {
        let prefix = name.get(..4).map(str::to_ascii_lowercase);
        match prefix.as_deref() {
            Some("ods_") => Layer::Ods,
            Some("dwd_") => Layer::Dwd,
            Some("dws_") => Layer::Dws,
            Some("ads_") => Layer::Ads,
            _ => Layer::Other,
        }
    }

    pub fn parse(s: &str) -> Option<Layer> {
        Layer::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "catalog: table {0:?} is not in the catalog (a table created since the last refresh appears after the next one)"
    )]
    UnknownTable(String),
    #[error("catalog: table {table:?} has no column {column:?}")]
    UnknownColumn { table: String, column: String },
    #[error(
        "catalog: {0:?} is not a sensitivity level; use public, internal, sensitive or secret (公开/内部/敏感/机密)"
    )]
    InvalidLevel(String),
    #[error("catalog: {0}")]
    Invalid(String),
    #[error("catalog: database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The catalog's tables. Idempotent; every public function calls it.
pub async fn ensure_tables(db: &Db) -> Result<(), CatalogError> {
    const TABLES: &[&str] = &[
        "CREATE TABLE IF NOT EXISTS zw_catalog_table (
            table_name TEXT PRIMARY KEY,
            layer TEXT NOT NULL,
            source_table TEXT,
            domain TEXT NOT NULL,
            description TEXT NOT NULL,
            owner TEXT,
            naming_ok BIGINT NOT NULL,
            naming_violations TEXT NOT NULL,
            suggested_name TEXT,
            row_count BIGINT NOT NULL,
            column_count BIGINT NOT NULL,
            manifest_batch_id TEXT,
            last_batch_id TEXT,
            last_as_of TEXT,
            last_loaded_at BIGINT,
            quality_score BIGINT,
            quality_parts TEXT NOT NULL,
            reconcile_status TEXT,
            reconcile_batch_id TEXT,
            reconciled_at BIGINT,
            refreshed_at BIGINT NOT NULL
        )",
        "CREATE TABLE IF NOT EXISTS zw_catalog_column (
            table_name TEXT NOT NULL,
            column_name TEXT NOT NULL,
            ordinal BIGINT NOT NULL,
            data_type TEXT NOT NULL,
            declared_type TEXT,
            description TEXT NOT NULL,
            suggested_level TEXT NOT NULL,
            suggested_rank BIGINT NOT NULL,
            suggested_kind TEXT,
            suggested_reason TEXT NOT NULL,
            non_empty_share DOUBLE PRECISION,
            PRIMARY KEY (table_name, column_name)
        )",
        "CREATE TABLE IF NOT EXISTS zw_catalog_sensitivity (
            table_name TEXT NOT NULL,
            column_name TEXT NOT NULL,
            level TEXT NOT NULL,
            level_rank BIGINT NOT NULL,
            confirmed_by TEXT NOT NULL,
            confirmed_at BIGINT NOT NULL,
            PRIMARY KEY (table_name, column_name)
        )",
    ];
    for sql in TABLES {
        on_db!(db, |pool| sqlx::raw_sql(*sql)
            .execute(pool)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------

/// What [`refresh`] may be told.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// Rows sampled per table for sensitivity and completeness.
    pub sample_rows: usize,
    /// Owner per domain, over [`default_owner`].
    pub owners: BTreeMap<String, String>,
    /// Owner per table name, over everything else.
    pub table_owners: BTreeMap<String, String>,
    /// Tables scanned at once.
    pub parallel: usize,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        RefreshOptions {
            sample_rows: 500,
            owners: BTreeMap::new(),
            table_owners: BTreeMap::new(),
            parallel: 4,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    pub tables: usize,
    pub columns: usize,
    /// Tables per layer (`ODS` → n …).
    pub by_layer: BTreeMap<String, usize>,
    /// Tables whose name breaks a naming rule.
    pub naming_violations: usize,
    /// Columns suggested `sensitive` or `secret`.
    pub sensitive_columns: usize,
    /// Catalog entries dropped because their table no longer exists.
    pub removed: usize,
    pub elapsed_ms: u64,
}

/// Refreshes the catalog with the built-in owners and default sampling.
pub async fn refresh(db: &Db) -> Result<RefreshReport, CatalogError> {
    refresh_with(db, &RefreshOptions::default()).await
}

/// A column as the database has it.
#[derive(Debug, Clone)]
struct DbColumn {
    name: String,
    data_type: String,
}

/// What one table's scan found.
struct Scan {
    name: String,
    columns: Vec<DbColumn>,
    rows: i64,
    sampled: u64,
    /// Per column: non-empty values and the value scan (when scanned).
    non_empty: Vec<u64>,
    values: Vec<Option<ValueScan>>,
    /// For DWD tables: the newest loaded batch of the source found in the table.
    dwd_batch: Option<String>,
}

/// A finished load of a source table.
#[derive(Debug, Clone)]
struct Load {
    batch_id: String,
    received: i64,
    loaded: i64,
    quarantined: i64,
    finished_at: i64,
    as_of: String,
    /// A clean run (`zw_clean_run`: received = rows in, loaded = rows out)
    /// rather than a load.
    cleaned: bool,
}

/// Source-table metadata from a manifest.
#[derive(Debug, Clone)]
struct SourceMeta {
    batch_id: String,
    domain: String,
    description: String,
    /// column → (declared type, description)
    columns: HashMap<String, (String, String)>,
}

/// Rebuilds the catalog from the database (see the module docs).
pub async fn refresh_with(
    db: &Db,
    options: &RefreshOptions,
) -> Result<RefreshReport, CatalogError> {
    let started = Instant::now();
    ensure_tables(db).await?;

    let tables = list_tables(db).await?;
    let sources: HashSet<String> = tables
        .keys()
        .filter_map(|t| source_of(t))
        .map(str::to_owned)
        .collect();

    // Bookkeeping, read once for all tables.
    let loads = read_loads(db).await?;
    let cleans = read_clean_runs(db).await?;
    let newest_as_of: Option<String> = on_db!(db, |pool| sqlx::query_scalar::<_, Option<String>>(
        "SELECT max(as_of) FROM zw_batch"
    )
    .fetch_one(pool)
    .await)?;
    let quarantine = read_quarantine(db).await?;
    let reconciles = read_reconciles(db).await?;
    let metas = read_manifests(db, &sources).await?;

    // Scan the tables, a few at a time.
    let permits = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (name, columns) in tables {
        let (db, permits) = (db.clone(), permits.clone());
        let sample_rows = options.sample_rows;
        let declared: HashMap<String, String> = source_of(&name)
            .and_then(|s| metas.get(s))
            .map(|m| {
                m.columns
                    .iter()
                    .map(|(c, (ty, _))| (c.clone(), ty.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let candidates: Vec<String> = if Layer::of_table(&name) == Layer::Dwd
            && source_of(&name).is_none_or(|s| !cleans.contains_key(s))
        {
            source_of(&name)
                .and_then(|s| loads.get(s))
                .map(|l| l.iter().take(5).map(|l| l.batch_id.clone()).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            scan_table(&db, name, columns, sample_rows, &declared, &candidates).await
        });
    }
    let mut scans = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(scan) => scans.push(scan?),
            Err(e) => return Err(CatalogError::Invalid(format!("a table scan failed: {e}"))),
        }
    }
    scans.sort_by(|a, b| a.name.cmp(&b.name));

    let ctx = Context {
        loads: &loads,
        cleans: &cleans,
        newest_as_of: newest_as_of.as_deref(),
        quarantine: &quarantine,
        reconciles: &reconciles,
        metas: &metas,
        options,
    };
    let entries: Vec<Entry> = scans.into_iter().map(|s| ctx.entry(s)).collect();

    let mut report = RefreshReport {
        tables: entries.len(),
        columns: entries.iter().map(|e| e.columns.len()).sum(),
        by_layer: BTreeMap::new(),
        naming_violations: entries.iter().filter(|e| !e.violations.is_empty()).count(),
        sensitive_columns: entries
            .iter()
            .flat_map(|e| &e.columns)
            .filter(|c| c.suggestion.level >= Level::Sensitive)
            .count(),
        removed: 0,
        elapsed_ms: 0,
    };
    for e in &entries {
        *report
            .by_layer
            .entry(e.layer.as_str().to_owned())
            .or_default() += 1;
    }
    report.removed = write_entries(db, &entries).await?;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        tables = report.tables,
        columns = report.columns,
        elapsed_ms = report.elapsed_ms,
        "catalog refreshed"
    );
    Ok(report)
}

/// The source table behind a layered name (`ods_payment` → `payment`).
fn source_of(table: &str) -> Option<&str> {
    match Layer::of_table(table) {
        Layer::Other => None,
        _ => table.get(4..).filter(|s| !s.is_empty()),
    }
}

fn is_bookkeeping_table(name: &str) -> bool {
    name.starts_with("zw_") || name.starts_with("sqlite_") || name.starts_with("_sqlx")
}

/// Quotes any identifier (doubling embedded quotes).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every data table with its columns in order.
async fn list_tables(db: &Db) -> Result<BTreeMap<String, Vec<DbColumn>>, CatalogError> {
    let rows: Vec<(String, String, String, i64)> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as(
                "SELECT m.name, p.name, p.type, p.cid FROM sqlite_master m \
                 JOIN pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid",
            )
            .fetch_all(pool)
            .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.ordinal_position::bigint \
                 FROM information_schema.columns c JOIN information_schema.tables t \
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                 ORDER BY c.table_name, c.ordinal_position",
            )
            .fetch_all(pool)
            .await?
        }
    };
    let mut tables: BTreeMap<String, Vec<DbColumn>> = BTreeMap::new();
    for (table, column, data_type, _) in rows {
        if is_bookkeeping_table(&table) {
            continue;
        }
        tables.entry(table).or_default().push(DbColumn {
            name: column,
            data_type: data_type.to_lowercase(),
        });
    }
    Ok(tables)
}

/// Finished loads per source table, newest first.
async fn read_loads(db: &Db) -> Result<HashMap<String, Vec<Load>>, CatalogError> {
    read_runs(
        db,
        "SELECT l.table_name, l.batch_id, l.rows_received, l.rows_loaded, l.rows_quarantined, \
                l.finished_at, b.as_of \
         FROM zw_table_load l JOIN zw_batch b ON b.batch_id = l.batch_id \
         WHERE l.status = 'loaded' AND l.finished_at IS NOT NULL",
        false,
    )
    .await
}

/// Finished clean runs (ODS → DWD) per source table, newest first; empty
/// when cleaning has never run.
async fn read_clean_runs(db: &Db) -> Result<HashMap<String, Vec<Load>>, CatalogError> {
    if !db.table_exists("zw_clean_run").await? {
        return Ok(HashMap::new());
    }
    read_runs(
        db,
        "SELECT r.table_name, r.batch_id, r.rows_in, r.rows_out, r.rows_quarantined, \
                r.finished_at, b.as_of \
         FROM zw_clean_run r JOIN zw_batch b ON b.batch_id = r.batch_id \
         WHERE r.status = 'done' AND r.finished_at IS NOT NULL",
        true,
    )
    .await
}

/// Runs (loads or cleans) per source table, newest first, from a query
/// selecting (table, batch, in, out, quarantined, finished_at, as_of).
async fn read_runs(
    db: &Db,
    sql: &'static str,
    cleaned: bool,
) -> Result<HashMap<String, Vec<Load>>, CatalogError> {
    let rows: Vec<(String, String, i64, i64, i64, i64, String)> =
        on_db!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
    let mut runs: HashMap<String, Vec<Load>> = HashMap::new();
    for (table, batch_id, received, loaded, quarantined, finished_at, as_of) in rows {
        runs.entry(table).or_default().push(Load {
            batch_id,
            received,
            loaded,
            quarantined,
            finished_at,
            as_of,
            cleaned,
        });
    }
    for list in runs.values_mut() {
        list.sort_by(|a, b| (b.finished_at, &b.batch_id).cmp(&(a.finished_at, &a.batch_id)));
    }
    Ok(runs)
}

/// Quarantined rows per (layer, table name, batch).
async fn read_quarantine(db: &Db) -> Result<HashMap<(String, String, String), i64>, CatalogError> {
    let rows: Vec<(String, String, String, i64)> = on_db!(db, |pool| {
        sqlx::query_as(
            "SELECT layer, table_name, batch_id, count(*) FROM zw_quarantine \
             GROUP BY layer, table_name, batch_id",
        )
        .fetch_all(pool)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(layer, table, batch, n)| ((layer, table, batch), n))
        .collect())
}

/// The latest reconciliation per source table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reconciliation {
    /// `match` or `mismatch` (as reconciliation wrote it).
    pub status: String,
    pub batch_id: String,
    /// Microseconds since the epoch.
    pub checked_at: i64,
}

async fn read_reconciles(db: &Db) -> Result<HashMap<String, Reconciliation>, CatalogError> {
    let rows: Vec<(String, String, String, i64)> = on_db!(db, |pool| {
        sqlx::query_as("SELECT table_name, batch_id, status, checked_at FROM zw_reconcile")
            .fetch_all(pool)
            .await
    })?;
    let mut latest: HashMap<String, Reconciliation> = HashMap::new();
    for (table, batch_id, status, checked_at) in rows {
        let newer = latest
            .get(&table)
            .is_none_or(|r| (checked_at, &batch_id) > (r.checked_at, &r.batch_id));
        if newer {
            latest.insert(
                table,
                Reconciliation {
                    status,
                    batch_id,
                    checked_at,
                },
            );
        }
    }
    Ok(latest)
}

/// Metadata of each wanted source table from the newest manifest listing
/// it; manifests are read newest first until every source is covered.
async fn read_manifests(
    db: &Db,
    sources: &HashSet<String>,
) -> Result<HashMap<String, SourceMeta>, CatalogError> {
    let batches: Vec<String> = on_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT batch_id FROM zw_batch ORDER BY first_seen_at DESC, batch_id DESC",
        )
        .fetch_all(pool)
        .await
    })?;
    let mut metas = HashMap::new();
    for batch_id in batches {
        if metas.len() >= sources.len() {
            break;
        }
        let text: String = on_db!(db, |pool| {
            sqlx::query_scalar("SELECT manifest FROM zw_batch WHERE batch_id = $1")
                .bind(&batch_id)
                .fetch_one(pool)
                .await
        })?;
        let manifest: Manifest = match serde_json::from_str(&text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(batch_id, error = %e, "catalog: skipping an unreadable manifest");
                continue;
            }
        };
        for t in manifest.tables {
            if sources.contains(&t.name) && !metas.contains_key(&t.name) {
                metas.insert(
                    t.name.clone(),
                    SourceMeta {
                        batch_id: batch_id.clone(),
                        domain: t.domain,
                        description: t.description,
                        columns: t
                            .columns
                            .into_iter()
                            .map(|c| (c.name, (c.ty.as_str().to_owned(), c.description)))
                            .collect(),
                    },
                );
            }
        }
    }
    Ok(metas)
}

/// Whether values of a column are worth scanning for personal data.
fn scans_values(data_type: &str, declared: Option<&str>) -> bool {
    if matches!(
        declared,
        Some("money" | "decimal" | "date" | "timestamp" | "bool")
    ) {
        return false;
    }
    ![
        "date", "time", "bool", "numeric", "real", "double", "float", "decimal",
    ]
    .iter()
    .any(|t| data_type.contains(t))
}

/// Counts the rows, samples up to `sample_rows` of them, and for a DWD
/// table finds the newest of `batches` its rows come from.
async fn scan_table(
    db: &Db,
    name: String,
    columns: Vec<DbColumn>,
    sample_rows: usize,
    declared: &HashMap<String, String>,
    batches: &[String],
) -> Result<Scan, CatalogError> {
    let table = quote(&name);
    let count_sql = format!("SELECT count(*) FROM {table}");
    let rows: i64 = on_db!(db, |pool| sqlx::query_scalar(AssertSqlSafe(count_sql))
        .fetch_one(pool)
        .await)?;

    let n = columns.len();
    let mut non_empty = vec![0u64; n];
    let mut values: Vec<Option<ValueScan>> = columns
        .iter()
        .map(|c| {
            (!is_bookkeeping_column(&c.name)
                && scans_values(&c.data_type, declared.get(&c.name).map(String::as_str)))
            .then(ValueScan::default)
        })
        .collect();
    let mut sampled = 0u64;
    if rows > 0 && sample_rows > 0 && n > 0 {
        let list: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({} AS TEXT)", quote(&c.name)))
            .collect();
        let sample_sql = format!(
            "SELECT {} FROM {table} LIMIT {sample_rows}",
            list.join(", ")
        );
        let texts: Vec<Vec<Option<String>>> = on_db!(db, |pool| {
            let fetched = sqlx::query(AssertSqlSafe(sample_sql))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(fetched.len());
            for row in &fetched {
                let mut values = Vec::with_capacity(n);
                for i in 0..n {
                    values.push(row.try_get::<Option<String>, _>(i)?);
                }
                out.push(values);
            }
            Ok::<_, sqlx::Error>(out)
        })?;
        for row in texts {
            sampled += 1;
            for (i, value) in row.into_iter().enumerate() {
                let Some(value) = value else { continue };
                if value.trim().is_empty() {
                    continue;
                }
                non_empty[i] += 1;
                if let Some(scan) = &mut values[i] {
                    scan.add(&value);
                }
            }
        }
    }

    let mut dwd_batch = None;
    if rows > 0 && columns.iter().any(|c| c.name == crate::ods::BATCH_COLUMN) {
        let probe = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE CAST({} AS TEXT) = $1 LIMIT 1) x",
            quote(crate::ods::BATCH_COLUMN)
        );
        for batch in batches {
            let found: i64 = on_db!(db, |pool| sqlx::query_scalar(AssertSqlSafe(probe.clone()))
                .bind(batch)
                .fetch_one(pool)
                .await)?;
            if found > 0 {
                dwd_batch = Some(batch.clone());
                break;
            }
        }
    }
    Ok(Scan {
        name,
        columns,
        rows,
        sampled,
        non_empty,
        values,
        dwd_batch,
    })
}

/// A catalog row ready to write.
struct Entry {
    name: String,
    layer: Layer,
    source: Option<String>,
    domain: String,
    description: String,
    owner: Option<String>,
    violations: Vec<Violation>,
    suggested_name: Option<String>,
    rows: i64,
    manifest_batch: Option<String>,
    freshness: Option<Load>,
    score: Option<i64>,
    parts: Vec<QualityPart>,
    reconcile: Option<Reconciliation>,
    columns: Vec<ColumnEntry>,
}

struct ColumnEntry {
    name: String,
    data_type: String,
    declared_type: Option<String>,
    description: String,
    suggestion: Suggestion,
    non_empty_share: Option<f64>,
}

struct Context<'a> {
    loads: &'a HashMap<String, Vec<Load>>,
    cleans: &'a HashMap<String, Vec<Load>>,
    newest_as_of: Option<&'a str>,
    quarantine: &'a HashMap<(String, String, String), i64>,
    reconciles: &'a HashMap<String, Reconciliation>,
    metas: &'a HashMap<String, SourceMeta>,
    options: &'a RefreshOptions,
}

impl Context<'_> {
    fn entry(&self, scan: Scan) -> Entry {
        let layer = Layer::of_table(&scan.name);
        let source = source_of(&scan.name).map(str::to_owned);
        let meta = source.as_deref().and_then(|s| self.metas.get(s));
        let domain = meta.map_or(UNCLASSIFIED.to_owned(), |m| m.domain.clone());
        let owner = self
            .options
            .table_owners
            .get(&scan.name)
            .or_else(|| self.options.owners.get(&domain))
            .cloned()
            .or_else(|| default_owner(&domain).map(str::to_owned));
        let column_names: Vec<&str> = scan.columns.iter().map(|c| c.name.as_str()).collect();
        let violations = naming::check_table(&scan.name, layer, &column_names);
        let suggested_name = if violations.is_empty() {
            None
        } else {
            naming::suggest(&scan.name, layer)
        };

        let mut columns = Vec::with_capacity(scan.columns.len());
        for (i, c) in scan.columns.iter().enumerate() {
            let (declared_type, description) = match meta.and_then(|m| m.columns.get(&c.name)) {
                Some((ty, d)) => (Some(ty.clone()), d.clone()),
                None => (None, bookkeeping_description(&c.name).to_owned()),
            };
            let suggestion = sensitivity::suggest(&c.name, &description, scan.values[i].as_ref());
            columns.push(ColumnEntry {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                declared_type,
                description,
                suggestion,
                non_empty_share: (scan.sampled > 0)
                    .then(|| scan.non_empty[i] as f64 / scan.sampled as f64),
            });
        }

        // Freshness: the batch the table's rows are from.
        let loads = source
            .as_deref()
            .and_then(|s| self.loads.get(s))
            .map_or(&[][..], Vec::as_slice);
        let freshness = match layer {
            Layer::Ods => loads.first().cloned(),
            Layer::Dwd => match source.as_deref().and_then(|s| self.cleans.get(s)) {
                Some(runs) => runs.first().cloned(),
                None => scan
                    .dwd_batch
                    .as_ref()
                    .and_then(|b| loads.iter().find(|l| &l.batch_id == b))
                    .cloned(),
            },
            _ => None,
        };
        let reconcile = match layer {
            Layer::Ods | Layer::Dwd => source
                .as_deref()
                .and_then(|s| self.reconciles.get(s))
                .cloned(),
            _ => None,
        };
        let parts = self.quality_parts(
            &scan,
            layer,
            source.as_deref(),
            freshness.as_ref(),
            reconcile.as_ref(),
        );
        Entry {
            name: scan.name.clone(),
            layer,
            source: source.clone(),
            domain,
            description: meta.map_or(String::new(), |m| m.description.clone()),
            owner,
            violations,
            suggested_name,
            rows: scan.rows,
            manifest_batch: meta.map(|m| m.batch_id.clone()),
            score: quality::score(&parts),
            parts,
            freshness,
            reconcile,
            columns,
        }
    }

    fn quality_parts(
        &self,
        scan: &Scan,
        layer: Layer,
        source: Option<&str>,
        fresh: Option<&Load>,
        reconcile: Option<&Reconciliation>,
    ) -> Vec<QualityPart> {
        use quality::{W_COMPLETENESS, W_FRESHNESS, W_RECONCILIATION, W_VALIDITY, part};
        let validity = match (layer, fresh) {
            (Layer::Ods, Some(l)) if l.received > 0 => part(
                "validity",
                Some(1.0 - l.quarantined as f64 / l.received as f64),
                W_VALIDITY,
                format!(
                    "batch {}: {} of {} received lines quarantined while loading",
                    l.batch_id, l.quarantined, l.received
                ),
            ),
            (Layer::Dwd, Some(l)) if l.cleaned && l.received > 0 => part(
                "validity",
                Some(1.0 - l.quarantined as f64 / l.received as f64),
                W_VALIDITY,
                format!(
                    "clean run of batch {}: {} of {} ODS rows quarantined by cleaning",
                    l.batch_id, l.quarantined, l.received
                ),
            ),
            (Layer::Dwd, Some(l)) if !l.cleaned && l.loaded > 0 => {
                let key = |t: &str| ("dwd".to_owned(), t.to_owned(), l.batch_id.clone());
                let q = source.map_or(0, |s| self.quarantine.get(&key(s)).copied().unwrap_or(0))
                    + self.quarantine.get(&key(&scan.name)).copied().unwrap_or(0);
                part(
                    "validity",
                    Some(1.0 - q as f64 / l.loaded as f64),
                    W_VALIDITY,
                    format!(
                        "batch {}: {q} of {} ODS rows quarantined by cleaning",
                        l.batch_id, l.loaded
                    ),
                )
            }
            (Layer::Ods | Layer::Dwd, _) => part(
                "validity",
                None,
                W_VALIDITY,
                "not applicable: no finished load of the source table with rows in this table"
                    .into(),
            ),
            _ => part(
                "validity",
                None,
                W_VALIDITY,
                "not applicable: the table is not loaded from a batch".into(),
            ),
        };

        let data: Vec<usize> = (0..scan.columns.len())
            .filter(|i| !is_bookkeeping_column(&scan.columns[*i].name))
            .collect();
        let completeness = if scan.sampled > 0 && !data.is_empty() {
            let filled: u64 = data.iter().map(|i| scan.non_empty[*i]).sum();
            let cells = scan.sampled * data.len() as u64;
            part(
                "completeness",
                Some(filled as f64 / cells as f64),
                W_COMPLETENESS,
                format!(
                    "{filled} of {cells} values non-empty in {} sampled rows × {} columns",
                    scan.sampled,
                    data.len()
                ),
            )
        } else {
            part(
                "completeness",
                None,
                W_COMPLETENESS,
                "not applicable: no rows to sample".into(),
            )
        };

        let reconciliation = match reconcile {
            Some(r) if r.status == "match" => part(
                "reconciliation",
                Some(1.0),
                W_RECONCILIATION,
                format!("batch {}: matches its manifest", r.batch_id),
            ),
            Some(r) if r.status == "mismatch" => part(
                "reconciliation",
                Some(0.0),
                W_RECONCILIATION,
                format!("batch {}: differs from its manifest", r.batch_id),
            ),
            Some(r) => part(
                "reconciliation",
                None,
                W_RECONCILIATION,
                format!("batch {}: status {:?}, not scored", r.batch_id, r.status),
            ),
            None => part(
                "reconciliation",
                None,
                W_RECONCILIATION,
                "not applicable: not reconciled yet".into(),
            ),
        };

        let freshness = match (fresh, self.newest_as_of) {
            (Some(l), Some(newest)) => match quality::days_between(&l.as_of, newest) {
                Some(days) => part(
                    "freshness",
                    Some(1.0 - days.max(0) as f64 / quality::STALE_DAYS),
                    W_FRESHNESS,
                    format!(
                        "batch {} is as of {}, {} day(s) behind the newest batch ({newest}); 0 at {} days",
                        l.batch_id,
                        l.as_of,
                        days.max(0),
                        quality::STALE_DAYS
                    ),
                ),
                None => part(
                    "freshness",
                    None,
                    W_FRESHNESS,
                    format!("as_of {:?} or {newest:?} is not a date", l.as_of),
                ),
            },
            _ => part(
                "freshness",
                None,
                W_FRESHNESS,
                "not applicable: no loaded batch is known for this table".into(),
            ),
        };
        vec![validity, completeness, reconciliation, freshness]
    }
}

fn bookkeeping_description(column: &str) -> &'static str {
    match column {
        "_batch_id" => "批次号（装载簿记列）",
        "_line" => "源文件行号（装载簿记列）",
        _ => "",
    }
}

/// Writes the entries and drops the catalog rows of vanished tables; returns
/// how many were dropped.
async fn write_entries(db: &Db, entries: &[Entry]) -> Result<usize, CatalogError> {
    let existing: Vec<String> = on_db!(db, |pool| {
        sqlx::query_scalar("SELECT table_name FROM zw_catalog_table")
            .fetch_all(pool)
            .await
    })?;
    let present: HashSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let gone: Vec<&String> = existing
        .iter()
        .filter(|t| !present.contains(t.as_str()))
        .collect();
    let now = now_micros();
    const COLUMN_FIELDS: usize = 11;
    // Chunks keep transactions short and under the bind-parameter limits.
    for chunk in entries.chunks(200) {
        on_db!(db, |pool| {
            let mut tx = pool.begin().await?;
            for e in chunk {
                let violations = serde_json::to_string(&e.violations).unwrap_or_default();
                let parts = serde_json::to_string(&e.parts).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO zw_catalog_table (table_name, layer, source_table, domain, description, owner, \
                       naming_ok, naming_violations, suggested_name, row_count, column_count, manifest_batch_id, \
                       last_batch_id, last_as_of, last_loaded_at, quality_score, quality_parts, \
                       reconcile_status, reconcile_batch_id, reconciled_at, refreshed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
                     ON CONFLICT (table_name) DO UPDATE SET layer = excluded.layer, \
                       source_table = excluded.source_table, domain = excluded.domain, \
                       description = excluded.description, owner = excluded.owner, \
                       naming_ok = excluded.naming_ok, naming_violations = excluded.naming_violations, \
                       suggested_name = excluded.suggested_name, row_count = excluded.row_count, \
                       column_count = excluded.column_count, manifest_batch_id = excluded.manifest_batch_id, \
                       last_batch_id = excluded.last_batch_id, last_as_of = excluded.last_as_of, \
                       last_loaded_at = excluded.last_loaded_at, quality_score = excluded.quality_score, \
                       quality_parts = excluded.quality_parts, reconcile_status = excluded.reconcile_status, \
                       reconcile_batch_id = excluded.reconcile_batch_id, reconciled_at = excluded.reconciled_at, \
                       refreshed_at = excluded.refreshed_at",
                )
                .bind(&e.name)
                .bind(e.layer.as_str())
                .bind(&e.source)
                .bind(&e.domain)
                .bind(&e.description)
                .bind(&e.owner)
                .bind(i64::from(e.violations.is_empty()))
                .bind(violations)
                .bind(&e.suggested_name)
                .bind(e.rows)
                .bind(e.columns.len() as i64)
                .bind(&e.manifest_batch)
                .bind(e.freshness.as_ref().map(|l| l.batch_id.clone()))
                .bind(e.freshness.as_ref().map(|l| l.as_of.clone()))
                .bind(e.freshness.as_ref().map(|l| l.finished_at))
                .bind(e.score)
                .bind(parts)
                .bind(e.reconcile.as_ref().map(|r| r.status.clone()))
                .bind(e.reconcile.as_ref().map(|r| r.batch_id.clone()))
                .bind(e.reconcile.as_ref().map(|r| r.checked_at))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM zw_catalog_column WHERE table_name = $1")
                    .bind(&e.name)
                    .execute(&mut *tx)
                    .await?;
                // At most 500 columns per statement (5,500 parameters).
                for (block, cols) in e.columns.chunks(500).enumerate() {
                    let mut sql = String::from(
                        "INSERT INTO zw_catalog_column (table_name, column_name, ordinal, data_type, \
                         declared_type, description, suggested_level, suggested_rank, suggested_kind, \
                         suggested_reason, non_empty_share) VALUES ",
                    );
                    for i in 0..cols.len() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        let b = i * COLUMN_FIELDS;
                        let params: Vec<String> =
                            (1..=COLUMN_FIELDS).map(|k| format!("${}", b + k)).collect();
                        sql.push('(');
                        sql.push_str(&params.join(", "));
                        sql.push(')');
                    }
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for (i, c) in cols.iter().enumerate() {
                        query = query
                            .bind(&e.name)
                            .bind(&c.name)
                            .bind((block * 500 + i + 1) as i64)
                            .bind(&c.data_type)
                            .bind(&c.declared_type)
                            .bind(&c.description)
                            .bind(c.suggestion.level.as_str())
                            .bind(c.suggestion.level.rank())
                            .bind(c.suggestion.kind.map(Kind::as_str))
                            .bind(&c.suggestion.reason)
                            .bind(c.non_empty_share);
                    }
                    query.execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
    }
    if !gone.is_empty() {
        on_db!(db, |pool| {
            let mut tx = pool.begin().await?;
            for t in &gone {
                sqlx::query("DELETE FROM zw_catalog_column WHERE table_name = $1")
                    .bind(t.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM zw_catalog_table WHERE table_name = $1")
                    .bind(t.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
    }
    Ok(gone.len())
}

// ---------------------------------------------------------------------------
// Confirmation
// ---------------------------------------------------------------------------

/// A column's level as an admin confirmed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confirmation {
    pub table: String,
    pub column: String,
    pub level: Level,
    pub confirmed_by: String,
    /// Microseconds since the epoch.
    pub confirmed_at: i64,
}

/// Records an admin's sensitivity level for a column; it overrides the
/// suggestion from now on, across refreshes. `level` is `public`,
/// `internal`, `sensitive` or `secret` (or 公开/内部/敏感/机密). An unknown
/// table or column, an invalid level or an empty user changes nothing.
pub async fn confirm_sensitivity(
    db: &Db,
    table: &str,
    column: &str,
    level: &str,
    by_user: &str,
) -> Result<Confirmation, CatalogError> {
    ensure_tables(db).await?;
    let level = Level::parse(level).ok_or_else(|| CatalogError::InvalidLevel(level.to_owned()))?;
    let by_user = by_user.trim();
    if by_user.is_empty() {
        return Err(CatalogError::Invalid(
            "a confirmation needs the confirming user's name".into(),
        ));
    }
    let known: Option<String> = on_db!(db, |pool| {
        sqlx::query_scalar("SELECT table_name FROM zw_catalog_table WHERE table_name = $1")
            .bind(table)
            .fetch_optional(pool)
            .await
    })?;
    if known.is_none() {
        return Err(CatalogError::UnknownTable(table.to_owned()));
    }
    let has_column: i64 = on_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT count(*) FROM zw_catalog_column WHERE table_name = $1 AND column_name = $2",
        )
        .bind(table)
        .bind(column)
        .fetch_one(pool)
        .await
    })?;
    if has_column == 0 {
        return Err(CatalogError::UnknownColumn {
            table: table.to_owned(),
            column: column.to_owned(),
        });
    }
    let now = now_micros();
    on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO zw_catalog_sensitivity (table_name, column_name, level, level_rank, confirmed_by, confirmed_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (table_name, column_name) DO UPDATE SET \
             level = excluded.level, level_rank = excluded.level_rank, \
             confirmed_by = excluded.confirmed_by, confirmed_at = excluded.confirmed_at",
        )
        .bind(table)
        .bind(column)
        .bind(level.as_str())
        .bind(level.rank())
        .bind(by_user)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    tracing::info!(
        table,
        column,
        level = level.as_str(),
        by = by_user,
        "catalog: sensitivity confirmed"
    );
    Ok(Confirmation {
        table: table.to_owned(),
        column: column.to_owned(),
        level,
        confirmed_by: by_user.to_owned(),
        confirmed_at: now,
    })
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

/// A catalog search. All filters are optional; an empty `q` lists everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    /// Case-insensitive substring of the table name, table description,
    /// a column name or a column description.
    pub q: String,
    pub layer: Option<Layer>,
    /// Exact business domain (资金 …; 未分类 for tables without one).
    pub domain: Option<String>,
    /// Tables with at least one column whose effective level is this or higher.
    pub min_sensitivity: Option<Level>,
    /// 1–500; 20 when absent.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    /// Matching tables in all pages.
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
    pub items: Vec<SearchHit>,
}

/// Where the query matched, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedOn {
    /// No query: every table matches.
    All,
    /// The name equals the query.
    Name,
    /// The name starts with or contains the query.
    NamePart,
    Description,
    Column,
    ColumnDescription,
}

impl MatchedOn {
    fn from_rank(rank: i64) -> MatchedOn {
        match rank {
            0 => MatchedOn::Name,
            1 | 2 => MatchedOn::NamePart,
            3 => MatchedOn::Description,
            4 => MatchedOn::Column,
            5 => MatchedOn::ColumnDescription,
            _ => MatchedOn::All,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub name: String,
    pub layer: Layer,
    pub domain: String,
    pub description: String,
    pub owner: Option<String>,
    pub row_count: i64,
    pub quality_score: Option<i64>,
    /// The highest effective (confirmed, else suggested) column level.
    pub max_sensitivity: Option<Level>,
    pub naming_ok: bool,
    pub matched_on: MatchedOn,
    /// Columns whose name or description matched the query.
    pub matched_columns: Vec<String>,
}

/// `%`, `_` and `\` escaped for `LIKE … ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const EFFECTIVE_RANK: &str = "COALESCE(s.level_rank, c.suggested_rank)";

/// Searches the catalog (see [`SearchQuery`]); name matches rank before
/// description matches, which rank before column matches.
pub async fn search(db: &Db, query: &SearchQuery) -> Result<SearchPage, CatalogError> {
    ensure_tables(db).await?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(CatalogError::Invalid(format!(
            "limit {limit} is out of range; use 1 to {MAX_LIMIT}"
        )));
    }
    let offset = query.offset.unwrap_or(0);
    let q = query.q.trim().to_lowercase();

    // $1 exact, $2 prefix, $3 substring, $4 layer, $5 domain, $6 rank.
    let sub = format!("%{}%", like_escape(&q));
    // One pass over the columns per search (hash aggregates), not one
    // correlated subquery per table: the catalog may hold 1,500+ tables.
    let (rank_expr, column_hits) = if q.is_empty() {
        ("6".to_owned(), String::new())
    } else {
        (
            "CASE WHEN lower(t.table_name) = $1 THEN 0 \
                  WHEN lower(t.table_name) LIKE $2 ESCAPE '\\' THEN 1 \
                  WHEN lower(t.table_name) LIKE $3 ESCAPE '\\' THEN 2 \
                  WHEN lower(t.description) LIKE $3 ESCAPE '\\' THEN 3 \
                  WHEN ch.on_name = 1 THEN 4 \
                  WHEN ch.on_description = 1 THEN 5 \
                  ELSE 9 END"
                .to_owned(),
            "LEFT JOIN (SELECT table_name, \
                 max(CASE WHEN lower(column_name) LIKE $3 ESCAPE '\\' THEN 1 ELSE 0 END) AS on_name, \
                 max(CASE WHEN lower(description) LIKE $3 ESCAPE '\\' THEN 1 ELSE 0 END) AS on_description \
               FROM zw_catalog_column GROUP BY table_name) ch ON ch.table_name = t.table_name"
                .to_owned(),
        )
    };
    let mut filters = vec!["1 = 1".to_owned()];
    if query.layer.is_some() {
        filters.push("t.layer = $4".into());
    }
    if query.domain.is_some() {
        filters.push("t.domain = $5".into());
    }
    if query.min_sensitivity.is_some() {
        filters.push("mr.max_rank >= $6".into());
    }
    let inner = format!(
        "SELECT t.table_name AS name, CAST({rank_expr} AS BIGINT) AS rank, mr.max_rank AS max_rank \
         FROM zw_catalog_table t {column_hits} \
         LEFT JOIN (SELECT c.table_name, max({EFFECTIVE_RANK}) AS max_rank \
                    FROM zw_catalog_column c LEFT JOIN zw_catalog_sensitivity s \
                      ON s.table_name = c.table_name AND s.column_name = c.column_name \
                    GROUP BY c.table_name) mr ON mr.table_name = t.table_name \
         WHERE {}",
        filters.join(" AND ")
    );
    let count_sql = format!("SELECT count(*) FROM ({inner}) r WHERE r.rank < 9");
    let page_sql = format!(
        "SELECT t.table_name, t.layer, t.domain, t.description, t.owner, t.row_count, t.quality_score, \
                t.naming_ok, r.rank, r.max_rank \
         FROM ({inner}) r JOIN zw_catalog_table t ON t.table_name = r.name \
         WHERE r.rank < 9 ORDER BY r.rank, t.table_name LIMIT {limit} OFFSET {offset}"
    );
    let exact = q.clone();
    let prefix = format!("{}%", like_escape(&q));
    let layer = query.layer.map(|l| l.as_str().to_owned());
    let domain = query.domain.clone();
    let min_rank = query.min_sensitivity.map(Level::rank);

    type PageRow = (
        String,
        String,
        String,
        String,
        Option<String>,
        i64,
        Option<i64>,
        i64,
        i64,
        Option<i64>,
    );
    let (total, rows): (i64, Vec<PageRow>) = on_db!(db, |pool| {
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(count_sql))
            .bind(&exact)
            .bind(&prefix)
            .bind(&sub)
            .bind(&layer)
            .bind(&domain)
            .bind(min_rank)
            .fetch_one(pool)
            .await?;
        let rows: Vec<PageRow> = sqlx::query_as(AssertSqlSafe(page_sql))
            .bind(&exact)
            .bind(&prefix)
            .bind(&sub)
            .bind(&layer)
            .bind(&domain)
            .bind(min_rank)
            .fetch_all(pool)
            .await?;
        (total, rows)
    });

    // The columns that matched, for the tables of this page.
    let mut matched: HashMap<String, Vec<String>> = HashMap::new();
    if !q.is_empty() && !rows.is_empty() {
        let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT table_name, column_name FROM zw_catalog_column \
             WHERE table_name IN ({}) AND (lower(column_name) LIKE $1 ESCAPE '\\' \
               OR lower(description) LIKE $1 ESCAPE '\\') ORDER BY table_name, ordinal",
            placeholders.join(", ")
        );
        let found: Vec<(String, String)> = on_db!(db, |pool| {
            let mut query = sqlx::query_as(AssertSqlSafe(sql)).bind(&sub);
            for n in &names {
                query = query.bind(n);
            }
            query.fetch_all(pool).await
        })?;
        for (table, column) in found {
            matched.entry(table).or_default().push(column);
        }
    }

    let items = rows
        .into_iter()
        .map(
            |(
                name,
                layer,
                domain,
                description,
                owner,
                row_count,
                quality_score,
                naming_ok,
                rank,
                max_rank,
            )| {
                SearchHit {
                    matched_columns: matched.remove(&name).unwrap_or_default(),
                    layer: Layer::parse(&layer).unwrap_or(Layer::Other),
                    domain,
                    description,
                    owner,
                    row_count,
                    quality_score,
                    max_sensitivity: max_rank.and_then(level_of_rank),
                    naming_ok: naming_ok != 0,
                    matched_on: MatchedOn::from_rank(rank),
                    name,
                }
            },
        )
        .collect();
    Ok(SearchPage {
        total,
        limit,
        offset,
        items,
    })
}

fn level_of_rank(rank: i64) -> Option<Level> {
    Level::ALL.into_iter().find(|l| l.rank() == rank)
}

// ---------------------------------------------------------------------------
// Detail
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct TableDetail {
    pub name: String,
    pub layer: Layer,
    /// The source table the name derives from (`payment` for `ods_payment`).
    pub source_table: Option<String>,
    pub domain: String,
    pub description: String,
    pub owner: Option<String>,
    pub naming: NamingCheck,
    pub row_count: i64,
    pub freshness: Freshness,
    pub quality: Quality,
    pub reconciliation: Option<Reconciliation>,
    /// The batch whose manifest described the table.
    pub manifest_batch_id: Option<String>,
    pub columns: Vec<ColumnDetail>,
    /// Schema drift of the source table, newest first.
    pub drift: Vec<DriftEntry>,
    /// When the catalog last looked at the table (µs since the epoch).
    pub refreshed_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamingCheck {
    pub ok: bool,
    pub violations: Vec<Violation>,
    /// A conforming name, when the name breaks a rule and a layer is known.
    pub suggested_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// The batch the table's newest rows come from.
    pub batch_id: Option<String>,
    /// That batch's business date.
    pub as_of: Option<String>,
    /// When that batch's load of the table finished (µs since the epoch).
    pub loaded_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    /// 0–100; `None` when no part applies.
    pub score: Option<i64>,
    pub parts: Vec<QualityPart>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnDetail {
    pub name: String,
    pub ordinal: i64,
    /// The type in the database (`text`, `bigint`, …).
    pub data_type: String,
    /// The type the manifest declares (`string`, `money`, …).
    pub declared_type: Option<String>,
    pub description: String,
    pub suggested: Suggestion,
    pub confirmed: Option<ConfirmedLevel>,
    /// Confirmed, else suggested.
    pub effective_level: Level,
    /// Share of non-empty values among the sampled rows.
    pub non_empty_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfirmedLevel {
    pub level: Level,
    pub confirmed_by: String,
    pub confirmed_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftEntry {
    pub batch_id: String,
    pub column: String,
    pub kind: String,
    pub detail: String,
    pub detected_at: i64,
}

fn parse_kind(s: &str) -> Option<Kind> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// A `zw_catalog_table` row as stored.
struct StoredTable {
    layer: String,
    source_table: Option<String>,
    domain: String,
    description: String,
    owner: Option<String>,
    naming_ok: i64,
    violations: String,
    suggested_name: Option<String>,
    row_count: i64,
    last_batch_id: Option<String>,
    last_as_of: Option<String>,
    last_loaded_at: Option<i64>,
    quality_score: Option<i64>,
    quality_parts: String,
    reconcile_status: Option<String>,
    reconcile_batch_id: Option<String>,
    reconciled_at: Option<i64>,
    manifest_batch_id: Option<String>,
    refreshed_at: i64,
}

/// Everything the catalog knows about one table, or `None` if it is not in the catalog.
pub async fn table_detail(db: &Db, name: &str) -> Result<Option<TableDetail>, CatalogError> {
    ensure_tables(db).await?;
    let row = on_db!(db, |pool| {
        let row = sqlx::query(
            "SELECT layer, source_table, domain, description, owner, naming_ok, naming_violations, \
                    suggested_name, row_count, last_batch_id, last_as_of, last_loaded_at, quality_score, \
                    quality_parts, reconcile_status, reconcile_batch_id, reconciled_at, manifest_batch_id, \
                    refreshed_at \
             FROM zw_catalog_table WHERE table_name = $1",
        )
        .bind(name)
        .fetch_optional(pool)
        .await?;
        match row {
            None => None,
            Some(r) => Some(StoredTable {
                layer: r.try_get("layer")?,
                source_table: r.try_get("source_table")?,
                domain: r.try_get("domain")?,
                description: r.try_get("description")?,
                owner: r.try_get("owner")?,
                naming_ok: r.try_get("naming_ok")?,
                violations: r.try_get("naming_violations")?,
                suggested_name: r.try_get("suggested_name")?,
                row_count: r.try_get("row_count")?,
                last_batch_id: r.try_get("last_batch_id")?,
                last_as_of: r.try_get("last_as_of")?,
                last_loaded_at: r.try_get("last_loaded_at")?,
                quality_score: r.try_get("quality_score")?,
                quality_parts: r.try_get("quality_parts")?,
                reconcile_status: r.try_get("reconcile_status")?,
                reconcile_batch_id: r.try_get("reconcile_batch_id")?,
                reconciled_at: r.try_get("reconciled_at")?,
                manifest_batch_id: r.try_get("manifest_batch_id")?,
                refreshed_at: r.try_get("refreshed_at")?,
            }),
        }
    });
    let Some(StoredTable {
        layer,
        source_table,
        domain,
        description,
        owner,
        naming_ok,
        violations,
        suggested_name,
        row_count,
        last_batch_id,
        last_as_of,
        last_loaded_at,
        quality_score,
        quality_parts,
        reconcile_status,
        reconcile_batch_id,
        reconciled_at,
        manifest_batch_id,
        refreshed_at,
    }) = row
    else {
        return Ok(None);
    };

    type ColumnRow = (
        String,
        i64,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        String,
        Option<f64>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let column_rows: Vec<ColumnRow> = on_db!(db, |pool| {
        sqlx::query_as(
            "SELECT c.column_name, c.ordinal, c.data_type, c.declared_type, c.description, \
                    c.suggested_level, c.suggested_kind, c.suggested_reason, c.non_empty_share, \
                    s.level, s.confirmed_by, s.confirmed_at \
             FROM zw_catalog_column c LEFT JOIN zw_catalog_sensitivity s \
               ON s.table_name = c.table_name AND s.column_name = c.column_name \
             WHERE c.table_name = $1 ORDER BY c.ordinal",
        )
        .bind(name)
        .fetch_all(pool)
        .await
    })?;
    let columns = column_rows
        .into_iter()
        .map(
            |(
                col,
                ordinal,
                data_type,
                declared_type,
                description,
                level,
                kind,
                reason,
                share,
                c_level,
                c_by,
                c_at,
            )| {
                let suggested = Suggestion {
                    level: Level::parse(&level).unwrap_or(Level::Internal),
                    kind: kind.as_deref().and_then(parse_kind),
                    reason,
                };
                let confirmed = match (c_level.as_deref().and_then(Level::parse), c_by, c_at) {
                    (Some(level), Some(confirmed_by), Some(confirmed_at)) => Some(ConfirmedLevel {
                        level,
                        confirmed_by,
                        confirmed_at,
                    }),
                    _ => None,
                };
                ColumnDetail {
                    name: col,
                    ordinal,
                    data_type,
                    declared_type,
                    description,
                    effective_level: confirmed.as_ref().map_or(suggested.level, |c| c.level),
                    suggested,
                    confirmed,
                    non_empty_share: share,
                }
            },
        )
        .collect();

    let drift = match &source_table {
        Some(source) => {
            let rows: Vec<(String, String, String, String, i64)> = on_db!(db, |pool| {
                sqlx::query_as(
                    "SELECT batch_id, column_name, kind, detail, detected_at FROM zw_drift \
                     WHERE table_name = $1 ORDER BY detected_at DESC, batch_id DESC, column_name",
                )
                .bind(source)
                .fetch_all(pool)
                .await
            })?;
            rows.into_iter()
                .map(|(batch_id, column, kind, detail, detected_at)| DriftEntry {
                    batch_id,
                    column,
                    kind,
                    detail,
                    detected_at,
                })
                .collect()
        }
        None => Vec::new(),
    };

    Ok(Some(TableDetail {
        name: name.to_owned(),
        layer: Layer::parse(&layer).unwrap_or(Layer::Other),
        source_table,
        domain,
        description,
        owner,
        naming: NamingCheck {
            ok: naming_ok != 0,
            violations: serde_json::from_str(&violations).unwrap_or_default(),
            suggested_name,
        },
        row_count,
        freshness: Freshness {
            batch_id: last_batch_id,
            as_of: last_as_of,
            loaded_at: last_loaded_at,
        },
        quality: Quality {
            score: quality_score,
            parts: serde_json::from_str(&quality_parts).unwrap_or_default(),
        },
        reconciliation: match (reconcile_status, reconcile_batch_id, reconciled_at) {
            (Some(status), Some(batch_id), Some(checked_at)) => Some(Reconciliation {
                status,
                batch_id,
                checked_at,
            }),
            _ => None,
        },
        manifest_batch_id,
        columns,
        drift,
        refreshed_at,
    }))
}

// ---------------------------------------------------------------------------
// Directory
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct Directory {
    pub total: i64,
    pub domains: Vec<DomainNode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DomainNode {
    pub domain: String,
    /// The owner of the domain's tables (the most common one).
    pub owner: Option<String>,
    pub tables: i64,
    /// Tables per layer, ODS → DWD → DWS → ADS → OTHER; layers without tables left out.
    pub layers: Vec<LayerCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerCount {
    pub layer: Layer,
    pub tables: i64,
}

/// The domain tree (业务域 → layer) with table counts: the known domains in
/// their usual order, then others by name, `未分类` last.
pub async fn directory(db: &Db) -> Result<Directory, CatalogError> {
    ensure_tables(db).await?;
    let rows: Vec<(String, String, Option<String>, i64)> = on_db!(db, |pool| {
        sqlx::query_as(
            "SELECT domain, layer, owner, count(*) FROM zw_catalog_table GROUP BY domain, layer, owner",
        )
        .fetch_all(pool)
        .await
    })?;
    /// Per domain: tables per layer, tables per owner.
    type Counts = (BTreeMap<Layer, i64>, BTreeMap<Option<String>, i64>);
    let mut by_domain: BTreeMap<String, Counts> = BTreeMap::new();
    for (domain, layer, owner, n) in rows {
        let node = by_domain.entry(domain).or_default();
        *node
            .0
            .entry(Layer::parse(&layer).unwrap_or(Layer::Other))
            .or_default() += n;
        *node.1.entry(owner).or_default() += n;
    }
    let order = |d: &str| {
        DOMAINS
            .iter()
            .position(|k| *k == d)
            .unwrap_or(if d == UNCLASSIFIED {
                usize::MAX
            } else {
                DOMAINS.len()
            })
    };
    let mut domains: Vec<DomainNode> = by_domain
        .into_iter()
        .map(|(domain, (layers, owners))| DomainNode {
            owner: owners
                .into_iter()
                .max_by_key(|(o, n)| (*n, o.is_some()))
                .and_then(|(o, _)| o),
            tables: layers.values().sum(),
            layers: layers
                .into_iter()
                .map(|(layer, tables)| LayerCount { layer, tables })
                .collect(),
            domain,
        })
        .collect();
    domains.sort_by(|a, b| (order(&a.domain), &a.domain).cmp(&(order(&b.domain), &b.domain)));
    Ok(Directory {
        total: domains.iter().map(|d| d.tables).sum(),
        domains,
    })
}
