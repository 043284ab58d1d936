//! The shape of the house, checked: the floors of `src/` import only downwards, no two files
//! import each other (directly or round a loop), and no file grows past 600 lines.
//!
//! It reads the source as text: every `use` tree and every `crate::`, `super::` or `self::`
//! path outside comments and inline test modules is resolved to the file that defines the
//! module it names (the longest prefix of the path that is a file). docs/architecture.md draws
//! the floors this test enforces.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, bottom first. A module may import its own floor's modules and lower ones.
const FLOORS: &[&[&str]] = &[
    &["clock", "http", "telemetry"],
    &["providers", "event"],
    &["config"],
    &["store"],
    &["delivery"],
    &["pipeline"],
    // The running generation (config, routes, destinations) that admin reads and reload swaps.
    &["live"],
    // The quarantine's writer reads the running config's bounds, as admin does.
    &["admin", "quarantine"],
    // The operator console: pages over admin's functions; app mounts it beside admin.
    &["console"],
    &["app", "fuzzing"],
    &["cli"],
];

const MAX_LINES: usize = 600;

struct SourceFile {
    /// `providers::github` for `src/providers/github.rs`; empty for `lib.rs` and `main.rs`.
    module: Vec<String>,
    path: PathBuf,
    text: String,
}

fn source_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).expect("under src");
                let mut module: Vec<String> = relative
                    .with_extension("")
                    .iter()
                    .map(|part| part.to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                let text = std::fs::read_to_string(&path).expect("a source file is UTF-8");
                files.push(SourceFile { module, path, text });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The code of a file without comments and without its inline `#[cfg(test)] mod … { … }`.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.contains("mod ") && next.trim_end().ends_with('{'))
        {
            // Skip the test module: count braces from its opening line to its end.
            let mut depth = 0i32;
            for line in lines.by_ref() {
                depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
                if depth <= 0 {
                    break;
                }
            }
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find(" // ") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Expands one `use` tree (`super::{a, b::{c, d}}`) into its paths.
fn expand_use_tree(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .flat_map(|part| {
            expand_use_tree(part)
                .into_iter()
                .map(move |path| format!("{prefix}{path}"))
        })
        .collect()
}

/// Every path of a file's code that starts at `crate`, `super`, `self` or one of the file's own
/// child modules (`github::preset` in `providers/mod.rs`), the latter written as `self::…`.
fn crate_paths(code: &str, children: &[String]) -> Vec<Import> {
    let mut paths: Vec<(String, bool)> = Vec::new();
    let mut rest = code;
    // `use` trees (they may span lines and hold braces).
    let mut without_uses = String::new();
    while let Some(at) = find_keyword(rest, "use ") {
        without_uses.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        let tree = after[..end].split(" as ").next().unwrap_or_default();
        let reexport = rest[..at]
            .trim_end_matches([' ', '\t'])
            .ends_with(['b', ')']);
        paths.extend(expand_use_tree(tree).into_iter().map(|p| (p, reexport)));
        rest = &after[(end + 1).min(after.len())..];
    }
    without_uses.push_str(rest);
    // Paths written inline.
    let roots = ["crate", "super", "self"]
        .into_iter()
        .map(str::to_owned)
        .chain(children.iter().cloned())
        .map(|root| format!("{root}::"));
    for root in roots {
        let mut from = 0;
        while let Some(found) = without_uses[from..].find(root.as_str()) {
            let start = from + found;
            let boundary = without_uses[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let end = without_uses[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(without_uses.len(), |len| start + len);
            if boundary {
                paths.push((without_uses[start..end].to_owned(), false));
            }
            from = end.max(start + root.len());
        }
    }
    paths
        .into_iter()
        .filter_map(|(path, reexport)| {
            let path = path.split(" as ").next().unwrap_or_default();
            let first = path.split("::").next().unwrap_or_default();
            let path = if ["crate", "super", "self"].contains(&first) {
                path.to_owned()
            } else if children.iter().any(|child| child == first) {
                format!("self::{path}")
            } else {
                return None;
            };
            Some(Import { path, reexport })
        })
        .collect()
}

/// A path a file names, and whether it names it only to re-export it (`pub use`): a module's
/// facade, which makes the parent no client of its child's code.
#[derive(Debug, PartialEq)]
struct Import {
    path: String,
    reexport: bool,
}

/// `use ` at the start of a statement (after `pub`, `pub(crate)` or a line start).
fn find_keyword(text: &str, keyword: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(keyword) {
        let at = from + found;
        let before = text[..at].trim_end_matches([' ', '\t']);
        if before.is_empty()
            || before.ends_with(['\n', ';', '{', '}', ')'])
            || before.ends_with("pub")
        {
            return Some(at);
        }
        from = at + keyword.len();
    }
    None
}

/// The module a path names, as segments from the crate root.
fn absolute(path: &str, file: &SourceFile) -> Vec<String> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    // A `foo.rs` or `foo/mod.rs` file is module `…::foo`; `self` is that module.
    let mut base: Vec<String> = file.module.clone();
    match segments.first() {
        Some(&"crate") => {
            base.clear();
            segments.remove(0);
        }
        Some(&"self") => {
            segments.remove(0);
        }
        _ => {
            while segments.first() == Some(&"super") {
                base.pop();
                segments.remove(0);
            }
        }
    }
    base.extend(segments.into_iter().map(str::to_owned));
    base
}

fn floor_of(top: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&top))
}

/// Which file imports which (by module path), across all of `src/`; with `reexports`, also the
/// files a `pub use` names.
fn import_graph(files: &[SourceFile], reexports: bool) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = file.module.join("::");
        let targets = graph.entry(from.clone()).or_default();
        let children: Vec<String> = modules
            .iter()
            .filter(|m| m.len() == file.module.len() + 1 && m.starts_with(&file.module))
            .filter_map(|m| m.last().cloned())
            .collect();
        for import in crate_paths(&code_of(&file.text), &children) {
            if import.reexport && !reexports {
                continue;
            }
            let mut target = absolute(&import.path, file);
            while !target.is_empty() && !modules.contains(&target) {
                target.pop();
            }
            let to = target.join("::");
            // Naming one's own items, or the crate root, is no import.
            if to != from && !target.is_empty() {
                targets.insert(to);
            }
        }
    }
    graph
}

#[test]
fn no_file_under_src_is_longer_than_six_hundred_lines() {
    let long: Vec<String> = source_files()
        .iter()
        .filter(|f| f.text.lines().count() > MAX_LINES)
        .map(|f| format!("{} ({} lines)", f.path.display(), f.text.lines().count()))
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:#?}");
}

#[test]
fn every_import_points_to_the_same_floor_or_a_lower_one() {
    let files = source_files();
    let mut upward = Vec::new();
    for (from, targets) in import_graph(&files, true) {
        let from_top = from.split("::").next().unwrap_or_default();
        let Some(from_floor) = floor_of(from_top) else {
            continue;
        };
        for to in targets {
            let to_top = to.split("::").next().unwrap_or_default();
            if let Some(to_floor) = floor_of(to_top)
                && to_floor > from_floor
            {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports from a lower floor to a higher one: {upward:#?}"
    );
}

#[test]
fn every_module_of_src_is_on_a_floor() {
    let tops: BTreeSet<String> = source_files()
        .iter()
        .filter_map(|f| f.module.first().cloned())
        .collect();
    let missing: Vec<&String> = tops.iter().filter(|t| floor_of(t).is_none()).collect();
    assert!(
        missing.is_empty(),
        "add these modules to FLOORS: {missing:?}"
    );
}

#[test]
fn no_two_files_import_each_other_directly_or_round_a_loop() {
    let graph = import_graph(&source_files(), false);
    let loops = strongly_connected(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .collect::<Vec<_>>();
    assert!(loops.is_empty(), "import loops: {loops:#?}");
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'g>(walk: &mut Walk<'g>, node: &'g str) {
        let n = walk.index.len();
        walk.index.insert(node, n);
        walk.low.insert(node, n);
        walk.stack.push(node);
        walk.on_stack.insert(node);
        if let Some(targets) = walk.graph.get(node) {
            for target in targets {
                let target = target.as_str();
                if !walk.index.contains_key(target) {
                    visit(walk, target);
                    let low = walk.low[node].min(walk.low[target]);
                    walk.low.insert(node, low);
                } else if walk.on_stack.contains(target) {
                    let low = walk.low[node].min(walk.index[target]);
                    walk.low.insert(node, low);
                }
            }
        }
        if walk.low[node] == walk.index[node] {
            let mut component = Vec::new();
            while let Some(member) = walk.stack.pop() {
                walk.on_stack.remove(member);
                component.push(member.to_owned());
                if member == node {
                    break;
                }
            }
            walk.components.push(component);
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            visit(&mut walk, node);
        }
    }
    walk.components
}

#[test]
fn the_import_reader_resolves_use_trees_and_relative_paths() {
    let file = SourceFile {
        module: vec!["providers".into(), "github".into()],
        path: PathBuf::from("src/providers/github.rs"),
        text: String::new(),
    };
    let paths = crate_paths(
        "use super::{hmac::{Params, Template}, Overrides};\nfn f() { crate::clock::now_ms(); }\n",
        &[],
    );
    let resolved: Vec<String> = paths
        .iter()
        .map(|import| absolute(&import.path, &file).join("::"))
        .collect();
    assert_eq!(
        resolved,
        [
            "providers::hmac::Params",
            "providers::hmac::Template",
            "providers::Overrides",
            "clock::now_ms"
        ]
    );
    assert_eq!(
        crate_paths(
            "let x = github::preset(s)?; let y = not_github::z;",
            &["github".into()]
        ),
        [Import {
            path: "self::github::preset".into(),
            reexport: false
        }]
    );
    assert_eq!(
        crate_paths(
            "pub use github::Github;\npub(crate) use self::hmac::Mac;",
            &["github".into()]
        ),
        [
            Import {
                path: "self::github::Github".into(),
                reexport: true
            },
            Import {
                path: "self::hmac::Mac".into(),
                reexport: true
            }
        ]
    );
    assert!(
        crate_paths(
            &code_of("//! see [`crate::pipeline`]\n#[cfg(test)]\nmod tests {\n    use crate::pipeline;\n}\n"),
            &[]
        )
        .is_empty()
    );
}
