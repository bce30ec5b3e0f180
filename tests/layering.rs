//! The crates' files import from lower layers only: no file imports (through `use` or a
//! `crate::`/`super::` path) from a module that imports it back, directly or around a circle.
//! Paths through the crate root's re-exports are followed to the module that defines the item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file of `src`, by module path (`model/error.rs` is `["model", "error"]`).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let mut module: Module = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                found.insert(module, path);
            }
        }
    }
    found
}

/// The code of a file without comments and without its `#[cfg(test)] mod tests`.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = String::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .get(i + 1)
                .is_some_and(|l| l.trim().starts_with("mod tests"))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        kept.push_str(line.split(" //").next().unwrap_or(""));
        kept.push('\n');
    }
    kept
}

/// The full paths of a `use` tree such as `crate::{a::B, c::{D, E}}`.
fn expand(prefix: &[String], tree: &str) -> Vec<Vec<String>> {
    let mut items = Vec::new();
    let (mut depth, mut current) = (0, String::new());
    for c in tree.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    items.push(current);
    let mut paths = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if let Some(open) = item.find('{') {
            let head = item[..open].trim_end_matches("::");
            let mut next = prefix.to_vec();
            next.extend(
                head.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            paths.extend(expand(&next, &item[open + 1..item.len() - 1]));
        } else {
            let item = item.split(" as ").next().unwrap().trim();
            let mut path = prefix.to_vec();
            path.extend(item.split("::").map(|s| s.trim().to_owned()));
            paths.push(path);
        }
    }
    paths
}

/// `crate::...`/`super::...` paths used in `code`: `use` trees and inline paths.
fn paths(code: &str) -> Vec<Vec<String>> {
    let flat = code.replace('\n', " ");
    let mut found = Vec::new();
    let mut rest = flat.as_str();
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        rest = &rest[at + 4..];
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let start = rest.trim_start();
        if start.starts_with("crate") || start.starts_with("super") {
            let end = start.find(';').unwrap_or(start.len());
            found.extend(expand(&[], &start[..end]));
        }
    }
    let bytes = flat.as_bytes();
    for keyword in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = flat[from..].find(keyword) {
            let at = from + at;
            from = at + keyword.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let end = flat[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(flat.len(), |e| at + e);
            let path: Vec<String> = flat[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            found.push(path);
        }
    }
    found
}

struct Crate {
    modules: BTreeMap<Module, PathBuf>,
    /// Item name re-exported at the root -> the module path it was re-exported from.
    reexports: BTreeMap<String, Vec<String>>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let modules = modules(src);
        let root = code(&modules[&Vec::new()]);
        let mut reexports = BTreeMap::new();
        let mut rest = root.as_str();
        while let Some(at) = rest.find("pub use ") {
            rest = &rest[at + 8..];
            let end = rest.find(';').unwrap_or(rest.len());
            for path in expand(&[], &rest[..end].replace('\n', " ")) {
                if let Some((name, module)) = path.split_last() {
                    reexports.insert(name.clone(), module.to_vec());
                }
            }
        }
        Crate { modules, reexports }
    }

    /// The module a path used in `from` lands in.
    fn resolve(&self, from: &Module, path: &[String]) -> Option<Module> {
        let (mut base, mut rest): (Module, &[String]) = match path.first()?.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "super" => (from.clone(), path),
            _ => return None,
        };
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        if base.is_empty() {
            if let Some(first) = rest.first() {
                if !self.modules.contains_key(&vec![first.clone()]) {
                    if let Some(target) = self.reexports.get(first) {
                        let mut path = vec!["crate".to_owned()];
                        path.extend(target.iter().cloned());
                        path.extend(rest[1..].iter().cloned());
                        if target.first().is_some_and(|t| t != "crate") {
                            return self.resolve(&Vec::new(), &path);
                        }
                    }
                }
            }
        }
        for len in (1..=rest.len()).rev() {
            let mut candidate = base.clone();
            candidate.extend(rest[..len].iter().cloned());
            if self.modules.contains_key(&candidate) {
                return Some(candidate);
            }
        }
        Some(base)
    }

    /// Which modules each module imports from (the root left out: it only re-exports).
    fn imports(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut graph = BTreeMap::new();
        for (module, path) in &self.modules {
            if module.is_empty() {
                continue;
            }
            let mut targets = BTreeSet::new();
            for used in paths(&code(path)) {
                if let Some(target) = self.resolve(module, &used) {
                    if !target.is_empty() && &target != module {
                        targets.insert(target);
                    }
                }
            }
            graph.insert(module.clone(), targets);
        }
        graph
    }
}

/// The circles of `graph`: each strongly connected set of more than one module.
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    // Reachability by repeated search is plenty for a few dozen files.
    let reach = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&Module, BTreeSet<Module>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut found = BTreeSet::new();
    for (m, r) in &reaches {
        let circle: Vec<String> = r
            .iter()
            .filter(|other| reaches.get(other).is_some_and(|back| back.contains(*m)))
            .map(|other| other.join("/"))
            .collect();
        if circle.len() > 1 {
            found.insert(circle);
        }
    }
    found.into_iter().collect()
}

fn circles_of(krate: &str) -> Vec<Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(krate)
        .join("src");
    circles(&Crate::read(&src).imports())
}

#[test]
fn no_file_of_any_crate_imports_from_a_module_that_imports_it_back() {
    let mut found = Vec::new();
    for krate in [
        "jeto-core",
        "jeto-vagrant",
        "jeto-http",
        "jeto-nats",
        "jeto-server",
    ] {
        for circle in circles_of(krate) {
            found.push(format!("{krate}: {}", circle.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_core_folders_import_downwards_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("jeto-core/src");
    let graph = Crate::read(&src).imports();
    let layers = [
        "model",
        "metrics",
        "provider",
        "access",
        "store",
        "events",
        "webhooks",
        "scheduler",
        "service",
        "testing",
    ];
    let rank = |m: &Module| {
        layers
            .iter()
            .position(|l| m.first().is_some_and(|f| f == l))
    };
    for (from, targets) in &graph {
        let Some(from_rank) = rank(from) else {
            panic!("jeto-core/src/{} is in no concept folder", from.join("/"));
        };
        for target in targets {
            let to_rank = rank(target).expect("every target is in a folder");
            assert!(
                to_rank <= from_rank,
                "jeto-core/src/{} imports {} from a higher layer",
                from.join("/"),
                target.join("/")
            );
        }
    }
}

#[test]
fn the_checker_finds_a_circle_through_a_root_reexport() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use b::Thing;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::Thing;\npub struct A;\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub struct Thing(crate::a::A);\n").unwrap();
    assert_eq!(circles(&Crate::read(src).imports()), vec![vec!["a", "b"]]);
}
