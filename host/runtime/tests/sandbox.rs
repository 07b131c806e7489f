//! The sandbox against real components: the sample apps work, and every
//! hostile app gets its typed error, within its deadline, while the host
//! keeps serving other invocations.
//!
//! The components are built by `./dev apps` (the README's test command does
//! it first) into `target/wasm32-wasip2/app/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zhiyun_contract::{AppKind, AppOutput, Block, Invocation, Param, Value};
use zhiyun_data::FixtureProvider;
use zhiyun_runtime::{InvokeError, Limits, LoadError, LoadedApp, Runtime, RuntimeConfig, Services};

fn apps_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ZHIYUN_APPS_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/app")
}

fn wasm(name: &str) -> Vec<u8> {
    let path = apps_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the test apps first: ./dev apps",
            path.display()
        )
    })
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn services() -> Services {
    Services {
        data: Arc::new(FixtureProvider::demo()),
        invocation: Invocation {
            user_id: "u1".into(),
            user_name: "测试用户".into(),
            org_id: "3300".into(),
            org_name: "示范市供电公司".into(),
            locale: "zh-CN".into(),
            now: 1_796_000_000_000_000,
            app_id: "test".into(),
            app_version: "0.1.0".into(),
            request_id: "req-1".into(),
        },
    }
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_millis(500),
        memory_bytes: 64 << 20,
        output_bytes: 1 << 20,
        fuel: None,
        log_bytes: 16 << 10,
    }
}

fn attack(name: &str) -> Vec<Param> {
    vec![Param {
        name: "attack".into(),
        value: Value::Text(name.into()),
    }]
}

fn hostile(rt: &Runtime) -> LoadedApp {
    rt.load(AppKind::Scenario, &wasm("hostile"))
        .expect("hostile app loads")
}

async fn run_attack(
    rt: &Runtime,
    app: &LoadedApp,
    name: &str,
    limits: Limits,
) -> (
    Result<AppOutput, InvokeError>,
    zhiyun_runtime::Stats,
    Duration,
) {
    let started = Instant::now();
    let result = rt.run(app, attack(name), limits, services()).await;
    let took = started.elapsed();
    match result {
        Ok(o) => (Ok(o.output), o.stats, took),
        Err((e, stats)) => (Err(e), stats, took),
    }
}

/// Deadline plus what we accept as the margin for stopping an app.
const MARGIN: Duration = Duration::from_millis(400);

#[tokio::test]
async fn sample_scenario_renders_a_view_from_fixture_data() {
    let rt = runtime();
    let app = rt.load(AppKind::Scenario, &wasm("fund_position")).unwrap();
    let desc = rt
        .describe(&app, limits(), services())
        .await
        .map_err(|e| e.0)
        .unwrap();
    assert!(!desc.output.title.is_empty());
    let out = rt
        .run(&app, vec![], limits(), services())
        .await
        .map_err(|e| e.0)
        .unwrap();
    let AppOutput::View(view) = out.output else {
        panic!("a scenario returns a view")
    };
    let kpis = view
        .blocks
        .iter()
        .find_map(|b| match b {
            Block::Kpis(k) => Some(k),
            _ => None,
        })
        .expect("KPI cards");
    assert!(
        kpis.iter()
            .any(|k| matches!(k.value, Value::Money(fen) if fen > 0))
    );
    assert!(out.stats.host_calls > 0, "it read data through the host");
}

#[tokio::test]
async fn sample_report_and_alert_rule_run() {
    let rt = runtime();
    let report = rt
        .load(AppKind::Report, &wasm("fund_daily_report"))
        .unwrap();
    let out = rt
        .run(&report, vec![], limits(), services())
        .await
        .map_err(|e| e.0)
        .unwrap();
    let AppOutput::Document(doc) = out.output else {
        panic!("a report returns a document")
    };
    assert!(!doc.rows.is_empty());
    assert!(doc.header.len() >= 2, "two-level header");

    let alert = rt
        .load(AppKind::AlertRule, &wasm("low_balance_alert"))
        .unwrap();
    let out = rt
        .run(&alert, vec![], limits(), services())
        .await
        .map_err(|e| e.0)
        .unwrap();
    let AppOutput::Findings(findings) = out.output else {
        panic!("an alert rule returns findings")
    };
    assert!(
        !findings.is_empty(),
        "the fixture has accounts below their safety reserve"
    );
    assert!(findings.iter().all(|f| f.fingerprint.starts_with("A01:")));
    // The evidence crossed back as a columnar table (a subset of the app's
    // query result) and came out as rows of the account in question.
    for f in &findings {
        let acct_no = f.fingerprint.trim_start_matches("A01:");
        let ev = &f.evidence;
        let names: Vec<&str> = ev.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "acct_no",
                "balance_date",
                "closing",
                "available",
                "safety_reserve"
            ]
        );
        assert!(!ev.rows.is_empty(), "evidence of {acct_no}");
        for row in &ev.rows {
            assert_eq!(row.len(), names.len());
            assert_eq!(row[0], Value::Text(acct_no.to_string()));
            assert!(matches!(row[1], Value::Date(_)));
            assert!(matches!(row[2], Value::Money(_)));
        }
    }
}

#[tokio::test]
async fn an_infinite_loop_times_out_within_its_deadline() {
    let rt = runtime();
    let app = hostile(&rt);
    let (result, _, took) = run_attack(&rt, &app, "loop", limits()).await;
    assert!(
        matches!(result, Err(InvokeError::Timeout { .. })),
        "{result:?}"
    );
    assert!(took < limits().timeout + MARGIN, "stopped after {took:?}");
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_cap() {
    let rt = runtime();
    let app = hostile(&rt);
    let (result, stats, took) = run_attack(&rt, &app, "alloc", limits()).await;
    assert!(
        matches!(result, Err(InvokeError::MemoryLimit { .. })),
        "{result:?}"
    );
    assert!(stats.peak_memory_bytes <= limits().memory_bytes);
    assert!(took < limits().timeout + MARGIN);
}

#[tokio::test]
async fn a_huge_output_is_refused() {
    let rt = runtime();
    let app = hostile(&rt);
    let limits = Limits {
        memory_bytes: 256 << 20,
        timeout: Duration::from_secs(5),
        ..limits()
    };
    let (result, _, _) = run_attack(&rt, &app, "huge-output", limits).await;
    assert!(
        matches!(result, Err(InvokeError::OutputTooLarge { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn traps_and_panics_are_typed_errors() {
    let rt = runtime();
    let app = hostile(&rt);
    let (result, _, _) = run_attack(&rt, &app, "trap", limits()).await;
    assert!(
        matches!(result, Err(InvokeError::Trap { .. })),
        "{result:?}"
    );
    let (result, stats, _) = run_attack(&rt, &app, "panic", limits()).await;
    match result {
        Err(InvokeError::Trap { message }) => assert!(message.contains("boom"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(
        stats.stderr.contains("boom"),
        "the panic message is in the captured stderr"
    );
}

#[tokio::test]
async fn files_are_not_reachable() {
    let rt = runtime();
    let app = hostile(&rt);
    let (result, _, _) = run_attack(&rt, &app, "file", limits()).await;
    match result {
        Err(InvokeError::App(e)) => assert!(!e.message.contains("root:"), "{e}"),
        other => panic!("opening a file must fail inside the app, got {other:?}"),
    }
}

#[tokio::test]
async fn the_environment_is_empty() {
    let rt = runtime();
    let app = hostile(&rt);
    let (result, _, _) = run_attack(&rt, &app, "env", limits()).await;
    let Ok(AppOutput::View(view)) = result else {
        panic!("{result:?}")
    };
    let text = serde_json::to_string(&view).unwrap();
    assert!(
        text.contains("vars=0"),
        "the app saw environment variables: {text}"
    );
    assert!(!text.contains("/root"), "{text}");
}

#[tokio::test]
async fn stdout_is_captured_with_a_cap() {
    let rt = runtime();
    let app = hostile(&rt);
    let (result, stats, _) = run_attack(&rt, &app, "stdout-flood", limits()).await;
    assert!(result.is_ok(), "a chatty app still works: {result:?}");
    assert!(stats.stdout.len() <= limits().log_bytes);
    assert!(stats.stdio_dropped_bytes > 0);
}

#[tokio::test]
async fn fuel_budget_stops_a_loop() {
    let rt = Runtime::new(RuntimeConfig {
        fuel_metering: true,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let app = hostile(&rt);
    let limits = Limits {
        fuel: Some(5_000_000),
        timeout: Duration::from_secs(10),
        ..limits()
    };
    let (result, _, took) = run_attack(&rt, &app, "loop", limits).await;
    assert!(
        matches!(result, Err(InvokeError::FuelExhausted { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(10));
}

#[test]
fn a_socket_using_component_is_rejected_at_load() {
    let err = runtime()
        .load(AppKind::Scenario, &wasm("hostile_socket"))
        .err()
        .expect("must be rejected");
    match err {
        LoadError::ForbiddenImport { import, .. } => {
            assert!(import.starts_with("wasi:sockets/"), "{import}")
        }
        other => panic!("{other}"),
    }
}

#[test]
fn an_import_outside_the_contract_is_rejected_at_load() {
    let err = runtime()
        .load(AppKind::Scenario, &wasm("hostile_import"))
        .err()
        .expect("must be rejected");
    match err {
        LoadError::ForbiddenImport { import, .. } => {
            assert!(import.starts_with("evil:net/http"), "{import}")
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_component_of_another_kind_is_rejected() {
    let err = runtime()
        .load(AppKind::Scenario, &wasm("fund_daily_report"))
        .err()
        .expect("a report is not a scenario");
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err}");
}

#[test]
fn garbage_and_core_modules_are_rejected() {
    let rt = runtime();
    assert!(matches!(
        rt.load(AppKind::Scenario, b"not wasm at all"),
        Err(LoadError::Invalid(_))
    ));
    // The smallest core module: magic + version 1.
    let core = b"\0asm\x01\0\0\0";
    assert!(matches!(
        rt.load(AppKind::Scenario, core),
        Err(LoadError::Invalid(_))
    ));
}

#[test]
fn compiled_artifacts_are_cached_and_tampered_ones_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let bytes = wasm("trivial");
    let first = Runtime::new(config.clone())
        .unwrap()
        .load(AppKind::Scenario, &bytes)
        .unwrap();
    assert!(!first.from_cache());
    let second = Runtime::new(config.clone())
        .unwrap()
        .load(AppKind::Scenario, &bytes)
        .unwrap();
    assert!(second.from_cache());
    assert_eq!(first.sha256(), second.sha256());

    // Flip a byte of the artifact: the host did not write that, so it is
    // not deserialized; the component is compiled again.
    let artifact = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut data = std::fs::read(&artifact).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&artifact, data).unwrap();
    let third = Runtime::new(config)
        .unwrap()
        .load(AppKind::Scenario, &bytes)
        .unwrap();
    assert!(
        !third.from_cache(),
        "a tampered artifact must not be loaded"
    );
}

#[test]
fn introspection_lists_the_real_imports() {
    let info = runtime().inspect(&wasm("fund_position")).unwrap();
    let names: Vec<_> = info.imports.iter().map(|i| i.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("zhiyun:app/data@")),
        "{names:?}"
    );
    let exports: Vec<_> = info.exports.iter().map(|i| i.name.as_str()).collect();
    assert!(
        exports.contains(&"render") && exports.contains(&"describe"),
        "{exports:?}"
    );
    assert!(info.forbidden_import().is_none());
}

/// Hostile apps spinning on both cores must not stop trivial launches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_keeps_serving_while_hostile_apps_run() {
    let rt = Arc::new(runtime());
    let hostile = hostile(&rt);
    let trivial = rt.load(AppKind::Scenario, &wasm("trivial")).unwrap();
    let slow = Limits {
        timeout: Duration::from_secs(2),
        ..limits()
    };
    let started = Instant::now();
    let mut spinners = Vec::new();
    for _ in 0..4 {
        let (rt, app) = (rt.clone(), hostile.clone());
        spinners.push(tokio::spawn(async move {
            rt.run(&app, attack("loop"), slow, services())
                .await
                .map(|_| ())
                .map_err(|e| e.0)
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..50 {
        rt.run(&trivial, vec![], limits(), services())
            .await
            .map_err(|e| e.0)
            .unwrap();
    }
    // The property: all trivial launches finished while every hostile app
    // was still spinning (none had reached its 2 s deadline yet).
    let trivial_done = started.elapsed();
    assert!(
        spinners.iter().all(|s| !s.is_finished()),
        "trivial launches only finished after the hostile apps ({trivial_done:?})"
    );
    for s in spinners {
        let result = s.await.unwrap();
        assert!(
            matches!(result, Err(InvokeError::Timeout { .. })),
            "{result:?}"
        );
    }
    assert!(started.elapsed() < slow.timeout + MARGIN * 2);
}
