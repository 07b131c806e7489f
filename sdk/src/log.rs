//! The app's log (the host keeps it with the invocation, capped in size).
//!
//! Use the functions, or the `format!`-style macros [`crate::info!`] etc.:
//! `zhiyun_sdk::info!("{} accounts", n)`. Anything an app prints to stdout or
//! stderr also ends up in its log, but through these calls each line carries
//! a level.

use crate::bindings::scenario::zhiyun::app::log as wit_log;

pub use wit_log::Level;

/// Writes one message at `level`.
pub fn write(level: Level, message: &str) {
    wit_log::write(level, message);
}

pub fn trace(message: &str) {
    write(Level::Trace, message);
}
pub fn debug(message: &str) {
    write(Level::Debug, message);
}
pub fn info(message: &str) {
    write(Level::Info, message);
}
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
pub fn error(message: &str) {
    write(Level::Error, message);
}

/// Logs at trace level: `zhiyun_sdk::trace!("{x}")`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::trace(&::std::format!($($arg)*)) };
}
/// Logs at debug level: `zhiyun_sdk::debug!("{x}")`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}
/// Logs at info level: `zhiyun_sdk::info!("{x}")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}
/// Logs at warn level: `zhiyun_sdk::warn!("{x}")`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}
/// Logs at error level: `zhiyun_sdk::error!("{x}")`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
