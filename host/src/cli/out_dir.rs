//! `--out-dir`: each task's bytes written to a file of their own in one
//! directory, named after the task's input file (or its index) as
//! `--out-name` says, through a temporary file renamed into place, never
//! outside the directory, and never over an existing file without
//! `--force`.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::Permissions;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wpool::{Task, TaskOutput};

pub(crate) struct OutDir {
    dir: PathBuf,
    name: Template,
    /// Whether an existing file of the same name is replaced.
    force: bool,
    /// The names written by this run: a second input of the same name
    /// fails rather than replace the first one's output.
    written: HashSet<OsString>,
}

impl OutDir {
    /// Makes `dir` (and its parents) if needed, for the results of `task`,
    /// which must be bytes, named by the template `name`.
    pub(crate) fn create(
        dir: &Path,
        name: &str,
        force: bool,
        task: &Task,
    ) -> anyhow::Result<OutDir> {
        let name = Template::parse(name)?;
        if !task.returns_bytes() {
            bail!(
                "--out-dir needs a function that returns list<u8> or string, or a result whose ok is one; {} does not",
                task.name()
            );
        }
        if dir.exists() && !dir.is_dir() {
            bail!("--out-dir {} is not a directory", dir.display());
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot make the output directory {}", dir.display()))?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            name,
            force,
            written: HashSet::new(),
        })
    }

    /// Writes `bytes`, the result of `output`, to its file; returns the
    /// file's path, named by the template.
    ///
    /// # Errors
    /// A message saying why the file was not written: the template names
    /// no file for it, it exists (without `--force`), another input of this
    /// run wrote it, or the write failed. Nothing is left behind then.
    pub(crate) fn write(&mut self, output: &TaskOutput, bytes: &[u8]) -> Result<PathBuf, String> {
        let name = self.name.apply(output);
        if name.is_empty() || name == "." || name == ".." {
            return Err(format!(
                "--out-name makes {name:?} of its input, which names no file"
            ));
        }
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

/// An `--out-name` template: text, with `{name}`, `{stem}`, `{ext}` and
/// `{index}` replaced for each result. It has no `/`: every name it makes
/// is a file of the directory.
struct Template(Vec<Part>);

enum Part {
    Text(String),
    /// The input file's name: `a.tar.gz`; for an input that is not a file,
    /// the task's index.
    Name,
    /// That name without its last extension: `a.tar`.
    Stem,
    /// Its last extension, without the dot: `gz`; empty if it has none.
    Ext,
    /// The task's index: its input's position, from 0.
    Index,
}

/// What `--out-name` may hold, for messages.
const PLACEHOLDERS: &str = "{name}, {stem}, {ext} and {index}";

impl Template {
    fn parse(template: &str) -> anyhow::Result<Template> {
        if template.is_empty() || template.contains(['/', '\0']) {
            bail!("--out-name {template:?}: a file name, without '/', is needed");
        }
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            let Some(open) = rest.find(['{', '}']) else {
                parts.push(Part::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            rest = &rest[open..];
            let (part, len) = match rest {
                _ if rest.starts_with("{name}") => (Part::Name, 6),
                _ if rest.starts_with("{stem}") => (Part::Stem, 6),
                _ if rest.starts_with("{ext}") => (Part::Ext, 5),
                _ if rest.starts_with("{index}") => (Part::Index, 7),
                _ => bail!(
                    "--out-name {template:?}: a brace starts none of {PLACEHOLDERS} at {rest:?}"
                ),
            };
            parts.push(part);
            rest = &rest[len..];
        }
        Ok(Template(parts))
    }

    /// The file name for `output`.
    fn apply(&self, output: &TaskOutput) -> OsString {
        let file = output.input.file_path().map(Path::new);
        let index = || OsString::from(output.index.to_string());
        let mut name = OsString::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => name.push(text),
                Part::Name => name.push(
                    file.and_then(Path::file_name)
                        .map_or_else(index, OsStr::to_os_string),
                ),
                Part::Stem => name.push(
                    file.and_then(Path::file_stem)
                        .map_or_else(index, OsStr::to_os_string),
                ),
                Part::Ext => name.push(file.and_then(Path::extension).unwrap_or_default()),
                Part::Index => name.push(index()),
            }
        }
        name
    }
}
