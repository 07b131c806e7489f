//! Plain-text rendering of app outputs for the terminal (`zhiyun app test`).

use zhiyun_contract::format::format_value;
use zhiyun_contract::{AppOutput, Block, NumberFormat, RowStyle, Value};
use zhiyun_runtime::Stats;

pub fn render(output: &AppOutput) -> String {
    let mut out = String::new();
    match output {
        AppOutput::View(view) => {
            out.push_str(&format!("# {}\n", view.title));
            if let Some(s) = &view.subtitle {
                out.push_str(&format!("{s}\n"));
            }
            for f in &view.filters {
                out.push_str(&format!("[{}: {}] ", f.label, f.default_value.to_text()));
            }
            out.push('\n');
            for block in &view.blocks {
                match block {
                    Block::Kpis(cards) => {
                        for k in cards {
                            out.push_str(&format!(
                                "  {:<16} {}\n",
                                k.label,
                                format_value(&k.value, k.format)
                            ));
                        }
                    }
                    Block::Chart(c) => {
                        out.push_str(&format!("\n## {} ({:?})\n", c.title, c.kind));
                        for s in &c.series {
                            out.push_str(&format!("  {}:\n", s.name));
                            for (cat, v) in c.categories.iter().zip(&s.points) {
                                out.push_str(&format!(
                                    "    {:<20} {}\n",
                                    cat.label,
                                    format_value(v, c.format)
                                ));
                            }
                        }
                    }
                    Block::Table(t) => {
                        out.push_str(&format!("\n## {}\n", t.title));
                        let header: Vec<_> = t.columns.iter().map(|c| c.label.as_str()).collect();
                        out.push_str(&format!("  {}\n", header.join(" | ")));
                        for row in &t.rows {
                            let cells: Vec<_> = row
                                .cells
                                .iter()
                                .zip(&t.columns)
                                .map(|(v, c)| format_value(v, c.format))
                                .collect();
                            out.push_str(&format!("  {}\n", cells.join(" | ")));
                        }
                    }
                    Block::Text(t) => {
                        if let Some(title) = &t.title {
                            out.push_str(&format!("\n## {title}\n"));
                        }
                        out.push_str(&format!("  {}\n", t.body));
                    }
                }
            }
        }
        AppOutput::Document(doc) => {
            out.push_str(&format!("# {}\n", doc.title));
            if let Some(s) = &doc.subtitle {
                out.push_str(&format!("{s}\n"));
            }
            for row in &doc.header {
                let labels: Vec<_> = row.iter().map(|h| h.label.as_str()).collect();
                out.push_str(&format!("  {}\n", labels.join(" | ")));
            }
            for row in &doc.rows {
                let cells: Vec<_> = row
                    .cells
                    .iter()
                    .zip(&doc.columns)
                    .map(|(v, c)| format_value(v, c.format))
                    .collect();
                let marker = match row.style {
                    RowStyle::Total | RowStyle::Subtotal => "*",
                    _ => " ",
                };
                out.push_str(&format!(
                    "{marker} {}{}\n",
                    "  ".repeat(row.level as usize),
                    cells.join(" | ")
                ));
            }
            for note in &doc.footnotes {
                out.push_str(&format!("注: {note}\n"));
            }
        }
        AppOutput::Findings(findings) => {
            out.push_str(&format!("{} finding(s)\n", findings.len()));
            for f in findings {
                out.push_str(&format!(
                    "  [{:?}] {} — {} (observed {}, threshold {})\n",
                    f.severity,
                    f.fingerprint,
                    f.message,
                    show(&f.observed),
                    show(&f.threshold)
                ));
            }
        }
    }
    out
}

fn show(v: &Value) -> String {
    format_value(v, NumberFormat::Yuan)
}

pub fn stats_line(stats: &Stats) -> String {
    format!(
        "-- {:.2} ms, peak memory {} KiB, {} host call(s), output {} bytes{}",
        stats.duration.as_secs_f64() * 1000.0,
        stats.peak_memory_bytes / 1024,
        stats.host_calls,
        stats.output_bytes,
        stats
            .fuel_consumed
            .map(|f| format!(", fuel {f}"))
            .unwrap_or_default()
    )
}

pub fn print_log(stats: &Stats) {
    for line in &stats.log {
        eprintln!("[app {:?}] {}", line.level, line.message);
    }
    if !stats.stdout.is_empty() {
        eprintln!("[app stdout] {}", stats.stdout.trim_end());
    }
    if !stats.stderr.is_empty() {
        eprintln!("[app stderr] {}", stats.stderr.trim_end());
    }
    if stats.log_dropped > 0 || stats.stdio_dropped_bytes > 0 {
        eprintln!(
            "[app] {} log line(s) and {} bytes of stdout/stderr dropped (over the cap)",
            stats.log_dropped, stats.stdio_dropped_bytes
        );
    }
}
