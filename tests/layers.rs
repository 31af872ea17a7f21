//! The source tree keeps its layers: a module uses only modules of its own
//! layer or below, and no two source files use each other, directly or
//! around a loop. Read from the text of `src/` (library code; test modules,
//! which sit at the end of a file behind `#[cfg(test)]`, are left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, bottom up. A module may use its own layer and those
/// before it.
const LAYERS: &[&[&str]] = &[
    &["error", "device", "validate"],
    &["math", "table"],
    &["nn"],
    &["train"],
    &["persist"],
    &["detectors"],
    &["eval"],
    &["io", "datasets"],
    &["baselines"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod") | Some("lib")) {
        parts.pop();
    }
    parts
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().unwrap() != "bin" {
                rs_files(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The library code of a file: everything before its first top-level
/// `#[cfg(test)]`, with `//` comments removed.
fn code(text: &str) -> String {
    let end = text.find("\n#[cfg(test)]").unwrap_or(text.len());
    text[..end].lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Every `crate::a::b::...` and `super::...` path in `code`, as absolute
/// segment lists (a path stops at the first `{`, `*` or other character).
/// Re-exports (`pub use`) are structure, not use, and are skipped.
fn paths(code: &str, module: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let code: String = code
        .split_inclusive(';')
        .filter(|st| {
            let t = st.trim_start();
            !(t.starts_with("pub use ") || t.starts_with("pub(crate) use "))
        })
        .collect();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        for (s, _) in code.match_indices(start) {
            if s > 0 && ident(bytes[s - 1]) {
                continue;
            }
            let rest = &code[s..];
            let end = rest.bytes().position(|c| !ident(c)).unwrap_or(rest.len());
            let segs: Vec<&str> = rest[..end].split("::").filter(|x| !x.is_empty()).collect();
            // `super` of `a/b/mod.rs` (module a::b) and of `a/b.rs` is `a`.
            let mut abs: Vec<String> = if segs[0] == "crate" { Vec::new() } else { module.to_vec() };
            let _ = is_mod_file;
            for seg in segs {
                match seg {
                    "crate" | "self" => {}
                    "super" => {
                        abs.pop();
                    }
                    x => abs.push(x.to_string()),
                }
            }
            out.push(abs);
        }
    }
    out
}

/// Names re-exported by `pub use` in a module file: name -> the path it
/// names (absolute).
fn reexports(code: &str, module: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut map = BTreeMap::new();
    for stmt in code.split(';') {
        let t = stmt.trim();
        let Some(body) = t.strip_prefix("pub use ").or_else(|| t.strip_prefix("pub(crate) use ")) else { continue };
        let body: String = body.split_whitespace().collect();
        let (prefix, names): (&str, Vec<&str>) = match body.find('{') {
            Some(b) => (&body[..b], body[b + 1..body.len() - 1].split(',').filter(|n| !n.is_empty()).collect()),
            None => match body.rfind("::") {
                Some(c) => (&body[..c + 2], vec![&body[c + 2..]]),
                None => continue,
            },
        };
        let segs: Vec<&str> = prefix.split("::").filter(|x| !x.is_empty()).collect();
        let mut abs: Vec<String> = match segs.first() {
            Some(&"crate") => Vec::new(),
            _ => module.to_vec(),
        };
        for s in segs.iter().filter(|s| **s != "crate" && **s != "self") {
            if *s == "super" {
                abs.pop();
            } else {
                abs.push(s.to_string());
            }
        }
        for n in names {
            let n = n.split("as").next().unwrap_or(n);
            if n == "self" {
                continue;
            }
            let mut target = abs.clone();
            target.push(n.to_string());
            map.insert(n.to_string(), target);
        }
    }
    map
}

#[test]
fn layers_hold_and_no_file_uses_itself_around_a_loop() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let texts: Vec<(Vec<String>, bool, String)> = files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap();
            (module_of(&src, f), name == "mod.rs" || name == "lib.rs", code(&std::fs::read_to_string(f).unwrap()))
        })
        .collect();
    let mut exports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (m, is_mod, c) in &texts {
        if *is_mod {
            exports.insert(m.clone(), reexports(c, m));
        }
    }
    // A path, resolved to the module that defines what it names: the longest
    // module prefix, following re-exports of module files.
    let resolve = |p: &[String]| -> Vec<String> {
        let mut p = p.to_vec();
        for _ in 0..8 {
            let k = (0..=p.len()).rev().find(|&k| modules.contains(&p[..k].to_vec())).unwrap_or(0);
            let m = p[..k].to_vec();
            match (p.get(k), exports.get(&m)) {
                (Some(name), Some(ex)) if ex.contains_key(name) => p = ex[name].clone(),
                _ => return m,
            }
        }
        p
    };
    let mut problems = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, is_mod, c) in &texts {
        for p in paths(c, m, *is_mod) {
            let to = resolve(&p);
            if to.is_empty() || m.starts_with(&to) || to == *m {
                continue;
            }
            let (from_top, to_top) = (&m[0], &to[0]);
            match (layer_of(from_top), layer_of(to_top)) {
                (Some(a), Some(b)) if b > a => {
                    problems.push(format!("{} (layer {a}) uses {} (layer {b})", m.join("::"), to.join("::")))
                }
                (None, _) | (_, None) => problems.push(format!("{} or {} is in no layer", m.join("::"), to.join("::"))),
                _ => {}
            }
            edges.entry(m.clone()).or_default().insert(to);
        }
    }
    // Loops between files: depth-first search for a back edge.
    fn visit(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        problems: &mut Vec<String>,
    ) {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for t in edges.get(n).into_iter().flatten() {
            match state.get(t) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == t).unwrap_or(0);
                    let cycle: Vec<String> = stack[at..].iter().chain([t]).map(|s| s.join("::")).collect();
                    problems.push(format!("import loop: {}", cycle.join(" -> ")));
                }
                Some(_) => {}
                None => visit(t, edges, state, stack, problems),
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if !state.contains_key(n) {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut problems);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The check sees the tree: the detectors use the layers below them.
    let det = edges.get(&vec!["detectors".to_string(), "ae".to_string()]).expect("detectors::ae uses modules");
    assert!(det.iter().any(|t| t[0] == "nn") && det.iter().any(|t| t[0] == "persist"), "{det:?}");
}
