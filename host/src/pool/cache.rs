//! The compile cache on disk: a worker's compiled component, kept so that
//! later runs skip compiling. The host owns the files (workers need no file
//! access); workers compile and deserialize.
//!
//! A cached artifact is machine code that wasmtime loads without checking it,
//! so every file carries a tag, BLAKE3 keyed with a secret that only
//! this user can read (`key`, created 0600). The host hands a worker an
//! artifact only once its tag verifies; a file that fails is ignored and
//! rewritten by the next compile. The cache is used only in a directory that
//! this user owns and nobody else may write to, with a key that is a regular
//! file (never a symbolic link) that only this user can read; files are
//! written under fresh names, created exclusively, and renamed into place,
//! so a symbolic link planted in the directory is never written through.
//! Files are named by a BLAKE3 hash of the component's own BLAKE3 digest
//! (taken as it is loaded, see `Component::from_bytes`) and of the
//! engine's compatibility hash (wasmtime's version and every setting that
//! changes the code it makes). BLAKE3, not SHA-256: a run on a warm cache
//! hashes the component and its compiled code, tens of megabytes for an
//! interpreter, and BLAKE3 does that several times faster.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::artifact::Artifact;
use crate::protocol::{Limits, engine};

/// Bytes of the secret key, and of each file's tag.
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 32;

/// An open cache directory and its secret key.
pub(crate) struct CompileCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

/// Where one component's artifact lives, for one set of engine settings.
pub(crate) struct Entry {
    path: PathBuf,
    /// The hash naming the entry; tagged along with the artifact, so a
    /// valid file cannot be passed off under another name.
    id: [u8; 32],
}

impl CompileCache {
    /// The cache in `dir`, or `None` when it cannot be used: then it says
    /// why on stderr, once per process and directory, and the run goes on
    /// without a cache (compiling in each run).
    pub(crate) fn open_or_warn(dir: &Path) -> Option<CompileCache> {
        static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
        match CompileCache::open(dir) {
            Ok(cache) => Some(cache),
            Err(error) => {
                let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
                if warned.insert(dir.to_path_buf()) {
                    let dir = dir.display();
                    let warning =
                        format!("wpool: warning: the compile cache in {dir} is off: {error}\n");
                    // A closed stderr loses the warning, nothing else.
                    let _ = std::io::stderr().write_all(warning.as_bytes());
                }
                None
            }
        }
    }

    /// Opens (creating) the cache in `dir`. Fails when the directory cannot
    /// be made, is not this user's or others may write to it, or its key
    /// file is not a regular file of this user's that only this user can
    /// read: then the run goes on without a cache.
    fn open(dir: &Path) -> io::Result<CompileCache> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let meta = fs::metadata(dir)?;
        if !meta.is_dir() || !owned_by_us(&meta) || meta.mode() & 0o022 != 0 {
            return Err(io::Error::other(
                "it must be a directory of this user's that nobody else may write to",
            ));
        }
        let path = dir.join("key");
        let key = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                let mut key = [0u8; KEY_LEN];
                rustix::rand::getrandom(&mut key, rustix::rand::GetRandomFlags::empty())?;
                file.write_all(&key)?;
                file.sync_all()?;
                key
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key(&path)?,
            Err(e) => return Err(e),
        };
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// The entry of the component whose bytes hash to `digest`, compiled
    /// with the engine settings of `limits` and `concurrency` (see
    /// `engine::config`).
    pub(crate) fn entry(
        &self,
        digest: &blake3::Hash,
        limits: &Limits,
        concurrency: bool,
    ) -> wasmtime::Result<Entry> {
        let engine = wasmtime::Engine::new(&engine::config(limits, concurrency))?;
        let mut hasher = IdHasher(blake3::Hasher::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let id: [u8; 32] = hasher.0.update(digest.as_bytes()).finalize().into();
        let name: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Entry {
            path: self.dir.join(format!("{name}.cwasm")),
            id,
        })
    }

    /// The artifact of `entry`, if its file exists and its tag verifies: the
    /// file itself, read once through to check the tag (the artifact, then
    /// its tag), and then mapped by the workers it is sent to.
    pub(crate) fn get(&self, entry: &Entry) -> Option<Artifact> {
        let mut file = fs::File::open(&entry.path).ok()?;
        let len = file.metadata().ok()?.len().checked_sub(TAG_LEN as u64)?;
        let mut mac = self.mac(entry);
        mac.update_reader((&mut file).take(len)).ok()?;
        let mut tag = [0u8; TAG_LEN];
        file.read_exact(&mut tag).ok()?;
        // `blake3::Hash` compares in constant time.
        (mac.finalize() == blake3::Hash::from_bytes(tag)).then(|| Artifact::verified(file, len))
    }

    /// Stores `artifact` under `entry`, atomically: a reader sees the old
    /// file or the new one, never half of one.
    pub(crate) fn put(&self, entry: &Entry, artifact: &[u8]) -> io::Result<()> {
        // Unique among the runs of all processes, so that two runs never
        // write the same temporary file.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tag = self.mac(entry).update(artifact).finalize();
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let temp = entry
            .path
            .with_extension(format!("tmp{}-{n}", std::process::id()));
        // A fresh name, created exclusively: whatever is already there (a
        // symbolic link planted by someone) makes this write fail, never
        // redirects it.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(artifact)?;
        file.write_all(tag.as_bytes())?;
        drop(file);
        fs::rename(&temp, &entry.path).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }

    /// The keyed hash of `entry`'s tag, fed its id, for the artifact next.
    fn mac(&self, entry: &Entry) -> blake3::Hasher {
        let mut mac = blake3::Hasher::new_keyed(&self.key);
        mac.update(&entry.id);
        mac
    }
}

/// Reads an existing key file, refusing a symbolic link, and a file that is
/// not this user's or that others could read or write.
fn read_key(path: &Path) -> io::Result<[u8; KEY_LEN]> {
    let refused = || {
        io::Error::other(format!(
            "its key {} must be a regular file of this user's with mode 0600",
            path.display()
        ))
    };
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refused(),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() || !owned_by_us(&meta) || meta.mode() & 0o077 != 0 {
        return Err(refused());
    }
    let mut key = [0u8; KEY_LEN];
    file.read_exact(&mut key)?;
    Ok(key)
}

fn owned_by_us(meta: &fs::Metadata) -> bool {
    meta.uid() == rustix::process::getuid().as_raw()
}

/// Feeds what [`Hash`] writes into a BLAKE3 hash, which, unlike std's
/// hashers, is the same in every build.
struct IdHasher(blake3::Hasher);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the digest is read")
    }
}

/// The default cache directory: `$WPOOL_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wpool`, else `$HOME/.cache/wpool`.
pub(crate) fn default_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    var("WPOOL_CACHE_DIR").map(PathBuf::from).or_else(|| {
        var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".cache")))
            .map(|dir| dir.join("wpool"))
    })
}
