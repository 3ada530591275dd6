//! The layering of the crate, checked: which top-level module may name which. Reads every file
//! under `src/`, finds each path that leaves its own top-level module (`crate::x`, `super::…`
//! reaching the crate root, and `shieldhsm::x` from the CLI), and fails on any arrow the table
//! below does not allow. Comments and string literals are ignored; test code counts.
//!
//! Arrows point down: a layer names only layers below it.
//!
//! ```text
//!   cli (src/cli, the `shieldhsm` binary)   fuzzing (for fuzz/)
//!    │                                       │
//!    │        abi ── C ABI, raw pointers     │
//!    │         │                             │
//!    │       token ── PKCS#11 sessions, login, the per-slot object table
//!    │         │
//!    └──────► byok ── Azure BYOK packages and transfers
//!              │
//!            module ── the emulated nShield: world, cards, softcards, ACLs, keygen, kmdata store
//!              │
//!             mech ── the cryptography (aws-lc)
//!              │
//!            object ── attributes, attribute policy, object files, the AEAD envelope
//!              │
//!            error        config ─► assurance
//! ```
//!
//! Cheap: a text scan, no build. Also checked: inside `object`, `mech`, `module`, `byok` and
//! `token`, no two sibling files reach each other through a cycle (production code; a file's
//! `mod.rs` parent is not a sibling).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the top-level modules it may name. Keep in step with the diagram
/// above and with `src/lib.rs`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    // The SAM overrides: a process-wide switch read from the bottom (mech: weak RSA) to the top.
    ("assurance", &[]),
    // cknfastrc and the environment; the library reads it at C_Initialize, the CLI at start.
    ("config", &["assurance"]),
    ("object", &["error"]),
    ("mech", &["object", "error", "assurance"]),
    ("module", &["mech", "object", "error", "assurance"]),
    ("byok", &["module", "mech", "object", "error"]),
    ("token", &["module", "mech", "object", "error", "assurance", "config"]),
    ("abi", &["token", "byok", "module", "mech", "object", "error"]),
    ("fuzzing", &["abi", "byok", "module", "mech", "object", "error"]),
    // The binary: administration tools over the module and BYOK; never token or mech.
    ("cli", &["byok", "module", "object", "assurance", "config"]),
];

/// Layers whose files must not form cycles among themselves.
const ACYCLIC_INSIDE: &[&str] = &["object", "mech", "module", "byok", "token"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `src/module/keygen/params.rs` → `[module, keygen, params]`,
/// `src/mech/mod.rs` → `[mech]`; the binary and its `cli` directory are one layer, `cli`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.with_extension("").iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        parts.clear();
    }
    if parts.first().is_some_and(|f| f == "bin" || f == "cli") {
        parts[0] = "cli".into();
    }
    parts
}

/// The source with comments, string and char literals blanked (newlines kept, so line numbers
/// hold).
fn code_only(s: &str) -> String {
    let b: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let keep_newlines = |out: &mut String, from: &[char]| {
        for c in from {
            out.push(if *c == '\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = b[i..].iter().position(|c| *c == '\n').map_or(b.len(), |n| i + n);
            keep_newlines(&mut out, &b[i..end]);
            i = end;
        } else if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j] == '/' && b.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == '*' && b.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            keep_newlines(&mut out, &b[i..j.min(b.len())]);
            i = j;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && starts_literal(&b[..i]) {
            // r"…", r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            keep_newlines(&mut out, &b[i..j.min(b.len())]);
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            keep_newlines(&mut out, &b[i..(j + 1).min(b.len())]);
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}', '{'), else a lifetime.
            let close = if next == Some('\\') {
                b.get(i + 3..).and_then(|rest| rest.iter().position(|c| *c == '\'')).map(|n| i + 3 + n)
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(j) => {
                    keep_newlines(&mut out, &b[i..=j]);
                    i = j + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether an `r` after `before` starts a raw string (`r"`, `br"`), not ends an identifier.
fn starts_literal(before: &[char]) -> bool {
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    match before {
        [.., p, 'b'] => !word(p),
        [.., p] => !word(p),
        [] => true,
    }
}

fn ident_at(b: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&b[start..i]).into_owned(), i)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// One path that names another module.
struct Use {
    line: usize,
    /// The absolute module path named (at least one segment).
    target: Vec<String>,
    /// Inside `#[cfg(test)]` code.
    test: bool,
}

/// Every `crate::…`, `shieldhsm::…` and `super::…` path in a file, resolved to absolute module
/// paths (as far as two segments). Inline `mod x { … }` blocks are followed, so `super` in a
/// file's `mod tests` means the file itself.
fn uses(file_mod: &[String], code: &str, in_bin: bool) -> Vec<Use> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    // Inline modules open: (name, brace depth inside it, is test).
    let mut inline: Vec<(String, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_cfg_test = false;
    let mut pending_mod: Option<(String, bool)> = None;
    let line_at = |i: usize| 1 + b[..i].iter().filter(|c| **c == b'\n').count();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'{' => {
                depth += 1;
                if let Some((name, test)) = pending_mod.take() {
                    inline.push((name, depth, test));
                }
                pending_cfg_test = false;
                i += 1;
                continue;
            }
            b'}' => {
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            b';' => {
                pending_mod = None;
                pending_cfg_test = false;
                i += 1;
                continue;
            }
            b'#' if code[i..].starts_with("#[cfg(test)]") => {
                pending_cfg_test = true;
                i += "#[cfg(test)]".len();
                continue;
            }
            _ => {}
        }
        if !(c.is_ascii_alphabetic() || c == b'_') {
            i += 1;
            continue;
        }
        let preceded = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':');
        let (word, end) = ident_at(b, i);
        if preceded {
            i = end;
            continue;
        }
        if word == "mod" {
            let j = skip_ws(b, end);
            let (name, k) = ident_at(b, j);
            if b.get(skip_ws(b, k)) == Some(&b'{') {
                pending_mod = Some((name, pending_cfg_test));
            }
            pending_cfg_test = false;
            i = k;
            continue;
        }
        let root_kind = match word.as_str() {
            "crate" if !in_bin => Some(0usize),
            "shieldhsm" if in_bin => Some(0),
            "super" => Some(1),
            _ => None,
        };
        let Some(mut supers) = root_kind else {
            i = end;
            continue;
        };
        // Follow `::segment` pieces.
        let mut segs: Vec<String> = Vec::new();
        let mut j = end;
        let mut group: Vec<String> = Vec::new();
        while b.get(j) == Some(&b':') && b.get(j + 1) == Some(&b':') {
            j = skip_ws(b, j + 2);
            if b.get(j) == Some(&b'{') {
                // `{a, b::c, …}`: the first segment of each item.
                let close = code[j..].find('}').map_or(b.len(), |n| j + n);
                for item in code[j + 1..close].split(',') {
                    let item = item.trim();
                    let (first, _) = ident_at(item.as_bytes(), 0);
                    if !first.is_empty() && first != "self" {
                        group.push(first);
                    }
                }
                j = close + 1;
                break;
            }
            let (s, k) = ident_at(b, j);
            if s.is_empty() {
                break;
            }
            if s == "super" && segs.is_empty() && supers > 0 {
                supers += 1;
            } else {
                segs.push(s);
            }
            j = k;
        }
        let test = inline.iter().any(|m| m.2);
        let line = line_at(i);
        let mut here: Vec<String> = file_mod.to_vec();
        here.extend(inline.iter().map(|m| m.0.clone()));
        let base: Vec<String> =
            if supers == 0 { Vec::new() } else { here[..here.len().saturating_sub(supers)].to_vec() };
        let mut add = |tail: Vec<String>| {
            let mut t = base.clone();
            t.extend(tail);
            t.truncate(2);
            if !t.is_empty() {
                out.push(Use { line, target: t, test });
            }
        };
        if segs.is_empty() {
            for g in group.drain(..) {
                add(vec![g]);
            }
        } else {
            let mut tail = segs.clone();
            if tail.len() == 1 {
                for g in group.drain(..) {
                    add(vec![tail[0].clone(), g]);
                }
            }
            tail.truncate(2);
            add(tail);
        }
        i = j.max(end);
    }
    out
}

struct Scan {
    /// (file, line, from top, to top).
    arrows: Vec<(String, usize, String, String)>,
    /// Production-code edges between files of one layer: from module path → to module paths.
    inner: BTreeMap<String, BTreeSet<String>>,
    tops: BTreeSet<String>,
}

fn scan() -> Scan {
    let root = src();
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut scan = Scan { arrows: Vec::new(), inner: BTreeMap::new(), tops: BTreeSet::new() };
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        let m = module_path(rel);
        let Some(top) = m.first().cloned() else { continue };
        scan.tops.insert(top.clone());
        let in_bin = top == "cli";
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        let me = m.join("::");
        for u in uses(&m, &code, in_bin) {
            let to_top = &u.target[0];
            if to_top != &top {
                scan.arrows.push((rel.display().to_string(), u.line, top.clone(), to_top.clone()));
            } else if !u.test && m.len() >= 2 && u.target.len() >= 2 {
                let to = u.target.join("::");
                if to != me {
                    scan.inner.entry(me.clone()).or_default().insert(to);
                }
            }
        }
    }
    scan
}

#[test]
fn every_arrow_between_layers_is_allowed() {
    let table: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let s = scan();
    for top in &s.tops {
        assert!(table.contains_key(top.as_str()), "src/{top} is not in the layer table of tests/layers.rs");
    }
    let bad: Vec<String> = s
        .arrows
        .iter()
        .filter(|(_, _, from, to)| !table.get(from.as_str()).is_some_and(|ok| ok.contains(&to.as_str())))
        .map(|(file, line, from, to)| format!("src/{file}:{line}: {from} → {to}"))
        .collect();
    assert!(bad.is_empty(), "arrows the layer table does not allow:\n{}", bad.join("\n"));
    // The scan sees what it should: a known arrow is found.
    assert!(s.arrows.iter().any(|(_, _, f, t)| f == "token" && t == "module"));
    assert!(s.arrows.iter().any(|(_, _, f, t)| f == "cli" && t == "module"));
}

#[test]
fn the_layer_table_has_no_cycle() {
    let table: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    fn visit<'a>(
        n: &'a str,
        t: &BTreeMap<&'a str, &'a [&'a str]>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(n) {
            return;
        }
        assert!(!path.contains(&n), "cycle in the layer table: {} → {n}", path.join(" → "));
        path.push(n);
        for d in t.get(n).copied().unwrap_or(&[]) {
            assert!(t.contains_key(d), "{n} may use {d}, which is not in the table");
            visit(d, t, path, done);
        }
        path.pop();
        done.insert(n);
    }
    let mut done = BTreeSet::new();
    for n in table.keys() {
        visit(n, &table, &mut Vec::new(), &mut done);
    }
}

#[test]
fn no_cycle_between_files_of_a_layer() {
    let s = scan();
    // Sibling edges only: `x::y` → `x::z`; a parent `mod.rs` (`x`) is not a sibling.
    let graph: BTreeMap<&str, Vec<&str>> = s
        .inner
        .iter()
        .filter(|(from, _)| ACYCLIC_INSIDE.iter().any(|l| from.starts_with(&format!("{l}::"))))
        .map(|(from, tos)| (from.as_str(), tos.iter().map(String::as_str).filter(|t| t.contains("::")).collect()))
        .collect();
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(at) = path.iter().position(|p| *p == n) {
            panic!("files that reach each other: {} → {n}", path[at..].join(" → "));
        }
        path.push(n);
        for d in g.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            visit(d, g, path, done);
        }
        path.pop();
        done.insert(n);
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
    assert!(graph.contains_key("module::keygen"), "the scan found module's files");
}

#[test]
fn the_scanner_reads_paths_as_rust_does() {
    let m = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    let code = code_only(
        "use super::hash::hash_hex;\n// crate::token in a comment\nlet s = \"crate::abi\";\n\
         use crate::{error, object::attr};\n#[cfg(test)]\nmod tests {\n    use super::*;\n    \
         use super::super::acl;\n    use crate::token::Library;\n}\nfn f<'a>(c: char) { let _ = '{'; }\n",
    );
    let found: Vec<(usize, String, bool)> =
        uses(&m("module::world"), &code, false).into_iter().map(|u| (u.line, u.target.join("::"), u.test)).collect();
    assert_eq!(
        found,
        vec![
            (1, "module::hash".into(), false),
            (4, "error".into(), false),
            (4, "object".into(), false),
            (8, "module::acl".into(), true),
            (9, "token::Library".into(), true),
        ]
    );
}
