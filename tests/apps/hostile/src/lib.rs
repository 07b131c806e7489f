//! Test app: misbehaves on request so the host's tests can show that the
//! sandbox contains it. `render` reads the text parameter `attack`:
//!
//! | attack         | does                                                      | host should                  |
//! |----------------|-----------------------------------------------------------|------------------------------|
//! | `loop`         | spins forever without a host call                         | time it out (epoch deadline) |
//! | `alloc`        | keeps allocating and touching 1 MiB blocks                | trap at the memory limit     |
//! | `huge-output`  | returns a view with one 64 MiB text block                 | reject by output size        |
//! | `huge-table`   | returns a view with a 1,000,000-row table                 | reject by output size        |
//! | `trap`         | executes `unreachable`                                    | report a trap                |
//! | `panic`        | `panic!("boom")` (aborts: wasm has no unwinding here)     | report a trap                |
//! | `file`         | reads `/etc/passwd`, creates `/tmp/x`                     | have both fail               |
//! | `env`          | reads `HOME`, counts env vars and args                    | show it nothing              |
//! | `stdout-flood` | writes 10 MiB to stdout, then returns ok                  | cap the captured log         |
//! | `ok`           | returns a small view                                      | succeed                      |
//!
//! `file` returns `access-denied` carrying both io errors when both fail; if
//! either succeeds it returns an ok view whose text starts with `LEAK:`, so a
//! test can tell a contained attempt from a breach. `env` returns an ok view
//! whose text is exactly `home=None vars=0 args=0` when nothing leaks.

use std::hint::black_box;
use std::io::Write;
use zhiyun_sdk::prelude::*;

struct Hostile;

const ATTACKS: [&str; 10] = [
    "loop",
    "alloc",
    "huge-output",
    "huge-table",
    "trap",
    "panic",
    "file",
    "env",
    "stdout-flood",
    "ok",
];

impl Scenario for Hostile {
    fn describe() -> Description {
        // Free text, as in app.toml (the manifest format has no list of choices).
        Description::new("恶意行为测试", "按参数 attack 故意违规，用于验证沙箱限制。")
            .param(ParameterSpec::text("attack", "攻击方式").required())
    }

    fn render(params: Params) -> Result<View, AppError> {
        let attack = params.required_text("attack")?;
        match attack.as_str() {
            "loop" => spin(),
            "alloc" => exhaust_memory(),
            "huge-output" => Ok(View::new("huge").text("x".repeat(64 << 20))),
            "huge-table" => Ok(View::new("huge").table(huge_table(1_000_000))),
            "trap" => trap(),
            "panic" => panic!("boom"),
            "file" => touch_files(),
            "env" => Ok(View::new("env").text(environment_seen())),
            "stdout-flood" => Ok(View::new("stdout").text(flood_stdout(10 << 20))),
            "ok" => Ok(View::new("ok").text("ok")),
            other => Err(AppError::invalid_input(format!(
                "unknown attack {other:?}; one of: {}",
                ATTACKS.join(", ")
            ))),
        }
    }
}

zhiyun_sdk::export_scenario!(Hostile);

/// An infinite loop with no host call. `black_box` keeps the optimiser from
/// proving anything about it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks forever, writing to each so the pages are really
/// used; ends when `memory.grow` fails and the allocator aborts (a trap).
fn exhaust_memory() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        block[black_box(0)] = 1;
        blocks.push(black_box(block));
    }
}

fn huge_table(rows: usize) -> Table {
    let mut table = Table::new("huge", "huge").column(TableColumn::count("n", "n"));
    for i in 0..rows {
        table.push_row(i.to_string(), vec![Value::int(i as i64)]);
    }
    table
}

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

/// Tries to read and to create a file, keeping the errors (never unwrapping).
fn touch_files() -> Result<View, AppError> {
    let read = std::fs::read("/etc/passwd");
    let create = std::fs::File::create("/tmp/x").and_then(|mut f| f.write_all(b"x"));
    match (read, create) {
        (Err(read), Err(create)) => Err(AppError::access_denied(format!(
            "read /etc/passwd: {read}; create /tmp/x: {create}"
        ))),
        (read, create) => Ok(View::new("file").text(format!(
            "LEAK: read /etc/passwd: {}; create /tmp/x: {}",
            match read {
                Ok(bytes) => format!("{} bytes", bytes.len()),
                Err(e) => e.to_string(),
            },
            match create {
                Ok(()) => "created".to_string(),
                Err(e) => e.to_string(),
            }
        ))),
    }
}

/// What the environment shows: `home=None vars=0 args=0` when it is empty.
fn environment_seen() -> String {
    format!(
        "home={:?} vars={} args={}",
        std::env::var("HOME").ok(),
        std::env::vars_os().count(),
        std::env::args_os().count()
    )
}

/// Writes `total` bytes to stdout in 64 KiB chunks, stopping at the first
/// error (a closed or capped stream), and says how much got through.
fn flood_stdout(total: usize) -> String {
    let chunk = [b'A'; 64 << 10];
    let mut stdout = std::io::stdout().lock();
    let mut written = 0;
    let mut error = None;
    while written < total {
        match stdout.write_all(&chunk) {
            Ok(()) => written += chunk.len(),
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let flushed = stdout.flush();
    format!(
        "stdout: wrote {written} of {total} bytes; error: {error:?}; flush: {:?}",
        flushed.err().map(|e| e.to_string())
    )
}
