//! Typed errors of the sandbox. A limit hit, a trap or a hostile component is
//! always one of these, for that call only; the host keeps serving.

use std::time::Duration;
use zhiyun_contract::{AppError, ErrorKind};

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a valid WebAssembly component (or are a core module).
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// The component imports something outside the contract.
    #[error(
        "the component imports {import:?}, which is outside the zhiyun:app contract ({reason})"
    )]
    ForbiddenImport { import: String, reason: String },
    /// The component does not implement the world of its declared kind.
    #[error("the component does not implement the `{world}` world: {reason}")]
    WrongWorld { world: String, reason: String },
    /// Compiling or caching failed on the host side.
    #[error("could not prepare the component: {0}")]
    Host(String),
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The app returned an error value (its own, typed).
    #[error("the app returned an error: {0}")]
    App(AppError),
    /// The deadline passed.
    #[error("the app did not finish within its deadline of {} ms", .limit.as_millis())]
    Timeout { limit: Duration },
    /// The app tried to grow its memory past the cap.
    #[error("the app tried to use more than its memory limit of {limit_bytes} bytes")]
    MemoryLimit { limit_bytes: usize },
    /// The app's output is larger than allowed.
    #[error("the app's output is larger than its limit of {limit_bytes} bytes")]
    OutputTooLarge { limit_bytes: usize },
    /// The instruction budget ran out.
    #[error("the app used up its instruction budget ({fuel} units of fuel)")]
    FuelExhausted { fuel: u64 },
    /// The app trapped (including a Rust panic, which traps in Wasm).
    #[error("the app crashed: {message}")]
    Trap { message: String },
    /// Too many invocations are waiting; try again later.
    #[error("the sandbox is busy: {0}")]
    Busy(String),
    /// The host failed (instantiation, a bug). Never the app's fault.
    #[error("internal error in the sandbox: {0}")]
    Internal(String),
}

impl InvokeError {
    /// The contract error kind this maps to, for APIs and metrics.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InvokeError::App(e) => e.kind,
            InvokeError::Timeout { .. } => ErrorKind::Timeout,
            InvokeError::MemoryLimit { .. }
            | InvokeError::OutputTooLarge { .. }
            | InvokeError::FuelExhausted { .. }
            | InvokeError::Busy(_) => ErrorKind::QuotaExceeded,
            InvokeError::Trap { .. } | InvokeError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// A short stable label for metrics ("timeout", "memory", "trap", ...).
    pub fn label(&self) -> &'static str {
        match self {
            InvokeError::App(_) => "app-error",
            InvokeError::Timeout { .. } => "timeout",
            InvokeError::MemoryLimit { .. } => "memory",
            InvokeError::OutputTooLarge { .. } => "output-size",
            InvokeError::FuelExhausted { .. } => "fuel",
            InvokeError::Trap { .. } => "trap",
            InvokeError::Busy(_) => "busy",
            InvokeError::Internal(_) => "internal",
        }
    }
}
