//! Generates a batch and prints rows/s: `cargo run --release -p zhiyun-gen --example gen -- DIR [SCALE] [FORMAT] [BATCH]`.
//! SCALE is tiny, demo or a number of journal lines (default 1m); FORMAT csv, csv.gz or jsonl.

use std::str::FromStr;
use zhiyun_gen::{BatchKind, GenOptions, Progress, Scale};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .cloned()
        .unwrap_or_else(|| "/tmp/zhiyun-gen-bench".into());
    let mut opts = GenOptions::new(dir);
    opts.scale =
        Scale::from_str(args.get(1).map_or("1m", String::as_str)).map_err(anyhow::Error::msg)?;
    if let Some(f) = args.get(2) {
        opts.format =
            zhiyun_batch::FileFormat::parse(f).ok_or_else(|| anyhow::anyhow!("format {f}?"))?;
    }
    if args.get(3).map(String::as_str) == Some("2") {
        opts.batch = BatchKind::Second;
    }
    let mut lines = 0;
    let s = zhiyun_gen::generate(&opts, &mut |p| {
        if let Progress::TableDone {
            name: "gl_voucher_line",
            rows,
        } = p
        {
            lines = rows;
        }
    })?;
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{} tables, {} rows, {} journal lines, {} anomalies in {:.2} s: {:.0} rows/s, {:.0} journal lines/s",
        s.tables,
        s.rows,
        lines,
        s.anomalies,
        secs,
        s.rows as f64 / secs,
        lines as f64 / secs
    );
    for t in &s.manifest.tables {
        if t.rows > 20_000 {
            println!("  {:<22} {:>10}", t.name, t.rows);
        }
    }
    Ok(())
}
