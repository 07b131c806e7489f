//! Where rows go: the batch directory, one [`Tab`] per table (a
//! `TableWriter` plus the dirt to apply and the key to report), the
//! ground-truth file and the progress callback.

use crate::Progress;
use crate::calendar::Day;
use crate::dirt::{self, DirtPlan};
use crate::values::{self, R};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use zhiyun_batch::{
    ColumnSpec, ColumnType, FileFormat, GroundTruth, TableManifest, TableSpec, TableWriter,
};

/// How often a table reports `Progress::Rows`.
const PROGRESS_EVERY: u64 = 1 << 16;

pub struct Out<'a> {
    pub dir: PathBuf,
    pub format: FileFormat,
    pub seed: u64,
    pub dirty_rate: f64,
    gt: BufWriter<File>,
    /// Ground-truth lines per rule (A01 …, dirty:*, duplicate, malformed).
    pub truth_counts: BTreeMap<String, usize>,
    progress: &'a mut dyn FnMut(Progress),
    pub total_tables: usize,
    next_index: usize,
    pub manifests: Vec<TableManifest>,
}

impl<'a> Out<'a> {
    pub fn new(
        dir: PathBuf,
        format: FileFormat,
        seed: u64,
        dirty_rate: f64,
        total_tables: usize,
        progress: &'a mut dyn FnMut(Progress),
    ) -> Result<Out<'a>> {
        let path = dir.join(zhiyun_batch::GROUND_TRUTH_FILE);
        let gt = BufWriter::new(
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        Ok(Out {
            dir,
            format,
            seed,
            dirty_rate,
            gt,
            truth_counts: BTreeMap::new(),
            progress,
            total_tables,
            next_index: 0,
            manifests: Vec::new(),
        })
    }

    /// Records one injected anomaly or dirty row.
    pub fn truth(&mut self, rule: &str, table: &str, key: &str, detail: &str) -> Result<()> {
        let line = serde_json::to_string(&GroundTruth {
            rule: rule.to_owned(),
            table: table.to_owned(),
            key: key.to_owned(),
            detail: detail.to_owned(),
        })?;
        self.gt.write_all(line.as_bytes())?;
        self.gt.write_all(b"\n")?;
        *self.truth_counts.entry(rule.to_owned()).or_default() += 1;
        Ok(())
    }

    /// Opens a table. `small` tables (code tables, dictionaries) are always CSV.
    pub fn open(&mut self, def: Def, expected_rows: u64, small: bool) -> Result<Tab> {
        let format = if small { FileFormat::Csv } else { self.format };
        let name = def.spec.name.clone();
        let index = self.next_index;
        self.next_index += 1;
        (self.progress)(Progress::TableStarted {
            name: &name,
            index,
            total: self.total_tables,
            expected_rows,
        });
        let key_idx = def
            .spec
            .key
            .iter()
            .map(|k| {
                def.spec
                    .columns
                    .iter()
                    .position(|c| &c.name == k)
                    .with_context(|| format!("table {name}: key column {k} is not a column"))
            })
            .collect::<Result<Vec<_>>>()?;
        let columns: Vec<String> = def.spec.columns.iter().map(|c| c.name.clone()).collect();
        // A non-key text column for the binary-garbage line.
        let text_col = def
            .spec
            .columns
            .iter()
            .enumerate()
            .rev()
            .find(|(i, c)| c.ty == ColumnType::String && !key_idx.contains(i))
            .map_or(columns.len() - 1, |(i, _)| i);
        let mut rng = values::stream(self.seed, &format!("dirt/{name}"));
        // "A few malformed lines per large table": three, at positions the
        // table is sure to reach.
        let malformed = if expected_rows >= 1000 {
            let mut at: Vec<(u64, dirt::Damage)> = [
                dirt::Damage::FieldCount,
                dirt::Damage::Cut,
                dirt::Damage::Binary,
            ]
            .into_iter()
            .map(|d| (rand::Rng::random_range(&mut rng, 10..expected_rows / 2), d))
            .collect();
            at.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
            at
        } else {
            Vec::new()
        };
        let writer = TableWriter::create(&self.dir, def.spec, format)
            .with_context(|| format!("cannot create the file of table {name}"))?;
        Ok(Tab {
            w: writer,
            rec: Rec::default(),
            name,
            key_idx,
            dirt: def.dirt,
            rng,
            malformed,
            columns,
            format,
            text_col,
            emitted: 0,
            last_progress: 0,
        })
    }

    /// Finishes a table and keeps its manifest entry.
    pub fn close(&mut self, tab: Tab) -> Result<u64> {
        let name = tab.name.clone();
        let m = tab
            .w
            .finish()
            .with_context(|| format!("cannot finish the file of table {name}"))?;
        let rows = m.rows;
        (self.progress)(Progress::TableDone { name: &name, rows });
        self.manifests.push(m);
        Ok(rows)
    }

    pub fn rows_progress(&mut self, name: &str, rows: u64) {
        (self.progress)(Progress::Rows { name, rows });
    }

    pub fn finish_truth(&mut self) -> Result<()> {
        self.gt.flush()?;
        Ok(())
    }
}

/// A table definition: its manifest spec and which columns may carry dirt.
pub struct Def {
    pub spec: TableSpec,
    pub dirt: DirtPlan,
}

/// Builds a [`Def`] column by column; dirt marks apply to the last column.
pub struct DefBuilder {
    spec: TableSpec,
    dirt: DirtPlan,
    no_date_dirt: Vec<String>,
}

pub fn def(name: &str, domain: &str, description: &str) -> DefBuilder {
    DefBuilder {
        spec: TableSpec {
            name: name.to_owned(),
            domain: domain.to_owned(),
            description: description.to_owned(),
            columns: Vec::new(),
            key: Vec::new(),
            period_column: None,
            org_column: None,
        },
        dirt: DirtPlan::default(),
        no_date_dirt: Vec::new(),
    }
}

impl DefBuilder {
    pub fn col(mut self, name: &str, ty: ColumnType, description: &str) -> Self {
        self.spec.columns.push(ColumnSpec {
            name: name.to_owned(),
            ty,
            description: description.to_owned(),
        });
        self
    }
    fn last(&self) -> usize {
        self.spec.columns.len() - 1
    }
    /// The last column may be padded with spaces.
    pub fn pad(mut self) -> Self {
        let i = self.last();
        self.dirt.padded.push(i);
        self
    }
    /// The last column may be written in full-width characters.
    pub fn fw(mut self) -> Self {
        let i = self.last();
        self.dirt.fullwidth.push(i);
        self
    }
    /// The last column may carry a code from the old code set.
    pub fn old_code(mut self, map: &'static [(&'static str, &'static str)]) -> Self {
        let i = self.last();
        self.dirt.old_code.push((i, map));
        self
    }
    /// The last (date) column keeps ISO dates: other tables join on it.
    pub fn keep_date(mut self) -> Self {
        let name = self.spec.columns[self.last()].name.clone();
        self.no_date_dirt.push(name);
        self
    }
    pub fn key(mut self, cols: &[&str]) -> Self {
        self.spec.key = cols.iter().map(|c| (*c).to_owned()).collect();
        self
    }
    pub fn period(mut self, col: &str) -> Self {
        self.spec.period_column = Some(col.to_owned());
        self
    }
    pub fn org(mut self, col: &str) -> Self {
        self.spec.org_column = Some(col.to_owned());
        self
    }
    pub fn build(mut self) -> Def {
        // Every non-key date column may come in another date format.
        for (i, c) in self.spec.columns.iter().enumerate() {
            if c.ty == ColumnType::Date
                && !self.spec.key.contains(&c.name)
                && !self.no_date_dirt.contains(&c.name)
            {
                self.dirt.dates.push(i);
            }
        }
        Def {
            spec: self.spec,
            dirt: self.dirt,
        }
    }
}

/// One table being written.
pub struct Tab {
    w: TableWriter,
    /// The row being built; [`Tab::emit`] writes it.
    pub rec: Rec,
    pub name: String,
    key_idx: Vec<usize>,
    dirt: DirtPlan,
    rng: R,
    /// (row index, damage), last first.
    malformed: Vec<(u64, dirt::Damage)>,
    columns: Vec<String>,
    format: FileFormat,
    text_col: usize,
    emitted: u64,
    last_progress: u64,
}

impl Tab {
    /// The business key of the row in `rec`, key values joined by `|`.
    pub fn key(&self) -> String {
        let mut k = String::new();
        for (n, &i) in self.key_idx.iter().enumerate() {
            if n > 0 {
                k.push('|');
            }
            k.push_str(&self.rec.vals[i]);
        }
        k
    }

    /// Records the row in `rec` as an injected anomaly of `rule`.
    pub fn flag(&self, out: &mut Out, rule: &str, detail: &str) -> Result<()> {
        out.truth(rule, &self.name, &self.key(), detail)
    }

    /// Writes the row in `rec`, with dirt, duplicates and damage at the
    /// batch's rates.
    pub fn emit(&mut self, out: &mut Out) -> Result<()> {
        let n = self.rec.n;
        assert_eq!(n, self.columns.len(), "table {}: row width", self.name);
        let roll: f64 = rand::Rng::random(&mut self.rng);
        let mut duplicate = false;
        if roll < out.dirty_rate {
            let key = self.key();
            match dirt::apply(&self.dirt, &mut self.rng, &mut self.rec.vals[..n]) {
                Some((kind, col)) => {
                    let detail = format!("column {}", self.columns[col]);
                    out.truth(kind, &self.name, &key, &detail)?;
                }
                None => {
                    duplicate = true;
                    out.truth("duplicate", &self.name, &key, "the row is delivered twice")?;
                }
            }
        }
        let vals = &self.rec.vals[..n];
        self.w.write_row(vals)?;
        if duplicate {
            self.w.write_row(vals)?;
        }
        if let Some(&(at, damage)) = self.malformed.last()
            && self.emitted >= at
        {
            self.malformed.pop();
            let raw = dirt::damaged_line(damage, self.format, &self.columns, vals, self.text_col);
            self.w.write_damaged(vals, &raw)?;
            let key = self.key();
            out.truth("malformed", &self.name, &key, damage.describe())?;
        }
        self.emitted += 1;
        if self.emitted - self.last_progress >= PROGRESS_EVERY {
            self.last_progress = self.emitted;
            let rows = self.w.rows();
            out.rows_progress(&self.name, rows);
        }
        Ok(())
    }
}

/// A reusable row buffer: values are written into recycled strings.
#[derive(Default)]
pub struct Rec {
    vals: Vec<String>,
    n: usize,
}

impl Rec {
    pub fn start(&mut self) -> &mut Self {
        self.n = 0;
        self
    }
    fn slot(&mut self) -> &mut String {
        if self.n == self.vals.len() {
            self.vals.push(String::new());
        }
        let s = &mut self.vals[self.n];
        s.clear();
        self.n += 1;
        s
    }
    pub fn s(&mut self, v: &str) -> &mut Self {
        self.slot().push_str(v);
        self
    }
    pub fn fen(&mut self, fen: i64) -> &mut Self {
        // Same text as zhiyun_batch::money::fen_to_yuan, without allocating.
        let s = self.slot();
        if fen < 0 {
            s.push('-');
        }
        let abs = fen.unsigned_abs();
        let _ = write!(s, "{}.{:02}", abs / 100, abs % 100);
        self
    }
    pub fn int(&mut self, v: i64) -> &mut Self {
        let _ = write!(self.slot(), "{v}");
        self
    }
    /// A fixed-point decimal: `v` in units of 10^-scale.
    pub fn dec(&mut self, v: i64, scale: u32) -> &mut Self {
        let s = self.slot();
        if scale == 0 {
            let _ = write!(s, "{v}");
            return self;
        }
        if v < 0 {
            s.push('-');
        }
        let p = 10u64.pow(scale);
        let abs = v.unsigned_abs();
        let _ = write!(s, "{}.{:0w$}", abs / p, abs % p, w = scale as usize);
        self
    }
    pub fn day(&mut self, d: Day) -> &mut Self {
        d.write(self.slot());
        self
    }
    pub fn opt_day(&mut self, d: Option<Day>) -> &mut Self {
        let s = self.slot();
        if let Some(d) = d {
            d.write(s);
        }
        self
    }
    pub fn ts(&mut self, d: Day, secs: u32) -> &mut Self {
        d.write_ts(secs, self.slot());
        self
    }
    pub fn opt_ts(&mut self, t: Option<(Day, u32)>) -> &mut Self {
        let s = self.slot();
        if let Some((d, secs)) = t {
            d.write_ts(secs, s);
        }
        self
    }
    pub fn b(&mut self, v: bool) -> &mut Self {
        self.slot().push_str(if v { "Y" } else { "N" });
        self
    }
    /// Writes with a format: `rec.f(format_args!(...))`.
    pub fn f(&mut self, args: std::fmt::Arguments) -> &mut Self {
        let _ = self.slot().write_fmt(args);
        self
    }
}
