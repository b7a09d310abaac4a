//! `--out-dir`: each task's bytes written to a file of their own in one
//! directory, named after the task's input file (or its index), through a
//! temporary file renamed into place, never outside the directory, and
//! never over an existing file without `--force`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::Permissions;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wpool::{Task, TaskOutput};

pub(crate) struct OutDir {
    dir: PathBuf,
    /// Whether an existing file of the same name is replaced.
    force: bool,
    /// The names written by this run: a second input of the same name
    /// fails rather than replace the first one's output.
    written: HashSet<OsString>,
}

impl OutDir {
    /// Makes `dir` (and its parents) if needed, for the results of `task`,
    /// which must be bytes.
    pub(crate) fn create(dir: &Path, force: bool, task: &Task) -> anyhow::Result<OutDir> {
        if !task.returns_bytes() {
            bail!(
                "--out-dir needs a function that returns list<u8> or string, or a result whose ok is one; {} does not",
                task.name()
            );
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot make the output directory {}", dir.display()))?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            force,
            written: HashSet::new(),
        })
    }

    /// Writes `bytes`, the result of `output`, to its file; returns the
    /// file's path. The name is the input file's name, or the task's index
    /// for an input that is not a file.
    ///
    /// # Errors
    /// A message saying why the file was not written: it exists (without
    /// `--force`), another input of this run wrote it, or the write failed.
    /// Nothing is left behind then.
    pub(crate) fn write(&mut self, output: &TaskOutput, bytes: &[u8]) -> Result<PathBuf, String> {
        let name = match output.input.file_path().and_then(Path::file_name) {
            Some(name) => name.to_os_string(),
            None => output.index.to_string().into(),
        };
        let path = self.dir.join(&name);
        if self.written.contains(&name) {
            return Err(format!(
                "{} was written by an earlier input of this run",
                path.display()
            ));
        }
        let cannot = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
        let mut file = tempfile::Builder::new()
            .prefix(".wpool-")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(&self.dir)
            .map_err(cannot)?;
        file.write_all(bytes).map_err(cannot)?;
        let persisted = match self.force {
            true => file.persist(&path),
            false => file.persist_noclobber(&path),
        };
        persisted.map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("{} exists; --force replaces it", path.display())
            }
            _ => cannot(e.error),
        })?;
        self.written.insert(name);
        Ok(path)
    }
}
