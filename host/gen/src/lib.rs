//! The backflow batch generator (回流批次生成器): writes a batch directory
//! in the format of `zhiyun_batch` — `manifest.json` (written last),
//! `ground_truth.jsonl` and `tables/<name>.<ext>` — holding the finance
//! source data of one second-level unit of a power-grid company (二级单位
//! 3300, 县公司 3301–3303, six 供电所, six departments: the platform's demo
//! org ids), fiscal years 2025–2026 up to the as-of date 2026-10-31.
//!
//! # What it produces
//!
//! * The ~30 core tables of finance-domain.md §2 (`dim_*`, `gl_voucher`,
//!   `gl_voucher_line`, `gl_balance`, `budget_plan`, `cash_plan_daily`,
//!   `payment`, `bank_txn`, `bank_balance_daily`, `elec_bill`, `elec_payment`,
//!   `power_purchase`, `contract`, `ap_invoice`, `material_move`,
//!   `inventory_balance`, `fixed_asset`, `asset_depr`, `tax_invoice`,
//!   `payroll`, `shared_work_order`, `expense_claim`, `expense_claim_line`)
//!   plus `bank_account` and two old→new code dictionaries
//!   (`code_map_elec_category`, `code_map_bank`). They come from a day-by-day
//!   business simulation ([`sim`]): documents first, vouchers derived from
//!   them, `gl_balance` aggregated from the posted lines.
//! * Filler tables ([`filler`]) so that batch 1 has exactly 725 tables and
//!   batch 2 exactly 780: code tables (码表, always CSV), logs and module
//!   details, 3–40 columns of every column type, some with sensitive values
//!   (身份证号 with a valid check digit, bank card numbers, mobile numbers),
//!   also inside innocuous columns (`remark`, `contact`).
//!
//! Volumes follow §4: `Scale::JournalLines(n)` makes `gl_voucher_line` ≈ n
//! (within a few per cent from 300k up) and everything else proportional to
//! §4's demo column (`Demo` = 300,000 lines, ≈ 1M bills, ≈ 1.3M payments).
//! `Tiny` scales the business events to 3,000 lines, but the monthly
//! postings of 22 months × 4 entities (billing, collections, sweeps, payroll,
//! depreciation, bank fees) come on top: ≈ 5,900 lines in all. Generation
//! streams: memory is bounded by master data (customers, suppliers,
//! projects) and the open periods, never by the number of lines (≈ 36 MB
//! resident at 1M lines).
//!
//! # Rules that hold on the clean rows
//!
//! Every voucher balances and each line has exactly one non-zero side;
//! `gl_balance` close = open + per, next open = this close, P&L closed to
//! 4103 and then 4104 at 2025-12-31; the trial balance balances and 资产 =
//! 负债 + 权益 (+ the current year's unclosed P&L); subledgers tie to the
//! GL (112201 = Σ bills − Σ payments, 2202 = Σ unpaid booked AP invoices by
//! supplier, 1601 = Σ card orig_value, 1602 = Σ accum_depr and per period Σ
//! asset_depr.accum, 1604 = Σ project CIP, 1002 = Σ bank book balance,
//! 1403/1605 = Σ inventory of the YC/GC warehouses, 2211 credits = Σ payroll
//! gross); bank_bal − book_bal = unreconciled (fees the bank deducted and
//! the books take at month end); bill amount = Σ components; document chains
//! claim → voucher → payment, AP invoice → voucher → payment, payroll
//! accrue → pay, with monotone dates; payments per contract follow the pay
//! terms and never exceed the amount; electricity-fee bank accounts receive
//! only fees and pay out only 上划 and bank fees, and 6001 is credited only by
//! bill issuing (debited only by the year-end closing).
//!
//! # Anomalies (ground truth `rule` = the alert id)
//!
//! At `anomaly_rate` per opportunity (each rule fires at least once when
//! the rate is positive): A01 `bank_balance_daily` available < reserve (a
//! freeze); A02 `payment` of a claim from an electricity-fee account; A03
//! `payment` to a private person ≥ 5万; A04 `payment` without budget item;
//! A06 `cash_plan_daily` plan 25 % off; A09 `elec_bill` of a large
//! industrial customer ≥ 10万 left unpaid > 30 days past due; A12
//! `expense_claim_line` reusing another claim's invoice number; A13
//! `dim_project` commissioned > 3 months ago and not capitalised; A15
//! `ap_invoice` past due and unpaid; A18 `tax_invoice` (进项) 异常/作废/红冲
//! after booking; A20 `gl_voucher` whose lines do not balance (the ledger
//! posts the approved, balanced amounts; only the line file carries the
//! error). The ties above still hold with all of them, except that
//! `gl_balance` per-period sums differ from the lines by the A20 errors.
//!
//! # Dirt (ground truth `rule` = the kind)
//!
//! At `dirty_rate` per row, only in non-key, non-money columns:
//! `dirty:padded` (leading/trailing spaces or U+3000), `dirty:fullwidth`
//! (ＡＢＣ１２３ in codes), `dirty:date_format` (2024/3/5, 20240305,
//! 2024年3月5日), `dirty:old_code` (old 用电类别 and bank codes; the map is in
//! `code_map_elec_category` / `code_map_bank`), `duplicate` (the same row
//! delivered twice; both count in the manifest). Each table expected to have
//! ≥ 1,000 rows also gets three `malformed` lines written with
//! `TableWriter::write_damaged`: one field too many, a line cut off in the
//! middle of a field, and binary garbage in a text field. A malformed line
//! is a *second*, damaged delivery of a row that is also delivered intact:
//! it counts in the manifest (rows, checksum, money sums) but cannot be read,
//! and the clean data stays complete.
//!
//! # Batch 2
//!
//! Same business data (same seed ⇒ same rows) plus 55 new filler tables, and
//! three drifted tables: `mk_meter_reading` gains a column
//! (`reading_source`), `hr_training_record` loses its last column, and
//! `fd_bank_statement`'s `seq_no` changes from int to string.
//!
//! # Determinism
//!
//! Same options ⇒ byte-identical files: every random stream is a ChaCha8 RNG
//! seeded from the seed and a stream name, outputs iterate ordered maps only,
//! and no clock is read for data.

pub mod anomalies;
pub mod assets;
pub mod calendar;
pub mod dirt;
pub mod filler;
pub mod funds;
pub mod ledger;
pub mod orgs;
pub mod out;
pub mod procurement;
pub mod revenue;
pub mod schema;
pub mod sim;
pub mod staff;
pub mod values;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};
use zhiyun_batch::{FileFormat, GROUND_TRUTH_FILE, MANIFEST_FILE, Manifest};

/// Tables in the first batch.
pub const FIRST_BATCH_TABLES: usize = 725;
/// Tables in the second batch.
pub const SECOND_BATCH_TABLES: usize = FIRST_BATCH_TABLES + filler::SECOND_BATCH_NEW;
/// The business date every batch is as of.
pub const AS_OF: &str = "2026-10-31";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// ≈ 3,000 journal lines; every table has at least a few rows.
    Tiny,
    /// §4's demo column: 300,000 journal lines.
    Demo,
    /// About this many journal lines (gl_voucher_line rows).
    JournalLines(u64),
}

impl Scale {
    pub fn journal_lines(self) -> u64 {
        match self {
            Scale::Tiny => 3_000,
            Scale::Demo => 300_000,
            Scale::JournalLines(n) => n,
        }
    }

    fn label(self) -> String {
        match self {
            Scale::Tiny => "tiny".into(),
            Scale::Demo => "demo".into(),
            Scale::JournalLines(n) => n.to_string(),
        }
    }
}

impl FromStr for Scale {
    type Err = String;

    /// `tiny`, `demo`, or a number of journal lines: `10000000`, `10m`, `300k`, `1_000_000`.
    fn from_str(s: &str) -> Result<Scale, String> {
        let t = s.trim().to_ascii_lowercase().replace('_', "");
        match t.as_str() {
            "tiny" => return Ok(Scale::Tiny),
            "demo" => return Ok(Scale::Demo),
            _ => {}
        }
        let (digits, mult) = match t.strip_suffix('k') {
            Some(d) => (d, 1_000),
            None => match t.strip_suffix('m') {
                Some(d) => (d, 1_000_000),
                None => (t.as_str(), 1),
            },
        };
        let n: u64 = digits.parse().map_err(|_| {
            format!(
                "scale {s:?}: expected tiny, demo or a number of journal lines like 300k or 10m"
            )
        })?;
        let n = n
            .checked_mul(mult)
            .ok_or_else(|| format!("scale {s:?} is too large"))?;
        if n < 1_000 {
            return Err(format!("scale {s:?}: at least 1000 journal lines"));
        }
        Ok(Scale::JournalLines(n))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// 725 tables.
    First,
    /// 780 tables: the first batch's, three of them drifted, plus 55 new ones.
    Second,
}

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub out: PathBuf,
    pub scale: Scale,
    pub seed: u64,
    pub format: FileFormat,
    pub batch: BatchKind,
    /// Probability per opportunity of an alert-rule violation (default 0.01).
    pub anomaly_rate: f64,
    /// Probability per row of dirt (default 0.005).
    pub dirty_rate: f64,
}

impl GenOptions {
    pub fn new(out: impl Into<PathBuf>) -> GenOptions {
        GenOptions {
            out: out.into(),
            scale: Scale::Tiny,
            seed: 42,
            format: FileFormat::Csv,
            batch: BatchKind::First,
            anomaly_rate: 0.01,
            dirty_rate: 0.005,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    TableStarted {
        name: &'a str,
        index: usize,
        total: usize,
        expected_rows: u64,
    },
    Rows {
        name: &'a str,
        rows: u64,
    },
    TableDone {
        name: &'a str,
        rows: u64,
    },
}

#[derive(Debug, Clone)]
pub struct GenSummary {
    pub tables: usize,
    /// Records in the manifest (duplicates and damaged lines included).
    pub rows: u64,
    /// Injected alert-rule anomalies (ground-truth lines whose rule is A01 …).
    pub anomalies: usize,
    pub manifest: Manifest,
    pub elapsed: Duration,
}

/// Generates a batch into `opts.out`.
pub fn generate(opts: &GenOptions, progress: &mut dyn FnMut(Progress)) -> Result<GenSummary> {
    let started = Instant::now();
    if !(0.0..=1.0).contains(&opts.anomaly_rate) || !(0.0..=1.0).contains(&opts.dirty_rate) {
        bail!("anomaly_rate and dirty_rate must be between 0 and 1");
    }
    prepare_dir(&opts.out)?;
    let vol = sim::Volumes::for_lines(opts.scale.journal_lines());
    let core = sim::core_table_names();
    let first_filler = FIRST_BATCH_TABLES - core.len();
    let second = opts.batch == BatchKind::Second;
    let fillers = filler::plan(second, vol.filler, &core, first_filler);
    let total = core.len() + fillers.len();
    let out = out::Out::new(
        opts.out.clone(),
        opts.format,
        opts.seed,
        opts.dirty_rate,
        total,
        progress,
    )?;
    let (mut out, lines) = sim::run(out, vol.clone(), opts.seed, opts.anomaly_rate)?;
    filler::write(&mut out, fillers, opts.seed)?;
    out.finish_truth()?;

    let mut tables = std::mem::take(&mut out.manifests);
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let batch_no = if second { 2 } else { 1 };
    let mut notes = serde_json::Map::new();
    notes.insert("generator".into(), "zhiyun-gen".into());
    notes.insert("seed".into(), opts.seed.into());
    notes.insert("scale".into(), opts.scale.label().into());
    notes.insert("journal_lines".into(), lines.into());
    notes.insert("anomaly_rate".into(), opts.anomaly_rate.into());
    notes.insert("dirty_rate".into(), opts.dirty_rate.into());
    notes.insert("format".into(), opts.format.extension().into());
    notes.insert("batch".into(), batch_no.into());
    let truth: serde_json::Map<String, serde_json::Value> = out
        .truth_counts
        .iter()
        .map(|(k, v)| (k.clone(), (*v).into()))
        .collect();
    notes.insert("ground_truth".into(), truth.into());
    let manifest = Manifest {
        format_version: zhiyun_batch::manifest::FORMAT_VERSION,
        batch_id: format!("GDP-B{batch_no}-s{}-{}", opts.seed, opts.scale.label()),
        source: "group-data-platform".into(),
        as_of: AS_OF.into(),
        notes,
        tables,
    };
    manifest
        .check()
        .map_err(|e| anyhow::anyhow!("internal: the generated manifest is invalid: {e}"))?;
    zhiyun_batch::write::write_manifest(&opts.out, &manifest)
        .with_context(|| format!("cannot write the manifest into {}", opts.out.display()))?;
    let anomalies = out
        .truth_counts
        .iter()
        .filter(|(k, _)| k.starts_with('A'))
        .map(|(_, v)| *v)
        .sum();
    Ok(GenSummary {
        tables: manifest.tables.len(),
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        anomalies,
        manifest,
        elapsed: started.elapsed(),
    })
}

/// Creates the directory, or clears a previous batch in it. Anything else
/// in a non-empty directory is refused: the generator never deletes what it
/// did not write.
fn prepare_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()));
    }
    if !dir.is_dir() {
        bail!("{} exists and is not a directory", dir.display());
    }
    let mut foreign = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name != MANIFEST_FILE && name != GROUND_TRUTH_FILE && name != "tables" {
            foreign.push(name);
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        bail!(
            "{} is not empty and is not a previous batch (it holds {}); choose an empty or new directory",
            dir.display(),
            foreign
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let tables = dir.join("tables");
    if tables.is_dir() {
        for entry in std::fs::read_dir(&tables)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = entry.file_type()?.is_file()
                && (name.ends_with(".csv")
                    || name.ends_with(".csv.gz")
                    || name.ends_with(".jsonl"));
            if !ours {
                bail!(
                    "{} holds {name}, which is not a batch data file; refusing to clear it",
                    tables.display()
                );
            }
        }
        std::fs::remove_dir_all(&tables)
            .with_context(|| format!("cannot clear {}", tables.display()))?;
    }
    for f in [MANIFEST_FILE, GROUND_TRUTH_FILE] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    Ok(())
}
