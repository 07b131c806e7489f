//! The audit log: append-only and hash-chained.
//!
//! **Owns:** the tables `audit_log` and `audit_head` (migration 3,
//! `host/store/migrations/*/0003_audit.sql`), appending entries
//! ([`AuditLog::append`], [`AuditLog::append_batch`], and the `_in` variants
//! that write inside a caller's transaction), verifying the chain
//! ([`AuditLog::verify`], [`AuditLog::verify_against`]) and the audit
//! admin's query ([`AuditLog::query`]). **Must not know:** who may read the
//! log (the caller checks that), HTTP.
//!
//! # The chain
//!
//! Entries are numbered `seq` = 1, 2, 3, … with no gaps. Each carries
//! `prev_hash`, the `hash` of entry `seq - 1` (64 zeros for entry 1), and
//! its own `hash` = SHA-256 of its canonical encoding, lowercase hex:
//!
//! ```text
//! "zhiyun-audit-v1"                  15 bytes, the format's name
//! seq                                i64, 8 bytes big-endian
//! at                                 i64, 8 bytes big-endian (µs since the epoch, UTC)
//! str(actor)
//! opt(actor_org)
//! str(action)                        e.g. "data.access"
//! str(target)
//! str(outcome)                       "ok" | "denied" | "error"
//! str(detail)                        the JSON text exactly as stored
//! opt(request_id)
//! str(prev_hash)                     64 lowercase hex digits
//!
//! str(s)       = u64 big-endian byte length of s, then the UTF-8 bytes of s
//! opt(None)    = 0x00
//! opt(Some(s)) = 0x01, then str(s)
//! ```
//!
//! Every variable field is length-prefixed, so no two different entries
//! encode to the same bytes (moving a character from `actor` to `target`
//! changes the encoding). `detail` is hashed as the stored text, never
//! re-serialised, so the hash does not depend on a JSON library's output.
//!
//! # What verification catches, and what it cannot
//!
//! [`AuditLog::verify`] reads the log in `seq` order, a page at a time,
//! recomputes every hash and names the **first** broken link
//! ([`BreakKind`]): an entry whose content no longer matches its hash
//! (`Edited`), a missing range of `seq` (`Deleted`), an intact entry moved
//! to another position (`Reordered`), an entry that does not link to its
//! predecessor although both are self-consistent (`BadLink` — the
//! predecessor was rewritten with a recomputed hash).
//!
//! The chain alone cannot see entries removed **from the end**: what remains
//! is a valid, shorter chain. Two things help, with different strength:
//!
//! - `audit_head` (in the same database) records the last entry; `verify`
//!   checks the log still reaches it. This catches a careless truncation, not
//!   an attacker who can also rewrite that row (the database refuses to move
//!   it backwards, but a DBA can disable that trigger).
//! - An **anchor** kept elsewhere: [`AuditLog::head`] returns the current
//!   `(seq, hash)`; publish it (a daily e-mail, another system's log, a
//!   printed report) and later [`AuditLog::verify_against`] it. Entries up to
//!   the anchor cannot then be removed or rewritten unnoticed. Entries after
//!   the newest anchor remain as trustworthy as the database.
//!
//! Nor can the chain tell who wrote an entry: someone with write access to
//! the database can append well-formed forged entries at the end. The chain
//! makes *changing history* detectable, not *adding to it*.
//!
//! # Append-only, three walls
//!
//! 1. This module only ever inserts.
//! 2. The database refuses `UPDATE` and `DELETE` on `audit_log` (and
//!    `TRUNCATE` on PostgreSQL) with triggers, and lets `audit_head` only
//!    move forward; an attacker must have the rights to drop or disable
//!    triggers.
//! 3. The chain: whatever gets past the first two is detected by `verify`.
//!
//! # Concurrency
//!
//! An append locks the single row of `audit_head` (`SELECT … FOR UPDATE` on
//! PostgreSQL; on SQLite the write transaction, `BEGIN IMMEDIATE`, already
//! excludes every other writer), reads the head, inserts, moves the head and
//! commits. Hosts sharing one database therefore append one after another,
//! each seeing the previous one's entry: no fork, no reused `seq`. A row lock
//! was chosen over `pg_advisory_xact_lock` because it belongs to the schema
//! (an advisory lock key is shared by every schema of the database) and the
//! locked row is also the head that must be read. Should the lock ever be
//! bypassed, `UNIQUE (prev_hash)` and the primary key on `seq` refuse a
//! second entry claiming the same predecessor.
//!
//! The `_in` variants hold that lock until the caller's transaction ends, so
//! they serialise with every other append: keep those transactions short.
//! High-volume paths (every data access) use [`AuditLog::append_batch`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::fmt;
use zhiyun_store::{Backend, Store, StoreError, now_micros};

/// `prev_hash` of the first entry, and the head of an empty log.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The name that opens every entry's canonical encoding.
const DOMAIN: &[u8] = b"zhiyun-audit-v1";

/// Entries per page when verifying.
const VERIFY_PAGE: i64 = 1000;

/// At most this many entries per [`AuditLog::query`].
pub const MAX_QUERY_LIMIT: u32 = 1000;

/// Rows per multi-row `INSERT` in a batch (11 parameters each).
const INSERT_CHUNK: usize = 64;

const MAX_ACTOR_LEN: usize = 256;
const MAX_TARGET_LEN: usize = 1024;
const MAX_DETAIL_LEN: usize = 64 * 1024;

/// What was done. Known actions have a variant; any other well-formed name
/// (`[a-z0-9_.-]+`, at most 64 bytes) is [`AuditAction::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// `login.success`
    LoginSuccess,
    /// `login.failure`
    LoginFailure,
    /// `logout`
    Logout,
    /// `app.launch`
    AppLaunch,
    /// `data.access`: an app read a dataset (detail: app, dataset, row_count).
    DataAccess,
    /// `export`
    Export,
    /// `change.create`
    ChangeCreate,
    /// `change.approve`
    ChangeApprove,
    /// `change.reject`
    ChangeReject,
    /// `change.withdraw`
    ChangeWithdraw,
    /// `policy.change`: the live policy changed (written by an approval).
    PolicyChange,
    /// Any other action name; build it with [`AuditAction::parse`], which
    /// maps the known names to their variants.
    Other(String),
}

impl AuditAction {
    const KNOWN: [AuditAction; 11] = [
        AuditAction::LoginSuccess,
        AuditAction::LoginFailure,
        AuditAction::Logout,
        AuditAction::AppLaunch,
        AuditAction::DataAccess,
        AuditAction::Export,
        AuditAction::ChangeCreate,
        AuditAction::ChangeApprove,
        AuditAction::ChangeReject,
        AuditAction::ChangeWithdraw,
        AuditAction::PolicyChange,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            AuditAction::LoginSuccess => "login.success",
            AuditAction::LoginFailure => "login.failure",
            AuditAction::Logout => "logout",
            AuditAction::AppLaunch => "app.launch",
            AuditAction::DataAccess => "data.access",
            AuditAction::Export => "export",
            AuditAction::ChangeCreate => "change.create",
            AuditAction::ChangeApprove => "change.approve",
            AuditAction::ChangeReject => "change.reject",
            AuditAction::ChangeWithdraw => "change.withdraw",
            AuditAction::PolicyChange => "policy.change",
            AuditAction::Other(s) => s,
        }
    }

    /// The action a name stands for: a known variant, or `Other` for any
    /// other name made of `a-z 0-9 _ . -` (at most 64 bytes).
    pub fn parse(s: &str) -> Result<AuditAction, AuditError> {
        if let Some(known) = Self::KNOWN.into_iter().find(|a| a.as_str() == s) {
            return Ok(known);
        }
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            });
        if ok {
            Ok(AuditAction::Other(s.to_string()))
        } else {
            Err(AuditError::Invalid(format!(
                "`{s}` is not an audit action name (1–64 characters of a-z, 0-9, `_`, `.`, `-`)"
            )))
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AuditAction::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How the audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    /// Refused by a permission check (a failed login, a self-approval …).
    Denied,
    /// Failed for another reason.
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Denied, Outcome::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to append. The log assigns `seq`, `at` and the hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEntry {
    /// Who acted (a user name, `system`, or for a failed login the name
    /// that was tried).
    pub actor: String,
    /// The actor's organisation, if known.
    pub actor_org: Option<String>,
    pub action: AuditAction,
    /// What was acted on, as a path-like name (`app/fund-position`,
    /// `dataset/dws.fund_balance`, `change-request/17`); may be empty.
    pub target: String,
    pub outcome: Outcome,
    /// Anything else worth keeping, as JSON (for `data.access`: `app`,
    /// `dataset`, `row_count`). Stored as its JSON text, at most 64 KiB.
    pub detail: serde_json::Value,
    /// The HTTP request's `x-request-id`, to join with the server's logs.
    pub request_id: Option<String>,
}

impl NewEntry {
    /// An entry with outcome `ok`, no organisation, `{}` detail and no
    /// request id; adjust with the builder methods.
    pub fn new(actor: impl Into<String>, action: AuditAction, target: impl Into<String>) -> Self {
        NewEntry {
            actor: actor.into(),
            actor_org: None,
            action,
            target: target.into(),
            outcome: Outcome::Ok,
            detail: serde_json::Value::Object(Default::default()),
            request_id: None,
        }
    }

    /// `data.access` by `app` on `dataset` for `user`, returning `row_count`
    /// rows; target `dataset/<dataset>`.
    pub fn data_access(user: &str, app: &str, dataset: &str, row_count: u64) -> Self {
        NewEntry::new(user, AuditAction::DataAccess, format!("dataset/{dataset}"))
            .detail(serde_json::json!({ "app": app, "dataset": dataset, "row_count": row_count }))
    }

    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.actor_org = Some(org.into());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Checks the fields and returns the detail's JSON text.
    fn check(&self) -> Result<String, AuditError> {
        if self.actor.trim().is_empty() || self.actor.len() > MAX_ACTOR_LEN {
            return Err(AuditError::Invalid(format!(
                "an audit entry's actor must be 1–{MAX_ACTOR_LEN} bytes and not blank"
            )));
        }
        if self.target.len() > MAX_TARGET_LEN {
            return Err(AuditError::Invalid(format!(
                "an audit entry's target is {} bytes; at most {MAX_TARGET_LEN}",
                self.target.len()
            )));
        }
        if let AuditAction::Other(name) = &self.action {
            // `Other` built by hand must still be a well-formed, unknown name.
            if AuditAction::parse(name)? != self.action {
                return Err(AuditError::Invalid(format!(
                    "use the AuditAction variant for `{name}`, not Other"
                )));
            }
        }
        let detail = self.detail.to_string();
        if detail.len() > MAX_DETAIL_LEN {
            return Err(AuditError::Invalid(format!(
                "an audit entry's detail is {} bytes of JSON; at most {MAX_DETAIL_LEN}",
                detail.len()
            )));
        }
        Ok(detail)
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub seq: i64,
    /// Microseconds since the Unix epoch, UTC: when it was appended.
    pub at: i64,
    pub actor: String,
    pub actor_org: Option<String>,
    pub action: AuditAction,
    pub target: String,
    pub outcome: Outcome,
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// A point of the chain worth remembering elsewhere: the entry `seq` had
/// this `hash` (seq 0 and [`GENESIS_HASH`] for an empty log).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for Anchor {
    type Err = AuditError;

    /// Reads `<seq>:<hash>` (as [`Anchor`]'s `Display` writes it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AuditError::Invalid(format!("`{s}` is not an audit anchor `<seq>:<hash>`"));
        let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        if seq < 0 || !is_hash(hash) {
            return Err(bad());
        }
        Ok(Anchor {
            seq,
            hash: hash.to_string(),
        })
    }
}

/// How the chain is broken at [`VerifyReport::Broken::first_bad_seq`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BreakKind {
    /// The entry's content no longer matches its hash: a field was changed.
    Edited,
    /// Entries `from..=to` are missing (deleted, or renumbered away).
    Deleted { from: i64, to: i64 },
    /// An intact entry sits at the wrong position: it was written as
    /// `written_as`.
    Reordered { written_as: i64 },
    /// The entry is self-consistent but does not name its predecessor's
    /// hash: the predecessor (or this entry) was rewritten with a recomputed
    /// hash.
    BadLink {
        expected_prev: String,
        found_prev: String,
    },
    /// The log ends at `last_seq`, but an anchor (or the `audit_head`
    /// record) says it reached `anchor_seq`: entries were removed from the
    /// end.
    Truncated { last_seq: i64, anchor_seq: i64 },
    /// The entry at the anchor's seq is chained correctly but is not the
    /// anchored one: the log was rewritten from there (hashes recomputed).
    AnchorMismatch {
        anchor_hash: String,
        found_hash: String,
    },
}

/// The outcome of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum VerifyReport {
    /// Every entry matched its hash and its predecessor, and the log reaches
    /// every anchor given. `head_hash` is [`GENESIS_HASH`] for an empty log.
    Ok { entries: i64, head_hash: String },
    /// The first broken link.
    Broken {
        first_bad_seq: i64,
        kind: BreakKind,
        detail: String,
    },
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        matches!(self, VerifyReport::Ok { .. })
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyReport::Ok { entries, head_hash } => {
                write!(f, "audit log intact: {entries} entries, head {head_hash}")
            }
            VerifyReport::Broken {
                first_bad_seq,
                detail,
                ..
            } => write!(f, "audit log broken at seq {first_bad_seq}: {detail}"),
        }
    }
}

/// Which way [`AuditLog::query`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Highest seq first (the default: what happened last).
    #[default]
    NewestFirst,
    /// Lowest seq first.
    OldestFirst,
}

/// The audit admin's filter. Every field is optional and they combine with
/// AND.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    /// Entries whose target starts with this (case-sensitive, no wildcards).
    pub target_prefix: Option<String>,
    pub outcome: Option<Outcome>,
    /// `at >= from` (µs since the epoch).
    pub from: Option<i64>,
    /// `at < to`.
    pub to: Option<i64>,
    /// The cursor: continue after this seq in the chosen order (newest
    /// first: entries with a lower seq; oldest first: a higher seq). Pass the
    /// last `seq` of the previous page.
    pub after_seq: Option<i64>,
    /// At most this many entries (1–[`MAX_QUERY_LIMIT`]; default 100).
    pub limit: Option<u32>,
    pub order: Order,
}

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Invalid(String),
    /// A stored entry no longer reads back (run `verify`).
    #[error("the audit log's stored data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> Self {
        AuditError::Store(StoreError::Database(e))
    }
}

type Result<T, E = AuditError> = std::result::Result<T, E>;

const ENTRY_COLS: &str =
    "seq, at, actor, actor_org, action, target, outcome, detail, request_id, prev_hash, hash";

/// The audit log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> Self {
        AuditLog { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Appends one entry in its own transaction.
    pub async fn append(&self, entry: NewEntry) -> Result<Entry> {
        let mut entries = self.append_batch(vec![entry]).await?;
        Ok(entries.pop().expect("one entry appended"))
    }

    /// Appends entries, in order, in one transaction (one lock, one commit):
    /// the way to audit many events cheaply. Either all are appended or none.
    pub async fn append_batch(&self, entries: Vec<NewEntry>) -> Result<Vec<Entry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.store.begin_write().await?;
        let appended = self.append_batch_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(appended)
    }

    /// Appends one entry inside the caller's transaction, which must have
    /// been started with [`Store::begin_write`] (on SQLite a deferred
    /// transaction could fail to upgrade). The entry exists only if that
    /// transaction commits; until it ends, every other append waits.
    pub async fn append_in(&self, conn: &mut AnyConnection, entry: NewEntry) -> Result<Entry> {
        let mut entries = self.append_batch_in(conn, vec![entry]).await?;
        Ok(entries.pop().expect("one entry appended"))
    }

    /// [`AuditLog::append_batch`] inside the caller's transaction (see
    /// [`AuditLog::append_in`]).
    pub async fn append_batch_in(
        &self,
        conn: &mut AnyConnection,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<Entry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let details = entries
            .iter()
            .map(NewEntry::check)
            .collect::<Result<Vec<_>>>()?;
        let head_sql = match self.store.backend() {
            Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
            // The write transaction already excludes every other writer.
            Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
        };
        let head = sqlx::query(head_sql).fetch_optional(&mut *conn).await?;
        let Some(head) = head else {
            return Err(AuditError::Corrupt(
                "the audit_head row is missing (it is created by the migration and never deleted)"
                    .into(),
            ));
        };
        let head_seq: i64 = head.try_get("seq")?;
        let mut prev: String = head.try_get("hash")?;
        let at = now_micros();
        let mut built = Vec::with_capacity(entries.len());
        for (seq, (e, detail)) in (head_seq + 1..).zip(entries.into_iter().zip(details)) {
            let hash = entry_hash(&HashInput {
                seq,
                at,
                actor: &e.actor,
                actor_org: e.actor_org.as_deref(),
                action: e.action.as_str(),
                target: &e.target,
                outcome: e.outcome.as_str(),
                detail: &detail,
                request_id: e.request_id.as_deref(),
                prev_hash: &prev,
            });
            let entry = Entry {
                seq,
                at,
                actor: e.actor,
                actor_org: e.actor_org,
                action: e.action,
                target: e.target,
                outcome: e.outcome,
                detail: e.detail,
                request_id: e.request_id,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            };
            built.push((entry, detail));
        }
        for chunk in built.chunks(INSERT_CHUNK) {
            let rows = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=11).map(|j| format!("${}", i * 11 + j)).collect();
                    format!("({})", p.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("INSERT INTO audit_log ({ENTRY_COLS}) VALUES {rows}");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (e, detail) in chunk {
                q = q
                    .bind(e.seq)
                    .bind(e.at)
                    .bind(e.actor.clone())
                    .bind(e.actor_org.clone())
                    .bind(e.action.as_str().to_string())
                    .bind(e.target.clone())
                    .bind(e.outcome.as_str())
                    .bind(detail.clone())
                    .bind(e.request_id.clone())
                    .bind(e.prev_hash.clone())
                    .bind(e.hash.clone());
            }
            q.execute(&mut *conn).await?;
        }
        let last = &built.last().expect("not empty").0;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, at = $3 WHERE id = 1")
            .bind(last.seq)
            .bind(&last.hash)
            .bind(last.at)
            .execute(&mut *conn)
            .await?;
        Ok(built.into_iter().map(|(e, _)| e).collect())
    }

    /// The current head, from the `audit_head` record: publish it elsewhere
    /// and pass it to [`AuditLog::verify_against`] later.
    pub async fn head(&self) -> Result<Anchor> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| AuditError::Corrupt("the audit_head row is missing".into()))?;
        Ok(Anchor {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        })
    }

    /// Verifies the whole chain and that it still reaches the `audit_head`
    /// record (read first; entries appended meanwhile are verified too).
    pub async fn verify(&self) -> Result<VerifyReport> {
        self.verify_anchors(Vec::new()).await
    }

    /// [`AuditLog::verify`], and also that the entry `anchor.seq` still
    /// exists with `anchor.hash`: detects removal from the end and rewriting
    /// with recomputed hashes up to the anchor.
    pub async fn verify_against(&self, anchor: &Anchor) -> Result<VerifyReport> {
        self.verify_anchors(vec![(anchor.clone(), "the anchor")])
            .await
    }

    async fn verify_anchors(
        &self,
        mut anchors: Vec<(Anchor, &'static str)>,
    ) -> Result<VerifyReport> {
        anchors.push((self.head().await?, "the audit_head record"));
        for (anchor, what) in &anchors {
            if anchor.seq == 0 && anchor.hash != GENESIS_HASH {
                return Ok(VerifyReport::Broken {
                    first_bad_seq: 1,
                    kind: BreakKind::AnchorMismatch {
                        anchor_hash: anchor.hash.clone(),
                        found_hash: GENESIS_HASH.into(),
                    },
                    detail: format!("{what} names seq 0 with a hash other than the genesis hash"),
                });
            }
        }
        let pool = self.store.pool();
        let mut expected_seq: i64 = 1;
        let mut prev_hash = GENESIS_HASH.to_string();
        loop {
            let rows = sqlx::query(
                "SELECT seq, at, actor, actor_org, action, target, outcome, detail, request_id, \
                 prev_hash, hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2",
            )
            .bind(expected_seq)
            .bind(VERIFY_PAGE)
            .fetch_all(pool)
            .await?;
            let page_len = rows.len();
            for row in &rows {
                let raw = RawEntry::from_row(row)?;
                if let Some(report) = self.check_link(&raw, expected_seq, &prev_hash).await? {
                    return Ok(report);
                }
                for (anchor, what) in &anchors {
                    if anchor.seq == raw.seq && anchor.hash != raw.hash {
                        return Ok(VerifyReport::Broken {
                            first_bad_seq: raw.seq,
                            kind: BreakKind::AnchorMismatch {
                                anchor_hash: anchor.hash.clone(),
                                found_hash: raw.hash.clone(),
                            },
                            detail: format!(
                                "entry {} is chained correctly but its hash {} is not the {} \
                                 recorded by {what}: the log was rewritten up to here with \
                                 recomputed hashes",
                                raw.seq,
                                short(&raw.hash),
                                short(&anchor.hash)
                            ),
                        });
                    }
                }
                expected_seq = raw.seq + 1;
                prev_hash = raw.hash;
            }
            if (page_len as i64) < VERIFY_PAGE {
                break;
            }
        }
        // Before seq 1 nothing may exist (the CHECK refuses seq < 1; a
        // database without it would be caught here).
        let below: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq < 1")
            .fetch_one(pool)
            .await?;
        if below > 0 {
            return Ok(VerifyReport::Broken {
                first_bad_seq: 0,
                kind: BreakKind::Edited,
                detail: format!("{below} entries have a seq below 1"),
            });
        }
        let last_seq = expected_seq - 1;
        if let Some((anchor, what)) = anchors
            .iter()
            .filter(|(a, _)| a.seq > last_seq)
            .min_by_key(|(a, _)| a.seq)
        {
            return Ok(VerifyReport::Broken {
                first_bad_seq: last_seq + 1,
                kind: BreakKind::Truncated {
                    last_seq,
                    anchor_seq: anchor.seq,
                },
                detail: format!(
                    "the log ends at entry {last_seq}, but {what} says it reached entry {}: \
                     entries {}..={} were removed from the end",
                    anchor.seq,
                    last_seq + 1,
                    anchor.seq
                ),
            });
        }
        Ok(VerifyReport::Ok {
            entries: last_seq,
            head_hash: prev_hash,
        })
    }

    /// Checks one entry against its position and predecessor; `None` if it
    /// is in order.
    async fn check_link(
        &self,
        raw: &RawEntry,
        expected_seq: i64,
        prev_hash: &str,
    ) -> Result<Option<VerifyReport>> {
        if raw.seq != expected_seq {
            let (from, to) = (expected_seq, raw.seq - 1);
            let what = if from == to {
                format!("entry {from} is missing")
            } else {
                format!("entries {from}..={to} are missing")
            };
            return Ok(Some(VerifyReport::Broken {
                first_bad_seq: from,
                kind: BreakKind::Deleted { from, to },
                detail: format!("{what}: the log jumps from {} to {}", from - 1, raw.seq),
            }));
        }
        if raw.computed_hash(raw.seq) != raw.hash {
            // Intact content at another position, or a changed field?
            if let Some(original) = self.original_position(raw).await? {
                return Ok(Some(VerifyReport::Broken {
                    first_bad_seq: raw.seq,
                    kind: BreakKind::Reordered {
                        written_as: original,
                    },
                    detail: format!(
                        "entry {} holds the intact entry written as {original}: entries were \
                         reordered",
                        raw.seq
                    ),
                }));
            }
            return Ok(Some(VerifyReport::Broken {
                first_bad_seq: raw.seq,
                kind: BreakKind::Edited,
                detail: format!(
                    "entry {} does not match its hash {}: a field was changed after it was \
                     written",
                    raw.seq,
                    short(&raw.hash)
                ),
            }));
        }
        if raw.prev_hash != prev_hash {
            return Ok(Some(VerifyReport::Broken {
                first_bad_seq: raw.seq,
                kind: BreakKind::BadLink {
                    expected_prev: prev_hash.to_string(),
                    found_prev: raw.prev_hash.clone(),
                },
                detail: format!(
                    "entry {} links to {} but entry {} has hash {}: entry {} (or this one) was \
                     rewritten with a recomputed hash",
                    raw.seq,
                    short(&raw.prev_hash),
                    raw.seq - 1,
                    short(prev_hash),
                    raw.seq - 1
                ),
            }));
        }
        Ok(None)
    }

    /// The seq an entry whose hash does not match its position was written
    /// as, if its content is intact: one after the entry it links to, or one
    /// before the entry that links to it.
    async fn original_position(&self, raw: &RawEntry) -> Result<Option<i64>> {
        let pool = self.store.pool();
        let mut candidates = Vec::new();
        if raw.prev_hash == GENESIS_HASH {
            candidates.push(1);
        } else if let Some(p) =
            sqlx::query_scalar::<_, i64>("SELECT seq FROM audit_log WHERE hash = $1")
                .bind(&raw.prev_hash)
                .fetch_optional(pool)
                .await?
        {
            // Written right after its predecessor; or, if the predecessor now
            // sits right after it, the two were swapped.
            candidates.extend([p + 1, p]);
        }
        if let Some(n) =
            sqlx::query_scalar::<_, i64>("SELECT seq FROM audit_log WHERE prev_hash = $1")
                .bind(&raw.hash)
                .fetch_optional(pool)
                .await?
        {
            candidates.push(n - 1);
        }
        Ok(candidates
            .into_iter()
            .find(|&s| s != raw.seq && raw.computed_hash(s) == raw.hash))
    }

    /// The audit admin's query (see [`AuditFilter`]): newest first by
    /// default, at most [`MAX_QUERY_LIMIT`] entries. Page with `after_seq`.
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<Entry>> {
        let limit = filter.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_QUERY_LIMIT {
            return Err(AuditError::Invalid(format!(
                "limit {limit} is out of range; 1–{MAX_QUERY_LIMIT}"
            )));
        }
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        let next = |b: Bind, binds: &mut Vec<Bind>| {
            binds.push(b);
            format!("${}", binds.len())
        };
        if let Some(actor) = &filter.actor {
            let p = next(Bind::Str(actor.clone()), &mut binds);
            conds.push(format!("actor = {p}"));
        }
        if let Some(action) = &filter.action {
            let p = next(Bind::Str(action.as_str().to_string()), &mut binds);
            conds.push(format!("action = {p}"));
        }
        if let Some(prefix) = &filter.target_prefix
            && !prefix.is_empty()
        {
            // substr/length count characters on both backends; no LIKE, so
            // `%` and `_` need no escaping and case matters on SQLite too.
            let n = next(Bind::I64(prefix.chars().count() as i64), &mut binds);
            let p = next(Bind::Str(prefix.clone()), &mut binds);
            conds.push(format!("substr(target, 1, CAST({n} AS INTEGER)) = {p}"));
        }
        if let Some(outcome) = filter.outcome {
            let p = next(Bind::Str(outcome.as_str().to_string()), &mut binds);
            conds.push(format!("outcome = {p}"));
        }
        if let Some(from) = filter.from {
            let p = next(Bind::I64(from), &mut binds);
            conds.push(format!("at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = next(Bind::I64(to), &mut binds);
            conds.push(format!("at < {p}"));
        }
        let (cmp, dir) = match filter.order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        if let Some(after) = filter.after_seq {
            let p = next(Bind::I64(after), &mut binds);
            conds.push(format!("seq {cmp} {p}"));
        }
        let where_ = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let p = next(Bind::I64(i64::from(limit)), &mut binds);
        let sql =
            format!("SELECT {ENTRY_COLS} FROM audit_log {where_} ORDER BY seq {dir} LIMIT {p}");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                Bind::I64(v) => q.bind(v),
                Bind::Str(v) => q.bind(v),
            };
        }
        let rows = q.fetch_all(self.store.pool()).await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// One entry by seq.
    pub async fn get(&self, seq: i64) -> Result<Option<Entry>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENTRY_COLS} FROM audit_log WHERE seq = $1"
        )))
        .bind(seq)
        .fetch_optional(self.store.pool())
        .await?;
        row.as_ref().map(entry_from_row).transpose()
    }
}

enum Bind {
    I64(i64),
    Str(String),
}

/// An entry as stored, for hashing.
struct RawEntry {
    seq: i64,
    at: i64,
    actor: String,
    actor_org: Option<String>,
    action: String,
    target: String,
    outcome: String,
    detail: String,
    request_id: Option<String>,
    prev_hash: String,
    hash: String,
}

impl RawEntry {
    fn from_row(row: &AnyRow) -> Result<RawEntry> {
        Ok(RawEntry {
            seq: row.try_get("seq")?,
            at: row.try_get("at")?,
            actor: row.try_get("actor")?,
            actor_org: row.try_get("actor_org")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
            request_id: row.try_get("request_id")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// The hash this content would have at position `seq`.
    fn computed_hash(&self, seq: i64) -> String {
        entry_hash(&HashInput {
            seq,
            at: self.at,
            actor: &self.actor,
            actor_org: self.actor_org.as_deref(),
            action: &self.action,
            target: &self.target,
            outcome: &self.outcome,
            detail: &self.detail,
            request_id: self.request_id.as_deref(),
            prev_hash: &self.prev_hash,
        })
    }
}

fn entry_from_row(row: &AnyRow) -> Result<Entry> {
    let raw = RawEntry::from_row(row)?;
    let action = AuditAction::parse(&raw.action)
        .map_err(|e| AuditError::Corrupt(format!("entry {}: {e}", raw.seq)))?;
    let outcome = Outcome::parse(&raw.outcome).ok_or_else(|| {
        AuditError::Corrupt(format!("entry {}: outcome `{}`", raw.seq, raw.outcome))
    })?;
    let detail = serde_json::from_str(&raw.detail)
        .map_err(|e| AuditError::Corrupt(format!("entry {}: detail is not JSON: {e}", raw.seq)))?;
    Ok(Entry {
        seq: raw.seq,
        at: raw.at,
        actor: raw.actor,
        actor_org: raw.actor_org,
        action,
        target: raw.target,
        outcome,
        detail,
        request_id: raw.request_id,
        prev_hash: raw.prev_hash,
        hash: raw.hash,
    })
}

/// The fields an entry's hash covers (see the module docs).
struct HashInput<'a> {
    seq: i64,
    at: i64,
    actor: &'a str,
    actor_org: Option<&'a str>,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    detail: &'a str,
    request_id: Option<&'a str>,
    prev_hash: &'a str,
}

/// The canonical encoding of an entry (see the module docs).
fn canonical_bytes(e: &HashInput<'_>) -> Vec<u8> {
    fn str_(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn opt(out: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                str_(out, s);
            }
        }
    }
    let mut out = Vec::with_capacity(
        DOMAIN.len() + 16 + 9 * 8 + e.actor.len() + e.target.len() + e.detail.len() + 128,
    );
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&e.seq.to_be_bytes());
    out.extend_from_slice(&e.at.to_be_bytes());
    str_(&mut out, e.actor);
    opt(&mut out, e.actor_org);
    str_(&mut out, e.action);
    str_(&mut out, e.target);
    str_(&mut out, e.outcome);
    str_(&mut out, e.detail);
    opt(&mut out, e.request_id);
    str_(&mut out, e.prev_hash);
    out
}

fn entry_hash(e: &HashInput<'_>) -> String {
    hex::encode(Sha256::digest(canonical_bytes(e)))
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The first 12 hex digits of a hash, for messages.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests;
