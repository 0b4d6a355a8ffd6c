//! The crate's layering holds: every `crate::<module>` path in `src/` (in
//! `use` lines and inline) names a module of a lower layer than the file's
//! own top-level module. Modules sharing a layer are independent: neither
//! imports the other. The table below is the one in `src/lib.rs`.

use std::path::Path;

/// Top-level modules, from the top layer down.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["node", "bench"],
    &["api"],
    &["auth"],
    &["replica"],
    &["audit"],
    &["storage"],
    &["raft"],
    &["state"],
    &["rbac", "barrier", "credential"],
    &["seal"],
    &["config", "client"],
    &["tls"],
    &["crypto", "proto", "error_code", "fsutil", "names", "faults"],
];

/// The layer of `module`, numbered from 1 at the top as in `src/lib.rs`.
fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module)).map(|i| i + 1)
}

/// `line` without its `//` comment (a `//` inside a string literal stays).
fn code_of(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            _ if escaped => escaped = false,
            b'\\' if in_str => escaped = true,
            b'"' => in_str = !in_str,
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `line` names through `crate::` paths, grouped
/// imports (`use crate::{a, b::c}`) included.
fn references(line: &str) -> Vec<String> {
    let code = code_of(line);
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `$crate::` or `somecrate::` are not this crate's root.
        if preceded.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        out.push(ident(&group[i..]).to_owned());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest).to_owned());
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn references_are_found_in_paths_and_groups_but_not_comments() {
    assert_eq!(references("use crate::api::status::status;"), ["api"]);
    assert_eq!(references("    let x = crate::state::keys::VAULTS; // crate::api"), ["state"]);
    assert_eq!(references("use crate::{raft::{NodeId, TypeConfig}, state, self};"), ["raft", "state"]);
    assert_eq!(references(r#"let u = "https://x"; crate::tls::f()"#), ["tls"]);
    assert!(references("/// see [`crate::api`]").is_empty());
    assert!(references("$crate::x; other_crate::y").is_empty());
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.strip_suffix(".rs").unwrap_or(first);
        // The crate root declares the modules; the binary uses the library.
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer(module) else {
            violations.push(format!("src/{}: module `{module}` is not in the layer table", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in references(line) {
                if used == module {
                    continue;
                }
                let ok = layer(&used).is_some_and(|l| l > own);
                if !ok {
                    violations.push(format!(
                        "src/{}:{}: `{module}` (layer {own}) uses `{used}` (layer {})",
                        rel.display(),
                        n + 1,
                        layer(&used).map_or("none".to_owned(), |l| l.to_string())
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{} layering violations:\n{}", violations.len(), violations.join("\n"));
}
