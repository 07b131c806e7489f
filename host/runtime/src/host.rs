//! The per-invocation host state: WASI with nothing behind it, captured
//! stdio, the memory limiter, the log, and the `data` / `log` / `context`
//! imports dispatched to [`Services`].

use crate::bindings::imports::zhiyun::app::{context, data, log, types};
use crate::convert;
use crate::runtime::{LogLine, Services};
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use zhiyun_contract::LogLevel;

/// Everything a `Store` carries for one invocation.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) services: Services,
    pub(crate) log: LogBuffer,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    pub(crate) host_calls: u32,
}

impl HostState {
    pub(crate) fn new(services: Services, memory_limit: usize, log_limit: usize) -> Self {
        let stdout = CapturedOutput::new(log_limit);
        let stderr = CapturedOutput::new(log_limit);
        // Nothing is granted: no preopened directories, no environment
        // variables, no arguments, no network (TCP, UDP and name lookup off,
        // every address refused), stdin closed. Clocks and randomness are
        // harmless and Rust's std needs them.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            services,
            log: LogBuffer::new(log_limit),
            stdout,
            stderr,
            host_calls: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

// ---- memory ------------------------------------------------------------

/// Caps linear memory and tables per invocation and records the peak, so a
/// limit hit becomes `InvokeError::MemoryLimit` rather than an anonymous trap.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) peak: usize,
    pub(crate) hit: bool,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            peak: 0,
            hit: false,
        }
    }
}

/// Table elements an app may have (function tables of Rust programs are small).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit || maximum.is_some_and(|m| desired > m) {
            self.hit = true;
            // Refuse the growth: `memory.grow` returns -1 and the guest's
            // allocator fails (a Rust app aborts, which traps).
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

// ---- log and stdio -----------------------------------------------------

/// The app's log lines, capped in total bytes; what does not fit is counted.
pub(crate) struct LogBuffer {
    limit: usize,
    used: usize,
    pub(crate) lines: Vec<LogLine>,
    pub(crate) dropped: u32,
}

impl LogBuffer {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            lines: Vec::new(),
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, level: LogLevel, message: String) {
        if self.used + message.len() > self.limit {
            self.dropped += 1;
            return;
        }
        self.used += message.len();
        self.lines.push(LogLine { level, message });
    }
}

/// stdout or stderr of an app: kept in memory up to a cap; writes past the
/// cap succeed (so a chatty app does not crash on a failed print) but are
/// dropped and counted.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl CapturedOutput {
    fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Captured {
                limit,
                ..Default::default()
            })),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = c.limit.saturating_sub(c.bytes.len());
        let take = room.min(bytes.len());
        c.bytes.extend_from_slice(&bytes[..take]);
        c.dropped += (bytes.len() - take) as u64;
    }

    /// The last `n` bytes captured so far, as text.
    pub(crate) fn peek_tail(&self, n: usize) -> String {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let start = c.bytes.len().saturating_sub(n);
        String::from_utf8_lossy(&c.bytes[start..]).into_owned()
    }

    /// The captured text (lossy UTF-8) and how many bytes were dropped.
    pub(crate) fn take(&self) -> (String, u64) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&c.bytes).into_owned();
        c.bytes.clear();
        (text, c.dropped)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

// ---- contract imports --------------------------------------------------

impl types::Host for HostState {}

impl data::Host for HostState {
    async fn query(&mut self, q: data::SemanticQuery) -> Result<data::DataTable, types::AppError> {
        self.host_calls += 1;
        let provider = self.services.data.clone();
        let result = provider
            .query(&self.services.invocation, convert::query_from_wit(q))
            .await;
        table_result(result)
    }

    async fn sql(
        &mut self,
        statement: String,
        params: Vec<types::Value>,
    ) -> Result<data::DataTable, types::AppError> {
        self.host_calls += 1;
        let provider = self.services.data.clone();
        let params = params.into_iter().map(convert::value_from_wit).collect();
        let result = provider
            .sql(&self.services.invocation, statement, params)
            .await;
        table_result(result)
    }
}

/// A provider's answer as the WIT result. A table the columnar form cannot
/// carry (a cell of another kind than its column) is a bug in the provider:
/// the app gets an internal error that says so.
fn table_result(
    result: Result<zhiyun_contract::DataTable, zhiyun_contract::AppError>,
) -> Result<data::DataTable, types::AppError> {
    let table = result.map_err(convert::error_to_wit)?;
    convert::table_to_wit(table).map_err(|m| {
        tracing::error!("the data provider returned a malformed table: {m}");
        convert::error_to_wit(zhiyun_contract::AppError::internal(format!(
            "the host's data provider returned a malformed table ({m}); this is a bug in the host, not in the app"
        )))
    })
}

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, message: String) {
        self.log.push(convert::level_from_wit(level), message);
    }
}

impl context::Host for HostState {
    async fn current(&mut self) -> context::Invocation {
        convert::invocation_to_wit(&self.services.invocation)
    }
}
