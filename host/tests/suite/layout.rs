//! The crate's architecture, checked: the host side and the worker side
//! meet only through `protocol`, and no modules import each other in a
//! cycle, between the parts or inside them.
//!
//! The check reads the library's sources (`host/src`, without `main.rs` and
//! `cli/`, which belong to the binary) and collects every path that starts
//! with `crate::`, `super::` or `self::`, in `use` declarations and in code
//! (not in comments: a doc link is no dependency). Each module depends on
//! the modules those paths name. Test modules
//! (declared under `#[cfg(test)]`) are left out: they may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level part may use which: everything else is refused.
const ALLOWED: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("pool", &["protocol"]),
    ("worker", &["protocol"]),
];

/// A module, as the path of names from the crate root.
type Module = Vec<String>;

struct Crate {
    /// Every module with the modules its source refers to.
    deps: BTreeMap<Module, BTreeSet<Module>>,
}

impl Crate {
    fn load(src: &Path) -> Crate {
        let mut crate_ = Crate {
            deps: BTreeMap::new(),
        };
        crate_.add(src.join("lib.rs"), Vec::new(), src.to_path_buf());
        crate_
    }

    /// Reads the module `module` from `file`, whose child modules live in
    /// `dir`, and every module it declares.
    fn add(&mut self, file: PathBuf, module: Module, dir: PathBuf) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let lines: Vec<&str> = text.lines().collect();
        let end = (1..lines.len())
            .find(|&i| lines[i - 1].trim() == "#[cfg(test)]" && opens_inline_module(lines[i]))
            .unwrap_or(lines.len());
        let code: String = lines[..end]
            .iter()
            .filter(|line| !line.trim_start().starts_with("//"))
            .map(|line| format!("{line}\n"))
            .collect();
        let mut refs = BTreeSet::new();
        for path in paths(&code) {
            refs.insert(resolve(&module, &path));
        }
        for (child, test_only) in children(&text) {
            if test_only {
                continue;
            }
            let mut sub = module.clone();
            sub.push(child.clone());
            let (file, dir) = if dir.join(format!("{child}.rs")).is_file() {
                (dir.join(format!("{child}.rs")), dir.join(&child))
            } else {
                (dir.join(&child).join("mod.rs"), dir.join(&child))
            };
            if module.is_empty() && child == "cli" {
                continue;
            }
            self.add(file, sub, dir);
        }
        self.deps.insert(module, refs);
    }

    /// The longest known module that `path` starts with.
    fn module_of(&self, path: &[String]) -> Module {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| self.deps.contains_key(m))
            .unwrap_or_default()
    }

    /// For each module, the modules it depends on, as known modules.
    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        self.deps
            .iter()
            .map(|(module, refs)| {
                let targets = refs
                    .iter()
                    .map(|r| self.module_of(r))
                    .filter(|m| m != module)
                    .collect();
                (module.clone(), targets)
            })
            .collect()
    }
}

/// Whether `line` opens an inline module (`mod tests {`). One under
/// `#[cfg(test)]` ends its file by custom: from there on, the file is left
/// out.
fn opens_inline_module(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("mod ") && line.ends_with('{')
}

/// The modules a source file declares (`mod name;`), and whether each is
/// declared for tests only.
fn children(text: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut test_only = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with("#[cfg(test)]") {
            test_only = true;
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let decl = line
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            found.push((name.trim().to_string(), test_only));
        }
        test_only = false;
    }
    found
}

/// Every path starting with `crate::`, `super::` or `self::` in `text`,
/// with `use` groups (`use crate::a::{b, c::d}`) expanded.
fn paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        let root = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|root| rest.starts_with(root));
        match root {
            Some(_) if at_word_start => {
                let (expanded, len) = expand(rest);
                out.extend(expanded);
                i += len.max(1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Expands the path at the start of `text`, with its `{...}` groups; returns
/// the paths and how many bytes they took.
fn expand(text: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut prefix = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i > start {
            prefix.push(text[start..i].to_string());
        }
        if text[i..].starts_with("::{") {
            i += 3;
            let mut all = Vec::new();
            loop {
                while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    i += 1;
                    break;
                }
                let (inner, len) = expand(&text[i..]);
                for path in inner {
                    let mut full = prefix.clone();
                    full.extend(path);
                    all.push(full);
                }
                i += len;
                while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'}' {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b',' {
                    i += 1;
                }
            }
            return (all, i);
        }
        if text[i..].starts_with("::")
            && text[i + 2..].starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '{')
        {
            i += 2;
            continue;
        }
        return (vec![prefix], i);
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `path` as seen from `module`, made absolute.
fn resolve(module: &Module, path: &[String]) -> Vec<String> {
    let mut base = module.clone();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        _ => {}
    }
    while rest.first().map(String::as_str) == Some("super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    base
}

/// The cycles among the children of each module: a child depends on a
/// sibling when anything in its subtree refers to the sibling's subtree, and
/// on its parent when it refers to the parent's own items.
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<String> {
    let mut found = Vec::new();
    for parent in edges.keys() {
        let kids: Vec<&Module> = edges
            .keys()
            .filter(|m| m.len() == parent.len() + 1 && m.starts_with(parent))
            .collect();
        if kids.is_empty() {
            continue;
        }
        // The parent's own file declares every child: it depends on them all.
        let node_of = |m: &Module| -> Option<Module> {
            if m == parent {
                return Some(parent.clone());
            }
            (m.len() > parent.len() && m.starts_with(parent)).then(|| m[..=parent.len()].to_vec())
        };
        let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (from, tos) in edges {
            let Some(a) = node_of(from) else { continue };
            for to in tos {
                if let Some(b) = node_of(to)
                    && a != b
                    && a != *parent
                {
                    graph.entry(a.clone()).or_default().insert(b);
                }
            }
        }
        for kid in &kids {
            for other in graph.get(*kid).cloned().unwrap_or_default() {
                if reaches(&graph, &other, kid) || other == *parent {
                    found.push(format!(
                        "{} -> {} -> ... -> {}",
                        kid.join("::"),
                        name(&other),
                        kid.join("::")
                    ));
                }
            }
        }
    }
    found
}

fn name(module: &Module) -> String {
    match module.is_empty() {
        true => "crate".into(),
        false => module.join("::"),
    }
}

fn reaches(graph: &BTreeMap<Module, BTreeSet<Module>>, from: &Module, to: &Module) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.clone()];
    while let Some(m) = stack.pop() {
        if &m == to {
            return true;
        }
        if seen.insert(m.clone()) {
            stack.extend(graph.get(&m).into_iter().flatten().cloned());
        }
    }
    false
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn host_and_worker_meet_only_through_the_protocol() {
    let crate_ = Crate::load(&src());
    let parts: Vec<&str> = ALLOWED.iter().map(|(part, _)| *part).collect();
    let mut wrong = Vec::new();
    for (from, tos) in crate_.edges() {
        let Some(part) = from.first() else { continue };
        let allowed = ALLOWED
            .iter()
            .find(|(p, _)| p == part)
            .unwrap_or_else(|| panic!("module {part} is in no part: add it to ALLOWED"))
            .1;
        for to in tos {
            match to.first() {
                Some(other) if other != part && !allowed.contains(&other.as_str()) => {
                    wrong.push(format!("{} uses {}", name(&from), name(&to)));
                }
                None => wrong.push(format!("{} uses the crate root", name(&from))),
                _ => {}
            }
        }
    }
    assert!(
        crate_
            .deps
            .keys()
            .filter(|m| m.len() == 1)
            .all(|m| parts.contains(&m[0].as_str())),
        "every top-level module must be a part: {:?}",
        crate_.deps.keys().collect::<Vec<_>>()
    );
    assert!(
        wrong.is_empty(),
        "imports across parts:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_imports_form_a_cycle() {
    let crate_ = Crate::load(&src());
    let found = cycles(&crate_.edges());
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_cycles_and_crossings() {
    // Two sibling modules that use each other, and a child that uses its
    // parent's own items: both are cycles.
    let m = |s: &str| -> Module {
        s.split("::")
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    };
    let mut edges = BTreeMap::new();
    edges.insert(m(""), BTreeSet::new());
    edges.insert(m("a"), BTreeSet::new());
    edges.insert(m("a::x"), BTreeSet::from([m("a::y")]));
    edges.insert(m("a::y"), BTreeSet::from([m("a::x")]));
    edges.insert(m("b"), BTreeSet::new());
    edges.insert(m("b::z"), BTreeSet::from([m("b")]));
    let found = cycles(&edges);
    assert_eq!(found.len(), 3, "{found:?}");
    // Paths in groups and relative paths resolve.
    let found = paths("use crate::a::{b, c::{d, e}};\nlet x = super::super::f::g();");
    let found: Vec<Module> = found.iter().map(|p| resolve(&m("p::q::r"), p)).collect();
    assert!(found.contains(&m("a::b")), "{found:?}");
    assert!(found.contains(&m("a::c::e")), "{found:?}");
    assert!(found.contains(&m("p::f::g")), "{found:?}");
}
