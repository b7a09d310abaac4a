//! `wpool new`: write a task project in Rust, Python or JavaScript (a WIT
//! world with an example function, the code, a README with the build
//! command) that `wpool run DIR` builds and runs as written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use super::Outcome;

/// Write a new task project: a WIT world exporting an example function
/// (square), its code, and a README with the build command.
///
/// `wpool run DIR` and `wpool inspect DIR` build the project with its
/// language's toolchain (cargo, componentize-py, componentize-js) and say
/// how to install the toolchain when it is missing.
///
/// Examples:
///
///   wpool new squares --lang python && wpool run squares 0..10
///
///   wpool new counter --lang js --shared
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct NewArgs {
    /// The directory to make; its name (lowercase words joined by '-', such
    /// as my-task) names the world and the package.
    dir: PathBuf,

    /// The language of the task.
    #[arg(long, value_enum)]
    lang: Lang,

    /// Include the wpool:task imports (queues, pipes, locks, shared values)
    /// in the world, with their WIT in wit/deps.
    #[arg(long)]
    shared: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

const WORLD: &str = include_str!("templates/world.wit");
const README: &str = include_str!("templates/README.md");
const GITIGNORE: &str = include_str!("templates/gitignore");
const CARGO_TOML: &str = include_str!("templates/Cargo.toml");
const LIB_RS: &str = include_str!("templates/lib.rs");
const APP_PY: &str = include_str!("templates/app.py");
const APP_JS: &str = include_str!("templates/app.js");
/// The `wpool:task` package, for `--shared`.
const TASK_WIT: &str = include_str!("../../../wit/task.wit");

impl Lang {
    fn describe(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }

    /// The source file, where it goes, and its template.
    fn source(self) -> (&'static str, &'static str) {
        match self {
            Lang::Rust => ("src/lib.rs", LIB_RS),
            Lang::Python => ("app.py", APP_PY),
            Lang::Js => ("app.js", APP_JS),
        }
    }

    /// The commands that build the component, and where it is then.
    fn build(self, name: &str) -> (String, String) {
        match self {
            Lang::Rust => (
                "cargo build --release --target wasm32-wasip2".into(),
                format!(
                    "target/wasm32-wasip2/release/{}.wasm",
                    name.replace('-', "_")
                ),
            ),
            Lang::Python => (
                format!(
                    "mkdir -p target && componentize-py -d wit componentize app -o target/{name}.wasm"
                ),
                format!("target/{name}.wasm"),
            ),
            Lang::Js => (
                format!(
                    "mkdir -p target && componentize-js app.js --wit wit -o target/{name}.wasm"
                ),
                format!("target/{name}.wasm"),
            ),
        }
    }

    fn toolchain(self) -> &'static str {
        match self {
            Lang::Rust => {
                "It needs Rust and its wasm32-wasip2 target: `rustup target add wasm32-wasip2`."
            }
            Lang::Python => "It needs componentize-py: `pip install componentize-py==0.25.1`.",
            Lang::Js => {
                "It needs componentize-js: `npm install --global \
                 @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.17.9`."
            }
        }
    }
}

/// `wpool new`: makes the directory and writes every file, or, when any
/// step fails, removes what it made.
pub(crate) fn new(args: NewArgs) -> anyhow::Result<Outcome> {
    let NewArgs { dir, lang, shared } = args;
    let name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .with_context(|| format!("{} does not end in a name", dir.display()))?;
    check_name(name)?;
    let files = files(name, lang, shared);
    std::fs::create_dir(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
    if let Err(error) = write_all(&dir, &files) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(error);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote a {} task in {}:",
        lang.describe(),
        dir.display()
    )?;
    for (path, _) in &files {
        writeln!(out, "  {path}")?;
    }
    writeln!(out, "run it with: wpool run {} 0..10", dir.display())?;
    Ok(Outcome::Success)
}

/// A name is a WIT identifier, as the world and the package take it:
/// lowercase words of letters and digits, each starting with a letter,
/// joined by '-', and no WIT keyword.
fn check_name(name: &str) -> anyhow::Result<()> {
    let words_ok = name.split('-').all(|word| {
        word.starts_with(|c: char| c.is_ascii_lowercase())
            && word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    let parses = words_ok
        && wit_parser::Resolve::default()
            .push_str(
                "world.wit",
                &format!("package local:{name};\nworld {name} {{}}\n"),
            )
            .is_ok();
    if !parses {
        bail!(
            "{name:?} cannot name a task: use lowercase words of letters and digits joined by '-' \
             (such as my-task), not a WIT keyword"
        );
    }
    Ok(())
}

/// Every file of the project: its path in the directory, and its text.
fn files(name: &str, lang: Lang, shared: bool) -> Vec<(String, String)> {
    let (source, code) = lang.source();
    let (build, wasm) = lang.build(name);
    let include = match shared {
        true => "\n  include wpool:task/host@0.1.0;\n",
        false => "",
    };
    let shared_note = match shared {
        true => {
            "\nThe world includes `wpool:task/host@0.1.0` (its WIT is in `wit/deps/`):\n\
             queues, pipes, locks and shared values, opened by name."
        }
        false => "",
    };
    let generate_all = match shared {
        true => ", generate_all",
        false => "",
    };
    let fill = |template: &str| {
        template
            .replace("{name}", name)
            .replace("{include}", include)
            .replace("{generate_all}", generate_all)
            .replace("{language}", lang.describe())
            .replace("{source}", source)
            .replace("{shared}", shared_note)
            .replace("{build}", &build)
            .replace("{wasm}", &wasm)
            .replace("{toolchain}", lang.toolchain())
    };
    let mut files = vec![
        ("wit/world.wit".to_string(), fill(WORLD)),
        (source.to_string(), fill(code)),
        ("README.md".to_string(), fill(README)),
        (".gitignore".to_string(), GITIGNORE.to_string()),
    ];
    if let Lang::Rust = lang {
        files.push(("Cargo.toml".to_string(), fill(CARGO_TOML)));
    }
    if shared {
        files.push((
            "wit/deps/wpool-task/task.wit".to_string(),
            TASK_WIT.to_string(),
        ));
    }
    files
}

fn write_all(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot make {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
