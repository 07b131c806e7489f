//! The data backflow end to end, through the real binary: `zhiyun gen`
//! writes a batch, `zhiyun ingest` loads, reconciles and reports it — on
//! SQLite and PostgreSQL, twice (idempotent), killed mid-load and resumed,
//! and a second batch whose schema drifted.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// (rows, distinct lines) of a table's ODS copy; (0, 0) before it exists.
macro_rules! counts_on {
    ($pool:expr, $table:expr) => {
        sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), count(DISTINCT _line) FROM ods_{}",
            $table
        )))
        .fetch_one($pool)
        .await
        .unwrap_or((0, 0))
    };
}

fn zhiyun() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhiyun"));
    cmd.env("ZHIYUN_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("zhiyun runs");
    if !out.status.success() {
        eprintln!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn generate(out: &Path, scale: &str, batch: u8) {
    let o = run(zhiyun()
        .args([
            "gen",
            "--scale",
            scale,
            "--seed",
            "7",
            "--batch",
            &batch.to_string(),
            "--out",
        ])
        .arg(out));
    assert!(o.status.success(), "gen failed");
}

/// `zhiyun ingest --json` with a warehouse URL; returns (exit code, report).
fn ingest(batch: &Path, warehouse: &str, extra: &[&str]) -> (i32, Value) {
    let o = run(zhiyun()
        .arg("ingest")
        .arg(batch)
        .args(["--warehouse", warehouse, "--json", "--rules"])
        .arg(common::workspace().join("plugins/cleaning"))
        .args(extra));
    let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), report)
}

fn manifest(batch: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(batch.join("manifest.json")).unwrap()).unwrap()
}

/// Lines the generator damaged on purpose, per table (ground truth).
fn malformed_per_table(batch: &Path) -> std::collections::BTreeMap<String, u64> {
    ground_truth_per_table(batch, "malformed")
}

/// Ground-truth entries of one kind (`malformed`, `duplicate`, …) per table.
fn ground_truth_per_table(batch: &Path, rule: &str) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let text = std::fs::read_to_string(batch.join("ground_truth.jsonl")).unwrap();
    for line in text.lines() {
        let g: Value = serde_json::from_str(line).unwrap();
        if g["rule"] == rule {
            *out.entry(g["table"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    out
}

/// The whole first batch: every table loads, received = loaded +
/// quarantined, the quarantined lines are exactly the damaged ones, and
/// every other table reconciles with its manifest. A second run changes
/// nothing.
fn full_batch_round_trip(warehouse: &str) {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("b1");
    generate(&batch, "tiny", 1);
    let m = manifest(&batch);
    let tables = m["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 725);
    let malformed = malformed_per_table(&batch);
    assert!(
        !malformed.is_empty(),
        "the generator damages some lines on purpose"
    );

    let (code, report) = ingest(&batch, warehouse, &[]);
    assert_eq!(code, 0, "{report}");
    let loads = report["load"]["tables"].as_array().unwrap();
    assert_eq!(loads.len(), 725);
    for t in loads {
        let name = t["table"].as_str().unwrap();
        assert_eq!(t["status"], "loaded", "{t}");
        let (received, loaded, quarantined) = (
            t["rows_received"].as_u64().unwrap(),
            t["rows_loaded"].as_u64().unwrap(),
            t["rows_quarantined"].as_u64().unwrap(),
        );
        assert_eq!(received, loaded + quarantined, "{name}");
        assert_eq!(
            quarantined,
            malformed.get(name).copied().unwrap_or(0),
            "{name}"
        );
        let listed = tables.iter().find(|x| x["name"] == name).unwrap()["rows"]
            .as_u64()
            .unwrap();
        assert_eq!(
            received, listed,
            "{name}: every line of the file is accounted for"
        );
    }
    for r in report["reconciliation"].as_array().unwrap() {
        let name = r["table"].as_str().unwrap();
        match malformed.get(name) {
            None => assert_eq!(r["status"], "match", "{r}"),
            Some(&n) => {
                assert_eq!(r["status"], "mismatch", "{r}");
                assert_eq!(r["missing_count"].as_u64().unwrap(), n, "{r}");
                for missing in r["missing"].as_array().unwrap() {
                    assert!(
                        missing["note"]
                            .as_str()
                            .unwrap()
                            .starts_with("quarantined: "),
                        "{r}"
                    );
                }
                assert_eq!(r["extra_count"], 0);
                assert_eq!(r["changed_count"], 0);
            }
        }
    }

    // Cleaning: every loaded row is either in DWD or quarantined, and with
    // the project's rules the only rows quarantined are the duplicate
    // deliveries the generator made (the later copy wins, the other goes).
    let duplicates = ground_truth_per_table(&batch, "duplicate");
    assert!(!duplicates.is_empty());
    let cleaned = report["clean"]["tables"].as_array().unwrap();
    assert_eq!(cleaned.len(), 725);
    for c in cleaned {
        let name = c["table"].as_str().unwrap();
        assert_eq!(c["status"], "cleaned", "{c}");
        let (rows_in, out, quarantined) = (
            c["rows_in"].as_u64().unwrap(),
            c["rows_out"].as_u64().unwrap(),
            c["rows_quarantined"].as_u64().unwrap(),
        );
        assert_eq!(rows_in, out + quarantined, "{name}");
        let loaded = loads.iter().find(|t| t["table"] == name).unwrap()["rows_loaded"]
            .as_u64()
            .unwrap();
        assert_eq!(rows_in, loaded, "{name}: cleaning reads every loaded row");
        assert_eq!(
            quarantined,
            duplicates.get(name).copied().unwrap_or(0),
            "{name}: {c}"
        );
    }

    let (code, again) = ingest(&batch, warehouse, &["--no-reconcile"]);
    assert_eq!(code, 0);
    for t in again["load"]["tables"].as_array().unwrap() {
        assert_eq!(t["status"], "already_loaded", "{t}");
    }
    let before: Vec<u64> = loads
        .iter()
        .map(|t| t["rows_loaded"].as_u64().unwrap())
        .collect();
    let after: Vec<u64> = again["load"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows_loaded"].as_u64().unwrap())
        .collect();
    assert_eq!(before, after);

    // The second batch: 780 tables, three of the first batch's drifted.
    let batch2 = dir.path().join("b2");
    generate(&batch2, "tiny", 2);
    let (code, report) = ingest(&batch2, warehouse, &["--no-reconcile"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["load"]["tables"].as_array().unwrap().len(), 780);
    let kinds: std::collections::BTreeSet<String> = report["load"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["drift"].as_array().unwrap().iter())
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["added", "missing", "retyped"] {
        assert!(kinds.contains(kind), "drift {kind} reported: {kinds:?}");
    }
    // The retyped column (int → string) keeps its integer DWD column: values
    // that are no longer integers are quarantined with the rule, not lost.
    for c in report["clean"]["tables"].as_array().unwrap() {
        let (rows_in, out, quarantined) = (
            c["rows_in"].as_u64().unwrap(),
            c["rows_out"].as_u64().unwrap(),
            c["rows_quarantined"].as_u64().unwrap(),
        );
        assert_eq!(rows_in, out + quarantined, "{c}");
    }
    let retyped = report["clean"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["table"] == "fd_bank_statement")
        .unwrap();
    assert!(
        retyped["by_rule"]["int"].as_u64().unwrap_or(0) > 0,
        "{retyped}"
    );
}

#[test]
fn a_generated_batch_loads_reconciles_and_reloads_as_a_no_op_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    full_batch_round_trip(&format!("sqlite://{}", dir.path().join("w.db").display()));
}

#[test]
fn a_generated_batch_loads_reconciles_and_reloads_as_a_no_op_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, name) = rt.block_on(common::fresh_postgres_database());
    full_batch_round_trip(&url);
    rt.block_on(common::drop_database(&name));
}

/// Kills `zhiyun ingest` with SIGKILL at several moments of a load and runs
/// it again each time; in the end the table holds exactly the file's rows,
/// each once.
fn kill_and_resume(warehouse: &str, count_rows: impl Fn(&str) -> (i64, i64)) {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("b");
    generate(&batch, "200000", 1);
    let m = manifest(&batch);
    let table = "gl_voucher_line";
    let listed = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == table)
        .unwrap()["rows"]
        .as_u64()
        .unwrap();
    let malformed = malformed_per_table(&batch).get(table).copied().unwrap_or(0);

    let mut interrupted = 0;
    let mut partial_seen = false;
    for delay_ms in [400u64, 900, 1500] {
        let mut child = zhiyun()
            .arg("ingest")
            .arg(&batch)
            .args([
                "--warehouse",
                warehouse,
                "--table",
                table,
                "--chunk-rows",
                "5000",
                "--no-reconcile",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no chance to clean up
            interrupted += 1;
        }
        child.wait().unwrap();
        let (rows, distinct_lines) = count_rows(table);
        assert_eq!(
            rows, distinct_lines,
            "no line loaded twice after a kill at {delay_ms} ms"
        );
        partial_seen |= rows > 0 && (rows as u64) < listed - malformed;
    }
    assert!(
        interrupted > 0,
        "at least one load must have been killed mid-way"
    );
    assert!(
        partial_seen,
        "a kill must have left a partly loaded table to resume"
    );
    let (code, report) = ingest(&batch, warehouse, &["--table", table]);
    assert_eq!(code, 0, "{report}");
    let t = &report["load"]["tables"][0];
    assert!(
        t["status"] == "loaded" || t["status"] == "already_loaded",
        "{t}"
    );
    let (rows, distinct_lines) = count_rows(table);
    assert_eq!(
        rows as u64,
        listed - malformed,
        "exactly the readable rows of the file"
    );
    assert_eq!(rows, distinct_lines);
    let r = &report["reconciliation"][0];
    assert_eq!(r["missing_count"].as_u64().unwrap(), malformed, "{r}");
    assert_eq!(r["extra_count"], 0, "{r}");
    assert_eq!(r["changed_count"], 0, "{r}");
}

#[test]
fn a_killed_load_resumes_to_exactly_the_right_rows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let url = format!("sqlite://{}", path.display());
    kill_and_resume(&url, |table| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let counts = counts_on!(&pool, table);
            pool.close().await;
            counts
        })
    });
}

#[test]
fn a_killed_load_resumes_to_exactly_the_right_rows_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, name) = rt.block_on(common::fresh_postgres_database());
    kill_and_resume(&url, |table| {
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let counts = counts_on!(&pool, table);
            pool.close().await;
            counts
        })
    });
    rt.block_on(common::drop_database(&name));
}

#[test]
fn a_batch_directory_without_a_manifest_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(zhiyun().arg("ingest").arg(dir.path()).args([
        "--warehouse",
        &format!("sqlite://{}", dir.path().join("w.db").display()),
    ]));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("manifest.json: cannot read the manifest"),
        "{err}"
    );
}
