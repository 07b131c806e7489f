//! On-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes far longer than loading a
//! compiled artifact, so each component is compiled once and the serialized
//! artifact kept under `<dir>/<sha256>-<engine key>.cwasm`. The engine key
//! hashes wasmtime's own compatibility hash (wasmtime version and every
//! engine setting that affects code), so an upgrade or a config change never
//! loads a stale artifact.
//!
//! Deserializing an artifact is `unsafe` in wasmtime: the bytes are trusted to
//! be code wasmtime wrote. So every artifact is written with an HMAC-SHA256
//! tag under a per-host secret key (`<dir>/host.key`, created on first use,
//! mode 0600), and an artifact is deserialized only if its tag verifies. A
//! file someone else put or changed in the directory is ignored and
//! recompiled.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

const TAG_LEN: usize = 32;

pub(crate) struct ArtifactCache {
    dir: PathBuf,
    key: [u8; 32],
    engine_key: String,
}

/// How a component was obtained, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactSource {
    Compiled,
    Cache,
}

impl ArtifactCache {
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let key = load_or_create_key(&dir.join("host.key"))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            engine_key,
        })
    }

    fn path_for(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    fn tag(&self, bytes: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(self.engine_key.as_bytes());
        mac.update(bytes);
        mac.finalize().into_bytes().into()
    }

    /// Loads the artifact for `sha256` if this host wrote it, else compiles
    /// `wasm` and stores the artifact.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, ArtifactSource)> {
        let path = self.path_for(sha256);
        if let Ok(file) = std::fs::read(&path) {
            if let Some(component) = self.deserialize_verified(engine, &file) {
                return Ok((component, ArtifactSource::Cache));
            }
            tracing::warn!(path = %path.display(), "ignoring a cached artifact this host did not write");
            let _ = std::fs::remove_file(&path);
        }
        let serialized = engine.precompile_component(wasm)?;
        // SAFETY: the bytes were produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &serialized)? };
        if let Err(e) = self.store(&path, &serialized) {
            tracing::warn!(error = %e, "could not write the compiled artifact to the cache");
        }
        Ok((component, ArtifactSource::Compiled))
    }

    fn deserialize_verified(&self, engine: &Engine, file: &[u8]) -> Option<Component> {
        if file.len() < TAG_LEN {
            return None;
        }
        let (tag, body) = file.split_at(TAG_LEN);
        let mut mac = HmacSha256::new_from_slice(&self.key).ok()?;
        mac.update(self.engine_key.as_bytes());
        mac.update(body);
        mac.verify_slice(tag).ok()?;
        // SAFETY: the HMAC proves this host wrote these bytes with
        // `precompile_component` for an engine of the same compatibility key.
        unsafe { Component::deserialize(engine, body).ok() }
    }

    fn store(&self, path: &Path, serialized: &[u8]) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.tag(serialized))?;
            f.write_all(serialized)?;
            f.sync_all()?;
        }
        // Rename is atomic: a concurrent reader sees the old file or the new one.
        std::fs::rename(&tmp, path)
    }
}

fn load_or_create_key(path: &Path) -> std::io::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path)
        && bytes.len() == 32
    {
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_key(&dir.path().join("host.key")).unwrap();
        let b = load_or_create_key(&dir.path().join("host.key")).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("host.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
