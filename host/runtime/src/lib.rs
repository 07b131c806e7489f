//! The sandbox that runs micro-apps (微应用).
//!
//! Owns: the one wasmtime [`Engine`](wasmtime::Engine) of the process (pooling
//! allocator, epoch interruption driven by one ticker thread), WASI linked
//! with nothing behind it (no preopened directories, no sockets, no name
//! lookup, empty environment; stdout/stderr captured with a cap), the
//! per-invocation limits (deadline, memory, output size, optional fuel), the
//! on-disk cache of compiled artifacts, and component introspection (what a
//! component imports and exports, and whether that stays inside the
//! contract).
//!
//! Host imports are dispatched to [`zhiyun_contract::DataProvider`]; this
//! crate knows nothing about HTTP, SQL, permissions or where data lives.
//!
//! Flow of one invocation: [`Runtime::load`] (sha256 → cached artifact or
//! compile → introspect → check contract → `InstancePre`) once per component,
//! then [`Runtime::invoke`] per call (fresh `Store`, limits, call, convert the
//! result, account for output size).

mod bindings;
mod cache;
mod convert;
mod error;
mod host;
mod introspect;
mod runtime;

pub use error::{InvokeError, LoadError};
pub use introspect::{ComponentInfo, ItemInfo};
pub use runtime::{
    Call, EPOCH_TICK, Limits, LoadedApp, LogLine, Outcome, Runtime, RuntimeConfig, Services, Stats,
};
