//! The on-disk cache of precompiled modules and components (AOT artifacts).
//!
//! A precompiled module is native code and loading one is `unsafe` in wasmtime, so an artifact is
//! only used when everything about it checks out: its file name carries the SHA-256 of the `.wasm`
//! and a fingerprint of this engine (wasmtime version and code-affecting settings), and a sidecar
//! holds the SHA-256 of the artifact itself, verified on every load. Anything else (tampered,
//! truncated, foreign, or made by another engine) is discarded with a warning and recompiled.
//! Writes go to a temporary file and are renamed into place, so hosts sharing a directory never see
//! half-written entries; a verified artifact is loaded from the very bytes that were checked.
#![allow(
    unsafe_code,
    reason = "loading a precompiled artifact is unsafe in wasmtime; each call carries a SAFETY note"
)]

use super::guest::GuestKind;
use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// Folder inside a package that holds precompiled artifacts (an artifact cache the packaged
/// runtime reads).
pub const ARTIFACTS_DIR: &str = "artifacts";

/// Names a function's compiled artifact in a cache: its guest kind, its module's hash, and whether
/// the artifact is of the pre-initialized snapshot rather than of the module as built. ABI v1
/// modules keep the plain hash (so caches made before guest kinds existed stay valid); another
/// kind gets its own suffix, so two kinds of one binary can never share an artifact.
pub fn artifact_key(kind: GuestKind, module_hash: &str, preinit: bool) -> String {
    match (kind, preinit) {
        (GuestKind::AbiV1, false) => module_hash.to_owned(),
        (GuestKind::AbiV1, true) => format!("{module_hash}-preinit"),
        // Components are never pre-initialized (yet): the flag cannot be set for them.
        (GuestKind::WasiHttp, _) => format!("{module_hash}-component"),
    }
}

/// Compiled code the cache holds artifacts of: core modules and components.
pub trait Artifact: Sized {
    /// Compiles `wasm` to an artifact of this engine.
    #[cfg(feature = "compiler")]
    fn precompile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Vec<u8>>;

    /// Loads an artifact.
    ///
    /// # Safety
    ///
    /// `bytes` must be an artifact this host made with an engine of the same fingerprint (see
    /// `Module::deserialize`).
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
}

impl Artifact for Module {
    #[cfg(feature = "compiler")]
    fn precompile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Vec<u8>> {
        engine.precompile_module(wasm)
    }

    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is this function's.
        unsafe { Module::deserialize(engine, bytes) }
    }
}

impl Artifact for Component {
    #[cfg(feature = "compiler")]
    fn precompile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Vec<u8>> {
        engine.precompile_component(wasm)
    }

    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is this function's.
        unsafe { Component::deserialize(engine, bytes) }
    }
}

/// Compiles `wasm` for `engine` as its kind needs: a module or a component.
#[cfg(feature = "compiler")]
pub fn precompile(engine: &Engine, kind: GuestKind, wasm: &[u8]) -> wasmtime::Result<Vec<u8>> {
    match kind {
        GuestKind::AbiV1 => Module::precompile(engine, wasm),
        GuestKind::WasiHttp => Component::precompile(engine, wasm),
    }
}

/// File name extension of an artifact.
pub const ARTIFACT_EXT: &str = "cwasm";
/// File name extension of an artifact's checksum sidecar.
pub const CHECKSUM_EXT: &str = "cwasm.sha256";

/// How a module was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a verified artifact; nothing compiled.
    Hit,
    /// No artifact existed; compiled and stored.
    Compiled,
    /// An artifact existed but failed verification; discarded, recompiled and stored.
    Rebuilt {
        /// Why the old artifact was refused.
        reason: String,
    },
}

impl CacheOutcome {
    /// Short name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Compiled => "compiled",
            CacheOutcome::Rebuilt { .. } => "rebuilt",
        }
    }
}

/// SHA-256 of a module's bytes, hex.
pub fn module_hash(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

/// A directory of verified artifacts for one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    fingerprint: String,
}

struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only the digest is read")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The wasmtime this host is built with (pinned with `=` in `host/Cargo.toml`; a test holds the two
/// together).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Names the code this build of edgefn generates for `arch`: our version, wasmtime's, the
/// architecture and every code-affecting engine setting. It is computed from constants, so the
/// compiling `edgefn` and the runtime-only `edgefn-runtime` (which has no compiler to ask) agree
/// on it; wasmtime itself checks the rest (CPU features, tunables) when it loads an artifact.
pub fn engine_fingerprint(arch: &str) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(
        format!(
            "edgefn {} wasmtime {WASMTIME_VERSION} {arch} {}",
            env!("CARGO_PKG_VERSION"),
            super::engine::code_settings()
        )
        .as_bytes(),
    );
    hex::encode(&hasher.0.finalize()[..12])
}

/// What the artifacts of this machine's architecture are named after.
pub fn native_fingerprint() -> String {
    engine_fingerprint(std::env::consts::ARCH)
}

/// The default cache directory: `$EDGEFN_CACHE_DIR`, else `$XDG_CACHE_HOME/edgefn`, else
/// `~/.cache/edgefn`, else a folder under the system temp dir.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EDGEFN_CACHE_DIR") {
        return dir.into();
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("edgefn");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("edgefn");
    }
    std::env::temp_dir().join("edgefn-cache")
}

impl ArtifactCache {
    /// Opens (creating if needed) a cache directory of artifacts for this machine.
    pub fn open(dir: &Path) -> anyhow::Result<ArtifactCache> {
        ArtifactCache::open_for(dir, std::env::consts::ARCH)
    }

    /// Opens (creating if needed) a cache directory of artifacts for `arch` (a package for
    /// another architecture is precompiled into one of these).
    pub fn open_for(dir: &Path, arch: &str) -> anyhow::Result<ArtifactCache> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("cannot create the artifact cache directory {} (set --cache-dir or EDGEFN_CACHE_DIR to a writable folder)", dir.display())
        })?;
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            fingerprint: engine_fingerprint(arch),
        })
    }

    /// The folder this cache writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the artifact named `key`.
    pub fn artifact_path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("{key}-{}.{ARTIFACT_EXT}", self.fingerprint))
    }

    fn checksum_path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("{key}-{}.{CHECKSUM_EXT}", self.fingerprint))
    }

    /// True when a verified-looking entry (artifact and checksum) exists; does not load it.
    pub fn contains(&self, key: &str) -> bool {
        self.artifact_path(key).is_file() && self.checksum_path(key).is_file()
    }

    /// Loads the artifact named `key` (`Deployed::artifact_key`) from the cache, or compiles the module
    /// `wasm()` returns and stores it. `wasm` is only called on a miss. `C` is what the artifact
    /// is of: a [`Module`] or a [`Component`], as the function's kind says (its key carries it).
    pub fn load_or_compile<C: Artifact>(
        &self,
        engine: &Engine,
        key: &str,
        wasm: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<(C, CacheOutcome)> {
        let outcome = match self.load_verified(engine, key) {
            Ok(Some(module)) => return Ok((module, CacheOutcome::Hit)),
            Ok(None) => CacheOutcome::Compiled,
            Err(reason) => {
                let reason = format!("{reason:#}");
                tracing::warn!(
                    artifact = %self.artifact_path(key).display(),
                    %reason,
                    "discarding an artifact cache entry that failed verification; recompiling"
                );
                let _ = std::fs::remove_file(self.artifact_path(key));
                let _ = std::fs::remove_file(self.checksum_path(key));
                CacheOutcome::Rebuilt { reason }
            }
        };
        self.compile(engine, key, wasm, outcome)
    }

    /// Compiles the module and stores its artifact.
    #[cfg(feature = "compiler")]
    fn compile<C: Artifact>(
        &self,
        engine: &Engine,
        key: &str,
        wasm: impl FnOnce() -> anyhow::Result<Vec<u8>>,
        outcome: CacheOutcome,
    ) -> anyhow::Result<(C, CacheOutcome)> {
        let wasm = wasm()?;
        let artifact = C::precompile(engine, &wasm)?;
        if let Err(error) = self.store(key, &artifact) {
            // A read-only cache (a Lambda or Azure package folder) still runs; it just compiles
            // again next start.
            tracing::warn!(error = %format!("{error:#}"), "cannot write to the artifact cache; the compiled module is used from memory only");
        }
        // SAFETY: `artifact` was produced by this engine a moment ago, in this process.
        let module = unsafe { C::deserialize(engine, &artifact) }
            .map_err(|e| anyhow::anyhow!("its compiled code cannot be loaded: {e}"))?;
        Ok((module, outcome))
    }

    /// Without a compiler a missing or refused artifact is the end: the message names what was
    /// looked for, what was found and how to make a package this runtime can load.
    #[cfg(not(feature = "compiler"))]
    fn compile<C: Artifact>(
        &self,
        _engine: &Engine,
        key: &str,
        _wasm: impl FnOnce() -> anyhow::Result<Vec<u8>>,
        outcome: CacheOutcome,
    ) -> anyhow::Result<(C, CacheOutcome)> {
        let found: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| name.starts_with(key) && name.ends_with(&format!(".{ARTIFACT_EXT}")))
            .collect();
        let why = match outcome {
            CacheOutcome::Rebuilt { reason } => format!("its artifact was refused: {reason}"),
            _ if found.is_empty() => format!("{} holds no artifact for it", self.dir.display()),
            _ => format!(
                "{} holds artifacts of another engine ({}), not of this runtime's ({})",
                self.dir.display(),
                found.join(", "),
                self.fingerprint
            ),
        };
        anyhow::bail!(
            "no precompiled artifact this runtime can load ({key}-{}.{ARTIFACT_EXT}): {why}. edgefn-runtime {} (wasmtime {WASMTIME_VERSION}, {}) does not compile; package the function with `edgefn package` of the same edgefn version",
            self.fingerprint,
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH
        )
    }

    /// `Ok(None)`: no entry. `Err`: an entry that must not be trusted.
    fn load_verified<C: Artifact>(&self, engine: &Engine, key: &str) -> anyhow::Result<Option<C>> {
        let bytes = match std::fs::read(self.artifact_path(key)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("cannot read the artifact"),
        };
        let expected = match std::fs::read_to_string(self.checksum_path(key)) {
            Ok(sum) => sum,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("the artifact has no checksum file")
            }
            Err(e) => return Err(e).context("cannot read the artifact checksum"),
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        anyhow::ensure!(
            actual == expected.trim(),
            "checksum mismatch: the artifact was modified, truncated or written by something else"
        );
        // SAFETY: these exact bytes hash to what this host recorded when it compiled the module with
        // an engine of the same fingerprint, and wasmtime copies them into memory of its own, so
        // nothing done to the file later (even in place) can change the code that runs.
        let module = unsafe { C::deserialize(engine, &bytes) }
            .map_err(|e| anyhow::anyhow!("wasmtime refused the artifact: {e}"))?;
        Ok(Some(module))
    }

    /// Writes an artifact and its checksum atomically (temp file + rename).
    pub fn store(&self, key: &str, artifact: &[u8]) -> anyhow::Result<()> {
        write_atomically(&self.artifact_path(key), artifact)?;
        let sum = hex::encode(Sha256::digest(artifact));
        write_atomically(&self.checksum_path(key), sum.as_bytes())
    }
}

/// Writes `bytes` to `path` through a uniquely named temporary file in the same folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "tmp.{}.{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_names_the_wasmtime_this_crate_is_pinned_to() {
        let manifest = include_str!("../../Cargo.toml");
        assert!(
            manifest.contains(&format!("wasmtime = {{ version = \"={WASMTIME_VERSION}\"")),
            "host/Cargo.toml no longer pins wasmtime {WASMTIME_VERSION}: update WASMTIME_VERSION"
        );
        assert_ne!(engine_fingerprint("x86_64"), engine_fingerprint("aarch64"));
    }

    #[test]
    fn the_key_carries_the_kind_so_kinds_never_share_an_artifact() {
        let hash = module_hash(b"same bytes");
        let keys = [
            artifact_key(GuestKind::AbiV1, &hash, false),
            artifact_key(GuestKind::AbiV1, &hash, true),
            artifact_key(GuestKind::WasiHttp, &hash, false),
        ];
        assert_eq!(
            keys[0], hash,
            "ABI v1 keys stay as caches before kinds wrote them"
        );
        assert!(keys[2].ends_with("-component"), "{}", keys[2]);
        assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    }

    #[test]
    fn a_component_is_cached_and_loaded_as_a_component() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = ArtifactCache::open(dir.path()).unwrap();
        let wasm = wat::parse_str("(component)").unwrap();
        let key = artifact_key(GuestKind::WasiHttp, &module_hash(&wasm), false);
        let (_, outcome): (Component, _) = cache
            .load_or_compile(&engine, &key, || Ok(wasm.clone()))
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Compiled);
        let (_, outcome): (Component, _) = cache
            .load_or_compile(&engine, &key, || panic!("a hit must not read the wasm"))
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        // The same artifact read as a core module is refused by wasmtime, not run.
        let loaded: anyhow::Result<(Module, _)> =
            cache.load_or_compile(&engine, &key, || Ok(wasm.clone()));
        assert!(loaded.is_err(), "a component artifact loaded as a module");
    }

    const WAT: &str = r#"(module (func (export "f") (result i32) i32.const 7))"#;

    fn engine() -> Engine {
        Engine::new(&crate::runtime::engine::code_config()).unwrap()
    }

    fn call_f(engine: &Engine, module: &Module) -> i32 {
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(u64::MAX);
        let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
        instance
            .get_typed_func::<(), i32>(&mut store, "f")
            .unwrap()
            .call(&mut store, ())
            .unwrap()
    }

    #[test]
    fn miss_then_hit_then_tamper_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = ArtifactCache::open(dir.path()).unwrap();
        let wasm = wat::parse_str(WAT).unwrap();
        let hash = module_hash(&wasm);

        let (m, outcome) = cache
            .load_or_compile(&engine, &hash, || Ok(wasm.clone()))
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Compiled);
        assert_eq!(call_f(&engine, &m), 7);

        let (m, outcome) = cache
            .load_or_compile(&engine, &hash, || panic!("a hit must not read the wasm"))
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        assert_eq!(call_f(&engine, &m), 7);

        // Flip one byte in the middle of the artifact.
        let path = cache.artifact_path(&hash);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (m, outcome) = cache
            .load_or_compile(&engine, &hash, || Ok(wasm.clone()))
            .unwrap();
        assert!(
            matches!(outcome, CacheOutcome::Rebuilt { ref reason } if reason.contains("checksum"))
        );
        assert_eq!(call_f(&engine, &m), 7);

        // Truncate it, and separately drop its checksum: both refused and rebuilt.
        std::fs::write(&path, &bytes[..100]).unwrap();
        let (_, outcome): (Module, _) = cache
            .load_or_compile(&engine, &hash, || Ok(wasm.clone()))
            .unwrap();
        assert!(matches!(outcome, CacheOutcome::Rebuilt { .. }));
        std::fs::remove_file(cache.checksum_path(&hash)).unwrap();
        let (_, outcome): (Module, _) = cache
            .load_or_compile(&engine, &hash, || Ok(wasm.clone()))
            .unwrap();
        assert!(
            matches!(outcome, CacheOutcome::Rebuilt { ref reason } if reason.contains("no checksum"))
        );
    }

    #[test]
    fn foreign_artifact_with_matching_checksum_is_refused_by_wasmtime() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = ArtifactCache::open(dir.path()).unwrap();
        let wasm = wat::parse_str(WAT).unwrap();
        let hash = module_hash(&wasm);
        // Not an artifact at all, but with a correct checksum: wasmtime's own header check refuses it.
        cache
            .store(&hash, b"\x7fELF definitely not a wasmtime artifact")
            .unwrap();
        let (m, outcome) = cache
            .load_or_compile(&engine, &hash, || Ok(wasm.clone()))
            .unwrap();
        assert!(
            matches!(outcome, CacheOutcome::Rebuilt { ref reason } if reason.contains("refused"))
        );
        assert_eq!(call_f(&engine, &m), 7);
    }
}
