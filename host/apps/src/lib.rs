//! Micro-app packages.
//!
//! - [`manifest`]: the `app.toml` manifest, parsed into a validated
//!   [`Manifest`] with precise errors (file, dotted field path, line and
//!   column).
//! - [`package`]: the one-file package format `<id>-<version>.zyapp` (a
//!   gzip tar of `app.toml`, `app.wasm` and `SHA256SUMS`): [`pack`] and the
//!   verifying reader [`Package`].
//! - [`scaffold`]: new app projects from the embedded templates.
//! - [`cron`]: the five-field cron expressions of `[schedule]`.
//!
//! Nothing here runs an app: the runtime crate does, from the component bytes
//! a verified [`Package`] hands it.

pub mod cron;
pub mod manifest;
pub mod package;
pub mod scaffold;

pub use cron::CronSchedule;
pub use manifest::{
    AppName, DatasetDecl, HostLimits, Limits, MANIFEST_FILE, Manifest, ManifestError,
    ParameterDecl, Position, Schedule,
};
pub use package::{
    COMPONENT_FILE, PACKAGE_EXTENSION, Package, PackageError, PackedPackage, SUMS_FILE,
    check_component, pack, pack_bytes, sha256_hex,
};
pub use scaffold::{ScaffoldError, new_project};
