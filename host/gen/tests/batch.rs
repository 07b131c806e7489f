//! Generates tiny batches and checks them from the outside: files are read
//! back with `zhiyun_batch::RowReader`, never through the generator's types.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use zhiyun_batch::money::parse_yuan;
use zhiyun_batch::period::{normalize_date, period_of};
use zhiyun_batch::{Checksum, FileFormat, GroundTruth, Manifest, RowReader, Step, row_hash};
use zhiyun_gen::{BatchKind, GenOptions, Scale, generate};

fn gen_into(dir: &Path, format: FileFormat, batch: BatchKind, seed: u64) -> Manifest {
    let mut opts = GenOptions::new(dir);
    opts.scale = Scale::Tiny;
    opts.seed = seed;
    opts.format = format;
    opts.batch = batch;
    let mut started = 0;
    let s = generate(&opts, &mut |p| {
        if let zhiyun_gen::Progress::TableStarted { .. } = p {
            started += 1;
        }
    })
    .expect("generate");
    assert_eq!(started, s.tables, "one TableStarted per table");
    s.manifest
}

struct Shared {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

/// The tiny CSV batch most tests read (seed 42).
fn tiny() -> &'static Path {
    static S: OnceLock<Shared> = OnceLock::new();
    &S.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("b1");
        gen_into(&dir, FileFormat::Csv, BatchKind::First, 42);
        Shared { _tmp: tmp, dir }
    })
    .dir
}

struct Table {
    cols: Vec<String>,
    rows: Vec<Vec<String>>,
    bad: u64,
}

impl Table {
    fn c(&self, name: &str) -> usize {
        self.cols
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
}

fn read_table(dir: &Path, m: &Manifest, name: &str) -> Table {
    let t = m.table(name).unwrap_or_else(|| panic!("no table {name}"));
    let mut r = RowReader::open(&dir.join(&t.file), t.format).expect("open");
    assert_eq!(
        r.header(),
        t.column_names().as_slice(),
        "{name}: header = manifest columns"
    );
    let mut rows = Vec::new();
    let mut bad = 0;
    let mut v = Vec::new();
    loop {
        match r.next_into(&mut v).expect("read") {
            Step::Record { .. } => rows.push(v.clone()),
            Step::Bad(_) => bad += 1,
            Step::End => break,
        }
    }
    Table {
        cols: t.columns.iter().map(|c| c.name.clone()).collect(),
        rows,
        bad,
    }
}

fn truth(dir: &Path) -> Vec<GroundTruth> {
    std::fs::read_to_string(dir.join(zhiyun_batch::GROUND_TRUTH_FILE))
        .expect("ground truth")
        .lines()
        .map(|l| serde_json::from_str(l).expect("ground-truth line"))
        .collect()
}

struct Batch {
    dir: PathBuf,
    m: Manifest,
    gt: Vec<GroundTruth>,
    cache: HashMap<String, Table>,
}

impl Batch {
    fn load(dir: &Path) -> Batch {
        Batch {
            dir: dir.to_owned(),
            m: Manifest::load(dir).expect("manifest"),
            gt: truth(dir),
            cache: HashMap::new(),
        }
    }
    fn t(&mut self, name: &str) -> &Table {
        if !self.cache.contains_key(name) {
            let t = read_table(&self.dir, &self.m, name);
            self.cache.insert(name.to_owned(), t);
        }
        &self.cache[name]
    }
    /// Readable rows, one per key (duplicate deliveries dropped), values normalised.
    fn clean(&mut self, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let key: Vec<String> = self.m.table(name).expect("table").key.clone();
        let t = self.t(name);
        let ki: Vec<usize> = key.iter().map(|k| t.c(k)).collect();
        let mut seen = HashSet::new();
        let rows = t
            .rows
            .iter()
            .filter(|r| seen.insert(ki.iter().map(|&i| r[i].clone()).collect::<Vec<_>>()))
            .map(|r| r.iter().map(|v| norm(v)).collect())
            .collect();
        (t.cols.clone(), rows)
    }
    fn flagged(&self, rule: &str, table: &str) -> HashSet<String> {
        self.gt
            .iter()
            .filter(|g| g.rule == rule && g.table == table)
            .map(|g| g.key.clone())
            .collect()
    }
}

/// Undoes value dirt: trims (also U+3000), full-width → ASCII, dates → ISO.
fn norm(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| {
            if ('！'..='～').contains(&c) {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect();
    let s = s
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
        .to_owned();
    if (8..=16).contains(&s.len())
        && !s.contains(':')
        && s.starts_with("20")
        && let Some(d) = normalize_date(&s)
    {
        return d;
    }
    s
}

fn fen(v: &str) -> i64 {
    parse_yuan(v).unwrap_or_else(|| panic!("not money: {v:?}"))
}

fn col(cols: &[String], name: &str) -> usize {
    cols.iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn same_options_give_identical_bytes() {
    let a = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("b");
    // A previous batch in the directory is replaced, stale table files included.
    std::fs::create_dir_all(b.join("tables")).unwrap();
    std::fs::write(b.join("manifest.json"), "{}").unwrap();
    std::fs::write(b.join("tables/stale.csv"), "x\n").unwrap();
    gen_into(&b, FileFormat::Csv, BatchKind::First, 42);
    assert!(!b.join("tables/stale.csv").exists());
    let ma = std::fs::read(a.join("manifest.json")).unwrap();
    assert_eq!(ma, std::fs::read(b.join("manifest.json")).unwrap());
    assert_eq!(
        std::fs::read(a.join("ground_truth.jsonl")).unwrap(),
        std::fs::read(b.join("ground_truth.jsonl")).unwrap()
    );
    let m = Manifest::load(a).unwrap();
    for t in &m.tables {
        assert_eq!(
            std::fs::read(a.join(&t.file)).unwrap(),
            std::fs::read(b.join(&t.file)).unwrap(),
            "{}",
            t.name
        );
    }
    // A directory holding anything else is refused and left alone.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let mut opts = GenOptions::new(&foreign);
    opts.scale = Scale::Tiny;
    let err = generate(&opts, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("not a previous batch"), "{err}");
    assert!(foreign.join("notes.txt").exists());
}

#[test]
fn batch_sizes_and_the_drift_of_batch_two() {
    let m1 = Manifest::load(tiny()).unwrap();
    assert_eq!(m1.tables.len(), 725);
    assert_eq!(m1.batch_id, "GDP-B1-s42-tiny");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b2");
    let m2 = gen_into(&dir, FileFormat::CsvGz, BatchKind::Second, 42);
    assert_eq!(m2.tables.len(), 780);
    assert_eq!(m2.batch_id, "GDP-B2-s42-tiny");
    let new: Vec<&str> = m2
        .tables
        .iter()
        .filter(|t| m1.table(&t.name).is_none())
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(new.len(), 55);
    let mut changed = BTreeMap::new();
    for t1 in &m1.tables {
        let t2 = m2
            .table(&t1.name)
            .unwrap_or_else(|| panic!("{} missing in batch 2", t1.name));
        if t1.columns != t2.columns {
            changed.insert(t1.name.clone(), (t1.columns.clone(), t2.columns.clone()));
        }
    }
    assert_eq!(
        changed.keys().cloned().collect::<Vec<_>>(),
        [
            "fd_bank_statement",
            "hr_training_record",
            "mk_meter_reading"
        ]
    );
    let (a, b) = &changed["mk_meter_reading"];
    assert_eq!(b.len(), a.len() + 1);
    assert_eq!(b.last().unwrap().name, "reading_source");
    let (a, b) = &changed["hr_training_record"];
    assert_eq!(b.len() + 1, a.len());
    let (a, b) = &changed["fd_bank_statement"];
    let ty =
        |cols: &Vec<zhiyun_batch::ColumnSpec>| cols.iter().find(|c| c.name == "seq_no").unwrap().ty;
    assert_eq!(
        (ty(a), ty(b)),
        (
            zhiyun_batch::ColumnType::Int,
            zhiyun_batch::ColumnType::String
        )
    );
    // Core data is the same delivery: same rows.
    assert_eq!(
        m1.table("gl_voucher_line").unwrap().checksum,
        m2.table("gl_voucher_line").unwrap().checksum
    );
    // And the gzip batch reconciles with its manifest like the CSV one.
    manifest_matches_files(&dir);
}

#[test]
fn manifest_matches_the_files() {
    manifest_matches_files(tiny());
}

#[test]
fn jsonl_batch_matches_its_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let m = gen_into(&dir, FileFormat::Jsonl, BatchKind::First, 3);
    assert_eq!(
        m.table("gl_voucher_line").unwrap().format,
        FileFormat::Jsonl
    );
    assert_eq!(
        m.table("code_currency").unwrap().format,
        FileFormat::Csv,
        "code tables are always CSV"
    );
    manifest_matches_files(&dir);
}

/// Rows, checksum and money sums of every table equal what its file holds.
/// A malformed line cannot be read; it is a second delivery of a row that is
/// also in the file intact, so the intact copy stands in for it.
fn manifest_matches_files(dir: &Path) {
    let m = Manifest::load(dir).unwrap();
    let gt = truth(dir);
    let mut malformed: HashMap<&str, Vec<&str>> = HashMap::new();
    for g in &gt {
        if g.rule == "malformed" {
            malformed
                .entry(g.table.as_str())
                .or_default()
                .push(g.key.as_str());
        }
    }
    for tm in &m.tables {
        let t = read_table(dir, &m, &tm.name);
        let damaged = malformed.get(tm.name.as_str()).cloned().unwrap_or_default();
        assert_eq!(
            t.bad,
            damaged.len() as u64,
            "{}: unreadable lines = malformed ground truth",
            tm.name
        );
        let ki: Vec<usize> = tm.key.iter().map(|k| t.c(k)).collect();
        let key_of = |r: &Vec<String>| {
            ki.iter()
                .map(|&i| r[i].as_str())
                .collect::<Vec<_>>()
                .join("|")
        };
        let mut records: Vec<&Vec<String>> = t.rows.iter().collect();
        for k in &damaged {
            let copy = t
                .rows
                .iter()
                .find(|r| key_of(r) == *k)
                .unwrap_or_else(|| panic!("{}: no intact copy of {k}", tm.name));
            records.push(copy);
        }
        assert_eq!(records.len() as u64, tm.rows, "{}: rows", tm.name);
        let mut sum = Checksum::default();
        for r in &records {
            sum.add(row_hash(r));
        }
        assert_eq!(sum.hex(), tm.checksum, "{}: checksum", tm.name);
        let pi = tm.period_column.as_ref().map(|c| t.c(c));
        let oi = tm.org_column.as_ref().map(|c| t.c(c));
        let mut sums: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for (ci, c) in tm.columns.iter().enumerate() {
            if c.ty != zhiyun_batch::ColumnType::Money {
                continue;
            }
            for r in &records {
                let fen = parse_yuan(&r[ci]).unwrap_or_else(|| {
                    panic!("{}.{}: money {:?} unreadable", tm.name, c.name, r[ci])
                });
                let period = pi.and_then(|i| period_of(&r[i])).unwrap_or_default();
                let org = oi.map(|i| r[i].trim().to_owned()).unwrap_or_default();
                *sums.entry((c.name.clone(), period, org)).or_default() += fen;
            }
        }
        let listed: BTreeMap<(String, String, String), i64> = tm
            .money_sums
            .iter()
            .map(|s| ((s.column.clone(), s.period.clone(), s.org.clone()), s.fen))
            .collect();
        assert_eq!(sums, listed, "{}: money sums", tm.name);
    }
}

#[test]
fn ground_truth_points_at_real_rows_and_rates_are_as_configured() {
    let mut b = Batch::load(tiny());
    let gt = b.gt.clone();
    let names: Vec<String> = b.m.tables.iter().map(|t| t.name.clone()).collect();
    let mut by_table: BTreeMap<&str, Vec<&GroundTruth>> = BTreeMap::new();
    for g in &gt {
        by_table.entry(g.table.as_str()).or_default().push(g);
    }
    let mut total_rows = 0u64;
    for name in &names {
        let tm = b.m.table(name).unwrap().clone();
        total_rows += tm.rows;
        let t = b.t(name);
        let ki: Vec<usize> = tm.key.iter().map(|k| t.c(k)).collect();
        let mut count: HashMap<String, Vec<&Vec<String>>> = HashMap::new();
        for r in &t.rows {
            count
                .entry(
                    ki.iter()
                        .map(|&i| r[i].as_str())
                        .collect::<Vec<_>>()
                        .join("|"),
                )
                .or_default()
                .push(r);
        }
        let dup: HashSet<&str> = by_table
            .get(name.as_str())
            .into_iter()
            .flatten()
            .filter(|g| g.rule == "duplicate")
            .map(|g| g.key.as_str())
            .collect();
        for (k, rows) in &count {
            if rows.len() > 1 {
                assert!(
                    dup.contains(k.as_str()),
                    "{name}: key {k} repeats but is not a recorded duplicate"
                );
            }
        }
        for g in by_table.get(name.as_str()).into_iter().flatten() {
            let rows = count.get(&g.key).unwrap_or_else(|| {
                panic!(
                    "{name}: ground truth {} key {} not in the file",
                    g.rule, g.key
                )
            });
            let column = g.detail.strip_prefix("column ").map(|c| t.c(c));
            let v = column.map(|c| rows[0][c].as_str()).unwrap_or("");
            match g.rule.as_str() {
                "duplicate" => assert!(rows.len() >= 2, "{name} {}", g.key),
                "dirty:padded" => assert!(
                    v != v.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}'),
                    "{name}: {v:?}"
                ),
                "dirty:fullwidth" => assert!(
                    v.chars().any(|c| ('！'..='～').contains(&c)),
                    "{name}: {v:?}"
                ),
                "dirty:date_format" => assert!(
                    normalize_date(v).is_some() && normalize_date(v).as_deref() != Some(v),
                    "{name}: {v:?}"
                ),
                "dirty:old_code" => assert!(
                    ["01", "02", "03", "04", "ICBC", "ABC", "BOC", "CCB", "BCM"].contains(&v),
                    "{name}: {v:?}"
                ),
                _ => {}
            }
        }
    }
    let dirty = gt
        .iter()
        .filter(|g| g.rule.starts_with("dirty:") || g.rule == "duplicate")
        .count() as f64;
    let rate = dirty / total_rows as f64;
    assert!(
        (0.0025..0.0075).contains(&rate),
        "dirty rate {rate} for a configured 0.005"
    );
    let malformed = gt.iter().filter(|g| g.rule == "malformed").count();
    assert!(malformed >= 9, "malformed lines: {malformed}");
    for rule in [
        "A01", "A02", "A03", "A04", "A06", "A09", "A12", "A13", "A15", "A18", "A20",
    ] {
        assert!(gt.iter().any(|g| g.rule == rule), "no {rule} injected");
    }
    // Per-row rules roll at the configured rate.
    let a01 = gt.iter().filter(|g| g.rule == "A01").count() as f64
        / b.m.table("bank_balance_daily").unwrap().rows as f64;
    assert!((0.005..0.02).contains(&a01), "A01 rate {a01}");
    // Sensitive values are there to be found, also in innocuous columns.
    let (cols, emps) = b.clean("dim_employee");
    let id = col(&cols, "id_card_no");
    assert!(
        emps.iter()
            .all(|r| r[id].len() == 18 && zhiyun_gen::values::id_card_is_valid(&r[id]))
    );
    let (cols, custs) = b.clean("dim_customer");
    let contact = col(&cols, "contact");
    assert!(custs.iter().any(|r| {
        r[contact]
            .split(' ')
            .any(|w| w.len() == 11 && w.starts_with('1'))
    }));
}

#[test]
fn vouchers_and_balances_are_consistent() {
    let mut b = Batch::load(tiny());
    let a20 = b.flagged("A20", "gl_voucher");
    let (vc, vouchers) = b.clean("gl_voucher");
    let (lc, lines) = b.clean("gl_voucher_line");
    let (li_v, li_dr, li_cr, li_acct, li_org, li_p) = (
        col(&lc, "voucher_id"),
        col(&lc, "dr"),
        col(&lc, "cr"),
        col(&lc, "acct_code"),
        col(&lc, "org_id"),
        col(&lc, "period"),
    );
    let mut per_voucher: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut per_acct: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    let mut touched_by_a20 = HashSet::new();
    for l in &lines {
        let (dr, cr) = (fen(&l[li_dr]), fen(&l[li_cr]));
        assert!(
            (dr == 0) != (cr == 0) && dr >= 0 && cr >= 0,
            "line {l:?} must have one non-zero side"
        );
        let e = per_voucher.entry(l[li_v].as_str()).or_default();
        e.0 += dr;
        e.1 += cr;
        let k = (l[li_org].clone(), l[li_p].clone(), l[li_acct].clone());
        if a20.contains(&l[li_v]) {
            touched_by_a20.insert(k.clone());
        }
        let e = per_acct.entry(k).or_default();
        e.0 += dr;
        e.1 += cr;
    }
    let (vid, vdr, vcr) = (
        col(&vc, "voucher_id"),
        col(&vc, "total_dr"),
        col(&vc, "total_cr"),
    );
    assert_eq!(vouchers.len(), per_voucher.len());
    for v in &vouchers {
        let (dr, cr) = per_voucher[v[vid].as_str()];
        assert_eq!(
            (fen(&v[vdr]), fen(&v[vcr])),
            (dr, cr),
            "voucher totals = its lines"
        );
        assert_eq!(
            dr == cr,
            !a20.contains(&v[vid]),
            "voucher {} balances unless it is an A20",
            v[vid]
        );
    }

    let (ac, accts) = b.clean("dim_account");
    let class: HashMap<String, String> = accts
        .iter()
        .map(|a| {
            (
                a[col(&ac, "acct_code")].clone(),
                a[col(&ac, "class")].clone(),
            )
        })
        .collect();
    let (bc, bal) = b.clean("gl_balance");
    let g = |r: &Vec<String>, n: &str| fen(&r[col(&bc, n)]);
    let (bo, bp, ba, bx) = (
        col(&bc, "org_id"),
        col(&bc, "period"),
        col(&bc, "acct_code"),
        col(&bc, "aux_key"),
    );
    let mut close: HashMap<(String, String, String, String), i64> = HashMap::new();
    let mut per_from_bal: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    let mut tb: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    let mut classes: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for r in &bal {
        let open = g(r, "open_dr") - g(r, "open_cr");
        let c = g(r, "close_dr") - g(r, "close_cr");
        assert_eq!(
            c,
            open + g(r, "per_dr") - g(r, "per_cr"),
            "close = open + per: {r:?}"
        );
        close.insert(
            (r[bo].clone(), r[bp].clone(), r[ba].clone(), r[bx].clone()),
            c,
        );
        let e = per_from_bal
            .entry((r[bo].clone(), r[bp].clone(), r[ba].clone()))
            .or_default();
        e.0 += g(r, "per_dr");
        e.1 += g(r, "per_cr");
        let e = tb.entry((r[bo].clone(), r[bp].clone())).or_default();
        e.0 += g(r, "close_dr");
        e.1 += g(r, "close_cr");
        *classes
            .entry((r[bo].clone(), r[bp].clone(), class[&r[ba]].clone()))
            .or_default() += c;
    }
    for ((org, p), (dr, cr)) in &tb {
        assert_eq!(dr, cr, "trial balance {org} {p}");
        let c = |k: &str| {
            classes
                .get(&(org.clone(), p.clone(), k.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        // 资产 = 负债 + 权益 (+ this year's P&L not yet closed).
        assert_eq!(
            c("资产"),
            -(c("负债") + c("权益") + c("损益")),
            "balance sheet {org} {p}"
        );
        if p == "202512" {
            assert_eq!(c("损益"), 0, "P&L closed at year end {org}");
            assert_eq!(
                close
                    .get(&(org.clone(), p.clone(), "4103".into(), String::new()))
                    .copied()
                    .unwrap_or(0),
                0
            );
        }
    }
    // Next open = this close.
    for r in &bal {
        if r[bp] == "202501" {
            continue;
        }
        let prev = {
            let p: u32 = r[bp].parse().unwrap();
            if p % 100 == 1 { p - 89 } else { p - 1 }
        };
        let before = close
            .get(&(
                r[bo].clone(),
                prev.to_string(),
                r[ba].clone(),
                r[bx].clone(),
            ))
            .copied()
            .unwrap_or(0);
        assert_eq!(
            g(r, "open_dr") - g(r, "open_cr"),
            before,
            "open = previous close: {r:?}"
        );
    }
    // Period activity = the posted lines (except where an A20 line carries an error).
    for (k, v) in &per_acct {
        if !touched_by_a20.contains(k) {
            assert_eq!(
                per_from_bal.get(k),
                Some(v),
                "gl_balance per = Σ lines for {k:?}"
            );
        }
    }
    assert_eq!(
        per_acct.len(),
        per_from_bal
            .iter()
            .filter(|(_, v)| v.0 != 0 || v.1 != 0)
            .count()
    );
    // 6001 is only credited, except by the year-end closing.
    let src: HashMap<&str, &str> = vouchers
        .iter()
        .map(|v| (v[vid].as_str(), v[col(&vc, "source_system")].as_str()))
        .collect();
    for l in &lines {
        if l[li_acct] == "6001" && fen(&l[li_dr]) != 0 {
            assert_eq!(
                src[l[li_v].as_str()],
                "总账",
                "6001 debited outside the closing: {l:?}"
            );
        }
    }
}

/// Close of (org, period, acct) over all aux keys, as a net debit.
fn closes(b: &mut Batch) -> HashMap<(String, String, String), i64> {
    let (bc, bal) = b.clean("gl_balance");
    let mut out = HashMap::new();
    for r in &bal {
        *out.entry((
            r[col(&bc, "org_id")].clone(),
            r[col(&bc, "period")].clone(),
            r[col(&bc, "acct_code")].clone(),
        ))
        .or_default() += fen(&r[col(&bc, "close_dr")]) - fen(&r[col(&bc, "close_cr")]);
    }
    out
}

fn month_end(p: &str) -> String {
    let (y, m): (i32, u32) = (p[..4].parse().unwrap(), p[4..].parse().unwrap());
    let d = [
        31,
        if y % 4 == 0 { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][m as usize - 1];
    format!("{}-{}-{d}", &p[..4], &p[4..])
}

const PERIODS: [&str; 22] = [
    "202501", "202502", "202503", "202504", "202505", "202506", "202507", "202508", "202509",
    "202510", "202511", "202512", "202601", "202602", "202603", "202604", "202605", "202606",
    "202607", "202608", "202609", "202610",
];

#[test]
fn subledgers_tie_to_the_ledger() {
    let mut b = Batch::load(tiny());
    let gl = closes(&mut b);
    let glv = |org: &str, p: &str, a: &str| {
        gl.get(&(org.to_owned(), p.to_owned(), a.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let (oc, orgs) = b.clean("dim_org");
    let parent: HashMap<String, String> = orgs
        .iter()
        .map(|o| (o[0].clone(), o[col(&oc, "parent_id")].clone()))
        .collect();
    let entity = |org: &str| {
        if org.len() == 6 {
            parent[org].clone()
        } else {
            org[..4].to_owned()
        }
    };

    // 112201 = Σ bills issued − Σ payments arrived, every month end.
    let (bc, bills) = b.clean("elec_bill");
    let (pc, pays) = b.clean("elec_payment");
    for p in PERIODS {
        let end = month_end(p);
        let mut ar: BTreeMap<String, i64> = BTreeMap::new();
        for r in &bills {
            if r[col(&bc, "issue_date")] <= end {
                *ar.entry(entity(&r[col(&bc, "org_id")])).or_default() +=
                    fen(&r[col(&bc, "amount")]);
            }
        }
        for r in &pays {
            if r[col(&pc, "arrive_date")] <= end {
                *ar.entry(entity(&r[col(&pc, "org_id")])).or_default() -=
                    fen(&r[col(&pc, "amount")]);
            }
        }
        for (org, v) in &ar {
            assert_eq!(*v, glv(org, p, "112201"), "112201 {org} {p}");
        }
    }
    // Bill amount = Σ components.
    for r in &bills {
        let c = |n: &str| fen(&r[col(&bc, n)]);
        assert_eq!(
            c("amount"),
            c("energy_chg") + c("basic_chg") + c("pf_adj") + c("fund_surcharge")
        );
    }

    // 2202 by supplier = Σ unpaid AP invoices; paid ones were paid by payment rows.
    let (ic, invs) = b.clean("ap_invoice");
    let (yc, payments) = b.clean("payment");
    let pay_of: HashMap<&str, &Vec<String>> = payments
        .iter()
        .map(|p| (p[col(&yc, "source_doc_id")].as_str(), p))
        .collect();
    let mut open_ap: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &invs {
        let gross = fen(&r[col(&ic, "net")]) + fen(&r[col(&ic, "tax")]);
        let paid = fen(&r[col(&ic, "paid_amt")]);
        *open_ap
            .entry((
                r[col(&ic, "org_id")].clone(),
                r[col(&ic, "supp_id")].clone(),
            ))
            .or_default() += gross - paid;
        if paid != 0 {
            assert_eq!(paid, gross);
            let p = pay_of
                .get(r[col(&ic, "inv_id")].as_str())
                .expect("a paid invoice has a payment");
            assert_eq!(fen(&p[col(&yc, "amount")]), gross);
            assert!(
                p[col(&yc, "pay_date")] >= r[col(&ic, "booked_date")]
                    && p[col(&yc, "pay_date")] <= r[col(&ic, "due_date")]
            );
        }
    }
    let (gc, bal) = b.clean("gl_balance");
    for ((org, supp), v) in &open_ap {
        let row = bal.iter().find(|r| {
            r[0] == *org
                && r[1] == "202610"
                && r[2] == "2202"
                && r[col(&gc, "aux_key")] == format!("S:{supp}")
        });
        let gl = row.map_or(0, |r| {
            fen(&r[col(&gc, "close_cr")]) - fen(&r[col(&gc, "close_dr")])
        });
        assert_eq!(*v, gl, "2202 {org} {supp}");
    }

    // Payments never exceed the contract.
    let (cc, contracts) = b.clean("contract");
    let mut invoiced: HashMap<&str, i64> = HashMap::new();
    for r in &invs {
        *invoiced
            .entry(r[col(&ic, "contract_id")].as_str())
            .or_default() += fen(&r[col(&ic, "net")]) + fen(&r[col(&ic, "tax")]);
    }
    for c in &contracts {
        assert!(
            invoiced.get(c[0].as_str()).copied().unwrap_or(0) <= fen(&c[col(&cc, "amount")]),
            "contract {}",
            c[0]
        );
    }

    // 1601 / 1602 = the cards; per period 1602 ≥ the depreciation rows' accum.
    let (fc, cards) = b.clean("fixed_asset");
    let mut fa: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &cards {
        let e = fa.entry(r[col(&fc, "org_id")].clone()).or_default();
        e.0 += fen(&r[col(&fc, "orig_value")]);
        e.1 += fen(&r[col(&fc, "accum_depr")]);
    }
    for (org, (orig, accum)) in &fa {
        assert_eq!(*orig, glv(org, "202610", "1601"), "1601 {org}");
        assert_eq!(-*accum, glv(org, "202610", "1602"), "1602 {org}");
    }

    // 1604 by project = cost booked − transferred to assets; capitalised projects are empty.
    let (jc, projects) = b.clean("dim_project");
    for pr in &projects {
        let id = &pr[0];
        let row = bal.iter().find(|r| {
            r[1] == "202610" && r[2] == "1604" && r[col(&gc, "aux_key")] == format!("P:{id}")
        });
        let cip = row.map_or(0, |r| {
            fen(&r[col(&gc, "close_dr")]) - fen(&r[col(&gc, "close_cr")])
        });
        let transferred: i64 = cards
            .iter()
            .filter(|c| &c[col(&fc, "proj_id")] == id)
            .map(|c| fen(&c[col(&fc, "orig_value")]))
            .sum();
        let (mc, moves) = b.clean("material_move");
        let issued: i64 = moves
            .iter()
            .filter(|m| &m[col(&mc, "proj_id")] == id && m[col(&mc, "move_type")] == "领用")
            .map(|m| fen(&m[col(&mc, "amount")]))
            .sum();
        let proj_contracts: HashSet<&str> = contracts
            .iter()
            .filter(|c| &c[col(&cc, "proj_id")] == id && c[col(&cc, "type")] != "物资")
            .map(|c| c[0].as_str())
            .collect();
        let services: i64 = invs
            .iter()
            .filter(|i| proj_contracts.contains(i[col(&ic, "contract_id")].as_str()))
            .map(|i| fen(&i[col(&ic, "net")]))
            .sum();
        assert_eq!(cip, issued + services - transferred, "1604 {id}");
        if !pr[col(&jc, "capitalize_date")].is_empty() {
            assert_eq!(cip, 0, "capitalised project {id} still has CIP");
        }
    }

    // 1002 = Σ bank book balances at every month end; bank − book = unreconciled;
    // available ≥ reserve except A01.
    let a01 = b.flagged("A01", "bank_balance_daily");
    let (ac, accounts) = b.clean("bank_account");
    let reserve: HashMap<&str, i64> = accounts
        .iter()
        .map(|a| (a[0].as_str(), fen(&a[col(&ac, "safety_reserve")])))
        .collect();
    let (dc, daily) = b.clean("bank_balance_daily");
    let mut book: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &daily {
        let c = |n: &str| fen(&r[col(&dc, n)]);
        assert_eq!(c("bank_bal") - c("book_bal"), c("unreconciled"));
        let key = format!("{}|{}", r[0], r[1]);
        assert_eq!(
            c("available") < reserve[r[0].as_str()],
            a01.contains(&key),
            "A01 only where injected: {key}"
        );
        let p = r[1].replace('-', "")[..6].to_owned();
        if r[1] == month_end(&p) {
            *book.entry((r[col(&dc, "org_id")].clone(), p)).or_default() += c("book_bal");
        }
    }
    for ((org, p), v) in &book {
        assert_eq!(*v, glv(org, p, "1002"), "1002 {org} {p}");
    }

    // 1403 / 1605 = inventory of the YC / GC warehouses.
    let (nc, inv) = b.clean("inventory_balance");
    let mut stock: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for r in &inv {
        let acct = if r[col(&nc, "warehouse")].ends_with("GC") {
            "1605"
        } else {
            "1403"
        };
        let open = fen(&r[col(&nc, "open_amt")]);
        assert_eq!(
            fen(&r[col(&nc, "close_amt")]),
            open + fen(&r[col(&nc, "in_amt")]) - fen(&r[col(&nc, "out_amt")])
        );
        *stock
            .entry((r[col(&nc, "org_id")].clone(), r[0].clone(), acct.to_owned()))
            .or_default() += fen(&r[col(&nc, "close_amt")]);
    }
    for ((org, p, acct), v) in &stock {
        assert_eq!(*v, glv(org, p, acct), "{acct} {org} {p}");
    }

    // Payroll gross = 2211 credits of the period.
    let (rc, payroll) = b.clean("payroll");
    let mut gross: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &payroll {
        *gross
            .entry((r[col(&rc, "org_id")].clone(), r[1].clone()))
            .or_default() += fen(&r[col(&rc, "gross")]);
    }
    for ((org, p), v) in &gross {
        let row = bal
            .iter()
            .find(|r| &r[0] == org && &r[1] == p && r[2] == "2211")
            .expect("2211 row");
        assert_eq!(*v, fen(&row[col(&gc, "per_cr")]), "2211 {org} {p}");
    }
}

#[test]
fn document_chains_and_rules_hold_on_clean_rows() {
    let mut b = Batch::load(tiny());
    let (vc, vouchers) = b.clean("gl_voucher");
    let vdate: HashMap<&str, &str> = vouchers
        .iter()
        .map(|v| (v[0].as_str(), v[col(&vc, "date")].as_str()))
        .collect();
    let (yc, payments) = b.clean("payment");
    let pay: HashMap<&str, &Vec<String>> = payments.iter().map(|p| (p[0].as_str(), p)).collect();
    let (wc, wos) = b.clean("shared_work_order");
    let (ec, claims) = b.clean("expense_claim");
    let mut checked = 0;
    for c in &claims {
        let g = |n: &str| c[col(&ec, n)].as_str();
        assert!(g("submit_date") <= g("approve_date"));
        assert!(
            fen(g("amount")) <= fen(g("std_amount")),
            "over standard: {c:?}"
        );
        if g("voucher_id").is_empty() {
            continue;
        }
        let vd = vdate[g("voucher_id")];
        assert!(g("approve_date") <= vd);
        for w in wos.iter().filter(|w| {
            w[col(&wc, "source_doc_id")] == g("claim_id") && w[col(&wc, "result")] == "通过"
        }) {
            let (rcv, done) = (&w[col(&wc, "receive_time")], &w[col(&wc, "done_time")]);
            assert!(
                rcv.as_str() >= g("approve_date") && rcv <= done && &done[..10] <= vd,
                "{w:?}"
            );
        }
        if !g("pay_id").is_empty() {
            let p = pay[g("pay_id")];
            assert_eq!(p[col(&yc, "source_doc_id")], g("claim_id"));
            assert_eq!(fen(&p[col(&yc, "amount")]), fen(g("amount")));
            assert!(vd <= p[col(&yc, "pay_date")].as_str());
            checked += 1;
        }
    }
    assert!(checked > 50, "paid claims checked: {checked}");

    // Payment rules: private ≥ 5万 only A03, no budget item only A04.
    let (a03, a04) = (b.flagged("A03", "payment"), b.flagged("A04", "payment"));
    for p in &payments {
        let private_large =
            p[col(&yc, "payee_type")] == "对私" && fen(&p[col(&yc, "amount")]) >= 5_000_000;
        assert_eq!(private_large, a03.contains(&p[0]), "A03 {p:?}");
        assert_eq!(
            p[col(&yc, "budget_item")].is_empty(),
            a04.contains(&p[0]),
            "A04 {p:?}"
        );
    }
    // Electricity-fee accounts pay out only 上划 and fees (A02 aside).
    let a02 = b.flagged("A02", "payment");
    let (ac, accounts) = b.clean("bank_account");
    let revenue: HashSet<&str> = accounts
        .iter()
        .filter(|a| a[col(&ac, "type")] == "电费收入户")
        .map(|a| a[0].as_str())
        .collect();
    let doc: HashMap<&str, &str> = vouchers
        .iter()
        .map(|v| (v[0].as_str(), v[col(&vc, "source_doc_id")].as_str()))
        .collect();
    let (tc, txns) = b.clean("bank_txn");
    for t in &txns {
        if revenue.contains(t[col(&tc, "acct_no")].as_str()) && t[col(&tc, "dir")] == "付" {
            let purpose = t[col(&tc, "purpose")].as_str();
            let allowed = matches!(purpose, "上划" | "手续费" | "退费");
            assert_eq!(
                !allowed,
                a02.contains(doc[t[col(&tc, "voucher_id")].as_str()]),
                "{t:?}"
            );
        }
    }
    // Timestamps of bank transactions are in order per account and balance_after runs.
    let mut last: HashMap<&str, (&str, i64)> = HashMap::new();
    for t in &txns {
        let a = t[col(&tc, "acct_no")].as_str();
        let amt = fen(&t[col(&tc, "amount")]) * if t[col(&tc, "dir")] == "收" { 1 } else { -1 };
        if let Some((time, bal)) = last.get(a) {
            assert!(*time <= t[col(&tc, "txn_time")].as_str());
            assert_eq!(bal + amt, fen(&t[col(&tc, "balance_after")]));
        }
        last.insert(
            a,
            (
                t[col(&tc, "txn_time")].as_str(),
                fen(&t[col(&tc, "balance_after")]),
            ),
        );
    }
    // AP: overdue and unpaid only A15; abnormal input invoices only A18.
    let a15 = b.flagged("A15", "ap_invoice");
    let (ic, invs) = b.clean("ap_invoice");
    for i in &invs {
        let overdue =
            i[col(&ic, "due_date")].as_str() < "2026-10-31" && fen(&i[col(&ic, "paid_amt")]) == 0;
        assert_eq!(overdue, a15.contains(&i[0]), "A15 {i:?}");
    }
    let a18 = b.flagged("A18", "tax_invoice");
    let (xc, tax) = b.clean("tax_invoice");
    for t in &tax {
        assert_eq!(
            t[col(&xc, "status")] != "正常",
            a18.contains(&t[0]),
            "A18 {t:?}"
        );
    }
    // Commissioned more than ~3 months ago and not capitalised: only A13.
    let a13 = b.flagged("A13", "dim_project");
    let (jc, projects) = b.clean("dim_project");
    for p in &projects {
        let c = &p[col(&jc, "actual_commission_date")];
        let stale =
            !c.is_empty() && c.as_str() < "2026-07-23" && p[col(&jc, "capitalize_date")].is_empty();
        assert_eq!(stale, a13.contains(&p[0]), "A13 {p:?}");
    }
    // Cash plan within 5 % except A06.
    let a06 = b.flagged("A06", "cash_plan_daily");
    let (cc, plans) = b.clean("cash_plan_daily");
    for r in &plans {
        let f = |n: &str| fen(&r[col(&cc, n)]);
        let off = |plan: i64, actual: i64| plan != 0 && (actual - plan).abs() * 100 > plan * 5;
        let key = format!("{}|{}|{}", r[0], r[1], r[2]);
        assert_eq!(
            off(f("plan_in"), f("actual_in")) || off(f("plan_out"), f("actual_out")),
            a06.contains(&key),
            "A06 {key}"
        );
    }
    // A09: large arrears only where injected.
    let a09 = b.flagged("A09", "elec_bill");
    let (bc, bills) = b.clean("elec_bill");
    let (pc, pays) = b.clean("elec_payment");
    let mut paid: HashMap<&str, i64> = HashMap::new();
    for p in &pays {
        *paid.entry(p[col(&pc, "bill_id")].as_str()).or_default() += fen(&p[col(&pc, "amount")]);
    }
    for r in &bills {
        let open = fen(&r[col(&bc, "amount")]) - paid.get(r[0].as_str()).copied().unwrap_or(0);
        let overdue = r[col(&bc, "due_date")].as_str() < "2026-10-01";
        assert_eq!(
            open >= 10_000_000 && overdue,
            a09.contains(&r[0]),
            "A09 {r:?}"
        );
    }
    // A12: an invoice number on two claims only where injected.
    let a12 = b.flagged("A12", "expense_claim_line");
    let (lc, lines) = b.clean("expense_claim_line");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for l in &lines {
        *seen.entry(l[col(&lc, "invoice_no")].as_str()).or_default() += 1;
    }
    let dup_lines: BTreeSet<String> = lines
        .iter()
        .filter(|l| seen[l[col(&lc, "invoice_no")].as_str()] > 1)
        .map(|l| format!("{}|{}", l[0], l[1]))
        .collect();
    for k in &a12 {
        assert!(dup_lines.contains(k), "A12 {k}");
    }
    assert!(
        dup_lines.len() <= 2 * a12.len(),
        "duplicates beyond A12: {dup_lines:?}"
    );
}

#[test]
fn scales_parse() {
    use std::str::FromStr;
    assert_eq!(Scale::from_str("tiny"), Ok(Scale::Tiny));
    assert_eq!(Scale::from_str("demo"), Ok(Scale::Demo));
    assert_eq!(Scale::from_str("10m"), Ok(Scale::JournalLines(10_000_000)));
    assert_eq!(Scale::from_str("300k"), Ok(Scale::JournalLines(300_000)));
    assert_eq!(
        Scale::from_str("10000000"),
        Ok(Scale::JournalLines(10_000_000))
    );
    assert!(Scale::from_str("lots").is_err());
}

/// `cargo test --release -p zhiyun-gen -- --ignored --nocapture throughput`
#[test]
#[ignore]
fn throughput() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = GenOptions::new(tmp.path().join("big"));
    opts.scale = Scale::JournalLines(1_000_000);
    let s = generate(&opts, &mut |_| {}).unwrap();
    let lines = s.manifest.table("gl_voucher_line").unwrap().rows;
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{lines} journal lines, {} rows in {secs:.2} s: {:.0} journal lines/s, {:.0} rows/s",
        s.rows,
        lines as f64 / secs,
        s.rows as f64 / secs
    );
}
