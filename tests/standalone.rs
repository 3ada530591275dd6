//! The repository stands alone: no source, test, example, script or document in it reads or
//! cites anything outside it. A fresh clone has only the project, so a path into a sibling
//! directory, or a citation of a document that is not here, is a bug (test data belongs in
//! `tests/data/`, domain notes in `docs/`).
//!
//! Cheap: a walk over the text the project is made of, skipping build output and fuzz corpora.

use std::path::{Path, PathBuf};

/// What must not appear. Spelled in pieces so that this file does not match itself.
const FORBIDDEN: [&str; 3] = [concat!("..", "/shared"), concat!("shared", "/byok"), concat!("DOMAIN", ".md")];

/// README.md may point at the optional benchmark script of the wider workspace.
const README_ALLOWED: &str = concat!("..", "/shared", "/bench/bench-vs-softhsm.sh");

/// Directories scanned recursively, relative to the repository root.
const DIRS: [&str; 11] = [
    "src",
    "tests",
    "benches",
    "examples",
    "pkcs11-conformance",
    "fuzz/fuzz_targets",
    ".ci",
    "docs",
    "scripts",
    "packaging",
    "include",
];
/// Single files scanned when present.
const FILES: [&str; 6] = ["README.md", "run-tests", "Makefile", "Cargo.toml", "build.rs", "requirements-test.txt"];
/// Never scanned (any depth): build output and generated fuzz inputs.
const SKIP_DIRS: [&str; 4] = ["target", "corpus", "artifacts", "__pycache__"];
/// Never scanned: copied facts (vectors, example files), whatever bytes they hold.
const SKIP_PATH: &str = "tests/data";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() {
            let copied_facts = path.strip_prefix(root()).is_ok_and(|r| r == Path::new(SKIP_PATH));
            if !SKIP_DIRS.contains(&name.as_ref()) && !name.starts_with('.') && !copied_facts {
                walk(&path, out);
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn scanned_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in DIRS {
        walk(&root().join(d), &mut files);
    }
    files.extend(FILES.iter().map(|f| root().join(f)).filter(|p| p.is_file()));
    files
}

#[test]
fn nothing_reads_or_cites_outside_the_repository() {
    let files = scanned_files();
    assert!(files.len() > 50, "the walk found only {} files: is CARGO_MANIFEST_DIR the repository?", files.len());
    let must = ["src/lib.rs", "tests/byok.rs", "README.md", "tests/tools/verify_byok.py", "docs/nshield-emulation.md"];
    for must in must {
        assert!(files.contains(&root().join(must)), "{must} was not scanned");
    }
    let mut hits = Vec::new();
    for path in &files {
        let Ok(bytes) = std::fs::read(path) else { continue };
        // Binary files (none expected) are searched as lossy text too.
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        let rel = path.strip_prefix(root()).unwrap_or(path);
        if rel == Path::new("README.md") {
            text = text.replace(README_ALLOWED, "");
        }
        for (n, line) in text.lines().enumerate() {
            for bad in FORBIDDEN {
                if line.contains(bad) {
                    hits.push(format!("{}:{}: {bad}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the repository must stand alone (copy facts into tests/data/, cite docs/nshield-emulation.md):\n{}",
        hits.join("\n")
    );
}

/// The files the BYOK tests and the demo rely on are in the repository.
#[test]
fn the_byok_test_data_is_here() {
    for f in [
        "tests/data/README.md",
        "tests/data/byok/kat.json",
        "tests/data/byok/byok.schema.json",
        "tests/data/byok/example-EC-P256.byok",
        "tests/data/byok/example-KEK.publickey.pem",
        "tests/data/byok/example-KEK.private.pem",
        "tests/tools/verify_byok.py",
        "docs/nshield-emulation.md",
    ] {
        assert!(root().join(f).is_file(), "{f} is missing");
    }
}
