//! The engine, loading components, and invoking them under limits.

use crate::bindings::{alert_rule, imports, report, scenario};
use crate::cache::{ArtifactCache, ArtifactSource};
use crate::convert;
use crate::error::{InvokeError, LoadError};
use crate::host::HostState;
use crate::introspect::ComponentInfo;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    UpdateDeadline,
};
use zhiyun_contract::{AppKind, AppOutput, DataProvider, Description, Invocation, LogLevel, Param};

/// How often the process-wide ticker advances every engine's epoch. Deadlines
/// are checked at this granularity, and a running app yields to other tasks
/// on the executor at every tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Engine-wide settings, fixed for the life of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled artifacts are cached; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Try the pooling allocator (falls back to on-demand if its address-space
    /// reservation fails).
    pub pooling: bool,
    /// Invocations running at once; more wait their turn. Also the pool size.
    pub max_concurrent: u32,
    /// Hard ceiling on any one app's linear memory, whatever its limits say.
    pub max_memory_bytes: usize,
    /// Meter instructions with fuel (slower; needed for `Limits::fuel`).
    pub fuel_metering: bool,
    /// How long an invocation may wait for a free slot before `Busy`.
    pub queue_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            pooling: true,
            max_concurrent: 64,
            max_memory_bytes: 512 << 20,
            fuel_metering: false,
            queue_timeout: Duration::from_secs(10),
        }
    }
}

/// Limits of one invocation. Every hit becomes a typed [`InvokeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
    /// Size of the result as JSON.
    pub output_bytes: usize,
    /// Instruction budget; only with `RuntimeConfig::fuel_metering`.
    pub fuel: Option<u64>,
    /// Bytes of log lines, and separately of stdout and of stderr, kept.
    pub log_bytes: usize,
}

impl Default for Limits {
    /// The production defaults (see `HostLimits` in zhiyun-apps).
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(5_000),
            memory_bytes: 128 << 20,
            output_bytes: 4 << 20,
            fuel: None,
            log_bytes: 64 << 10,
        }
    }
}

/// What the host serves an invocation: its data and who runs it.
#[derive(Clone)]
pub struct Services {
    pub data: Arc<dyn DataProvider>,
    pub invocation: Invocation,
}

/// What to call.
#[derive(Debug, Clone)]
pub enum Call {
    Describe,
    /// `render` for scenarios and reports, `evaluate` for alert rules.
    Run(Vec<Param>),
}

/// One line of an app's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// The result of a successful call.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome<T> {
    pub output: T,
    pub stats: Stats,
}

/// What an invocation cost and said, successful or not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub duration: Duration,
    pub peak_memory_bytes: usize,
    pub host_calls: u32,
    pub fuel_consumed: Option<u64>,
    pub output_bytes: usize,
    pub log: Vec<LogLine>,
    pub log_dropped: u32,
    pub stdout: String,
    pub stderr: String,
    pub stdio_dropped_bytes: u64,
}

/// A component ready to run: compiled, checked against the contract, and
/// pre-linked. Cheap to clone.
#[derive(Clone)]
pub struct LoadedApp {
    inner: Arc<Loaded>,
}

struct Loaded {
    kind: AppKind,
    sha256: String,
    info: ComponentInfo,
    source: ArtifactSource,
    pre: KindPre,
}

enum KindPre {
    Scenario(scenario::ScenarioPre<HostState>),
    Report(report::ReportPre<HostState>),
    AlertRule(alert_rule::AlertRulePre<HostState>),
}

impl LoadedApp {
    pub fn kind(&self) -> AppKind {
        self.inner.kind
    }
    /// sha256 of the component bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }
    /// The component's imports and exports, for review.
    pub fn info(&self) -> &ComponentInfo {
        &self.inner.info
    }
    /// Whether the artifact came from the cache (else it was compiled now).
    pub fn from_cache(&self) -> bool {
        self.inner.source == ArtifactSource::Cache
    }
}

/// The sandbox. Create one per process and share it.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<ArtifactCache>,
    config: RuntimeConfig,
    pooling: bool,
    slots: Semaphore,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> wasmtime::Result<Self> {
        let (engine, pooling) = build_engine(&config)?;
        ticker().register(engine.weak());
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        imports::Imports::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(ArtifactCache::open(dir, &engine)?),
            None => None,
        };
        Ok(Self {
            slots: Semaphore::new(config.max_concurrent as usize),
            engine,
            linker,
            cache,
            config,
            pooling,
        })
    }

    /// Whether the pooling allocator is in use (else on-demand allocation).
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Reads a component's imports and exports without loading it for use.
    pub fn inspect(&self, wasm: &[u8]) -> Result<ComponentInfo, LoadError> {
        let component = Component::new(&self.engine, wasm).map_err(invalid)?;
        Ok(ComponentInfo::of(&self.engine, &component))
    }

    /// Compiles (or loads from the cache), checks the contract and pre-links
    /// a component of the given kind. Blocking: call from a blocking context
    /// (`spawn_blocking`) in a server.
    pub fn load(&self, kind: AppKind, wasm: &[u8]) -> Result<LoadedApp, LoadError> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        if !wasm.starts_with(b"\0asm") {
            return Err(LoadError::Invalid(
                "the file does not start with the WebAssembly magic bytes".into(),
            ));
        }
        let (component, source) = match &self.cache {
            Some(cache) => cache
                .load_or_compile(&self.engine, &sha256, wasm)
                .map_err(invalid)?,
            None => (
                Component::new(&self.engine, wasm).map_err(invalid)?,
                ArtifactSource::Compiled,
            ),
        };
        let info = ComponentInfo::of(&self.engine, &component);
        if let Some((import, reason)) = info.forbidden_import() {
            return Err(LoadError::ForbiddenImport { import, reason });
        }
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Host(format!("{e:#}")))?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            world: kind.world().to_string(),
            reason: format!("{e:#}"),
        };
        let pre = match kind {
            AppKind::Scenario => {
                KindPre::Scenario(scenario::ScenarioPre::new(instance_pre).map_err(wrong_world)?)
            }
            AppKind::Report => {
                KindPre::Report(report::ReportPre::new(instance_pre).map_err(wrong_world)?)
            }
            AppKind::AlertRule => KindPre::AlertRule(
                alert_rule::AlertRulePre::new(instance_pre).map_err(wrong_world)?,
            ),
        };
        Ok(LoadedApp {
            inner: Arc::new(Loaded {
                kind,
                sha256,
                info,
                source,
                pre,
            }),
        })
    }

    /// Calls `describe`.
    pub async fn describe(
        &self,
        app: &LoadedApp,
        limits: Limits,
        services: Services,
    ) -> Result<Outcome<Description>, (InvokeError, Stats)> {
        let out = self.invoke(app, Call::Describe, limits, services).await?;
        match out.output {
            Called::Description(d) => Ok(Outcome {
                output: d,
                stats: out.stats,
            }),
            Called::Output(_) => unreachable!("describe returns a description"),
        }
    }

    /// Calls `render` (scenario, report) or `evaluate` (alert rule).
    pub async fn run(
        &self,
        app: &LoadedApp,
        params: Vec<Param>,
        limits: Limits,
        services: Services,
    ) -> Result<Outcome<AppOutput>, (InvokeError, Stats)> {
        let out = self
            .invoke(app, Call::Run(params), limits, services)
            .await?;
        match out.output {
            Called::Output(o) => Ok(Outcome {
                output: o,
                stats: out.stats,
            }),
            Called::Description(_) => unreachable!("run returns an app output"),
        }
    }

    async fn invoke(
        &self,
        app: &LoadedApp,
        call: Call,
        limits: Limits,
        services: Services,
    ) -> Result<Outcome<Called>, (InvokeError, Stats)> {
        let _slot =
            match tokio::time::timeout(self.config.queue_timeout, self.slots.acquire()).await {
                Ok(Ok(permit)) => permit,
                _ => {
                    return Err((
                        InvokeError::Busy(format!(
                            "{} invocations are running and none finished within {} ms",
                            self.config.max_concurrent,
                            self.config.queue_timeout.as_millis()
                        )),
                        Stats::default(),
                    ));
                }
            };
        let started = Instant::now();
        let memory_limit = limits.memory_bytes.min(self.config.max_memory_bytes);
        let mut store = Store::new(
            &self.engine,
            HostState::new(services, memory_limit, limits.log_bytes),
        );
        store.limiter(|s| &mut s.limiter);
        let fuel_budget = if self.config.fuel_metering {
            let budget = limits.fuel.unwrap_or(u64::MAX);
            store.set_fuel(budget).map_err(|e| internal(e, &started))?;
            Some(budget)
        } else {
            None
        };
        // The deadline: at every epoch tick the callback either yields to the
        // executor (so a busy app never starves other requests) or, once the
        // deadline has passed, interrupts the app with a trap.
        let deadline = started + limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });

        // A backstop for time spent outside Wasm (a slow host call): the
        // whole call is also bounded by the deadline plus a margin.
        let margin = Duration::from_millis(250);
        let result = tokio::time::timeout(
            limits.timeout + margin,
            call_export(&app.inner.pre, &mut store, call, limits.output_bytes),
        )
        .await;

        let called = match result {
            Err(_elapsed) => Err(InvokeError::Timeout {
                limit: limits.timeout,
            }),
            Ok(Err(trap)) => Err(classify_trap(&trap, &store, &limits, fuel_budget, started)),
            Ok(Ok(Err(refused))) => Err(refused),
            Ok(Ok(Ok(called))) => Ok(called),
        };
        let mut stats = collect_stats(&mut store, started, fuel_budget);
        let called = called.map_err(|e| (e, stats.clone()))?;
        match called.output_size(limits.output_bytes) {
            Some(size) => stats.output_bytes = size,
            None => {
                return Err((
                    InvokeError::OutputTooLarge {
                        limit_bytes: limits.output_bytes,
                    },
                    stats,
                ));
            }
        }
        Ok(Outcome {
            output: called,
            stats,
        })
    }
}

/// The value a call produced.
enum Called {
    Description(Description),
    Output(AppOutput),
}

impl Called {
    /// The JSON size of the result, or `None` if it exceeds `limit`.
    fn output_size(&self, limit: usize) -> Option<usize> {
        let mut counter = CappedCounter { count: 0, limit };
        let ok = match self {
            Called::Description(d) => serde_json::to_writer(&mut counter, d).is_ok(),
            Called::Output(o) => serde_json::to_writer(&mut counter, o).is_ok(),
        };
        ok.then_some(counter.count)
    }
}

/// A writer that counts bytes and fails once past its limit, so measuring a
/// huge output stops early instead of serialising all of it.
struct CappedCounter {
    count: usize,
    limit: usize,
}

impl std::io::Write for CappedCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.count += buf.len();
        if self.count > self.limit {
            return Err(std::io::Error::other("output limit"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Instantiates the app and calls the export. The inner error is the app's
/// own error, or its output refused while converting it (a malformed or
/// oversized evidence table).
async fn call_export(
    pre: &KindPre,
    store: &mut Store<HostState>,
    call: Call,
    output_limit: usize,
) -> wasmtime::Result<Result<Called, InvokeError>> {
    use crate::convert::{
        TableError, description_from_wit, document_from_wit, error_from_wit, findings_from_wit,
        param_to_wit, view_from_wit,
    };
    let to_wit = |params: Vec<Param>| params.into_iter().map(param_to_wit).collect::<Vec<_>>();
    let app_error = |e| InvokeError::App(error_from_wit(e));
    Ok(match (pre, call) {
        (KindPre::Scenario(pre), call) => {
            let app = pre.instantiate_async(&mut *store).await?;
            match call {
                Call::Describe => Ok(Called::Description(description_from_wit(
                    app.call_describe(&mut *store).await?,
                ))),
                Call::Run(params) => app
                    .call_render(&mut *store, &to_wit(params))
                    .await?
                    .map(|v| Called::Output(AppOutput::View(view_from_wit(v))))
                    .map_err(app_error),
            }
        }
        (KindPre::Report(pre), call) => {
            let app = pre.instantiate_async(&mut *store).await?;
            match call {
                Call::Describe => Ok(Called::Description(description_from_wit(
                    app.call_describe(&mut *store).await?,
                ))),
                Call::Run(params) => app
                    .call_render(&mut *store, &to_wit(params))
                    .await?
                    .map(|d| Called::Output(AppOutput::Document(document_from_wit(d))))
                    .map_err(app_error),
            }
        }
        (KindPre::AlertRule(pre), call) => {
            let app = pre.instantiate_async(&mut *store).await?;
            match call {
                Call::Describe => Ok(Called::Description(description_from_wit(
                    app.call_describe(&mut *store).await?,
                ))),
                Call::Run(params) => match app.call_evaluate(&mut *store, &to_wit(params)).await? {
                    Ok(findings) => findings_from_wit(findings, output_limit)
                        .map(|f| Called::Output(AppOutput::Findings(f)))
                        .map_err(|e| match e {
                            TableError::Malformed(m) => {
                                InvokeError::App(zhiyun_contract::AppError::invalid_input(m))
                            }
                            TableError::TooLarge => InvokeError::OutputTooLarge {
                                limit_bytes: output_limit,
                            },
                        }),
                    Err(e) => Err(app_error(e)),
                },
            }
        }
    })
}

fn collect_stats(store: &mut Store<HostState>, started: Instant, fuel: Option<u64>) -> Stats {
    let fuel_consumed = fuel.and_then(|budget| store.get_fuel().ok().map(|left| budget - left));
    let state = store.data_mut();
    let (stdout, out_dropped) = state.stdout.take();
    let (stderr, err_dropped) = state.stderr.take();
    Stats {
        duration: started.elapsed(),
        peak_memory_bytes: state.limiter.peak,
        host_calls: state.host_calls,
        fuel_consumed,
        output_bytes: 0,
        log: std::mem::take(&mut state.log.lines),
        log_dropped: state.log.dropped,
        stdout,
        stderr,
        stdio_dropped_bytes: out_dropped + err_dropped,
    }
}

/// Turns a trap into the typed error that explains it.
fn classify_trap(
    error: &wasmtime::Error,
    store: &Store<HostState>,
    limits: &Limits,
    fuel: Option<u64>,
    started: Instant,
) -> InvokeError {
    if store.data().limiter.hit {
        return InvokeError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        };
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => InvokeError::Timeout {
            limit: limits.timeout,
        },
        Some(wasmtime::Trap::OutOfFuel) => InvokeError::FuelExhausted {
            fuel: fuel.unwrap_or_default(),
        },
        Some(trap) => {
            let stderr = store.data().stderr.peek_tail(2048);
            // Rust prints "thread … panicked at file:line:col:" and the
            // message on the next line; show both.
            let panic = stderr
                .split_once("panicked at")
                .map(|(_, rest)| {
                    let text: Vec<&str> = rest.lines().take(2).map(str::trim).collect();
                    format!(" (panicked at {})", text.join(" "))
                })
                .unwrap_or_default();
            InvokeError::Trap {
                message: format!("{trap}{panic}"),
            }
        }
        None if started.elapsed() > limits.timeout => InvokeError::Timeout {
            limit: limits.timeout,
        },
        None => InvokeError::Trap {
            message: format!("{error:#}"),
        },
    }
}

fn invalid(e: wasmtime::Error) -> LoadError {
    LoadError::Invalid(format!("{e:#}"))
}

fn internal(e: wasmtime::Error, _started: &Instant) -> (InvokeError, Stats) {
    (InvokeError::Internal(format!("{e:#}")), Stats::default())
}

fn build_engine(config: &RuntimeConfig) -> wasmtime::Result<(Engine, bool)> {
    let mut base = Config::new();
    base.epoch_interruption(true)
        .consume_fuel(config.fuel_metering)
        .wasm_component_model(true)
        // Deep recursion traps cleanly instead of overflowing the host stack.
        .max_wasm_stack(1 << 20)
        .async_stack_size(2 << 20);
    if config.pooling {
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_concurrent.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(config.max_memory_bytes)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16);
        let mut pooled = base.clone();
        pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&pooled) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable, using on-demand allocation")
            }
        }
    }
    Ok((Engine::new(&base)?, false))
}

// ---- the one ticker thread of the process --------------------------------

/// Advances the epoch of every live engine in the process, from one thread.
struct Ticker {
    engines: Mutex<Vec<EngineWeak>>,
    started: AtomicBool,
}

fn ticker() -> &'static Ticker {
    static TICKER: OnceLock<Ticker> = OnceLock::new();
    TICKER.get_or_init(|| Ticker {
        engines: Mutex::new(Vec::new()),
        started: AtomicBool::new(false),
    })
}

impl Ticker {
    fn register(&'static self, engine: EngineWeak) {
        self.engines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(engine);
        if !self.started.swap(true, Ordering::SeqCst) {
            std::thread::Builder::new()
                .name("zhiyun-epoch-ticker".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(EPOCH_TICK);
                        let mut engines = self.engines.lock().unwrap_or_else(|p| p.into_inner());
                        engines.retain(|weak| match weak.upgrade() {
                            Some(engine) => {
                                engine.increment_epoch();
                                true
                            }
                            None => false,
                        });
                    }
                })
                .expect("spawning the epoch ticker thread");
        }
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Runtime>();
    is::<LoadedApp>();
    let _ = convert::level_from_wit;
}
