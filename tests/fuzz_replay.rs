//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) through the same entry points the
//! fuzz targets use (`shieldhsm::fuzzing`), on the stable toolchain: what fuzzing found stays
//! fixed. Run the fuzzers themselves with `cargo +nightly fuzz run <target>` in `fuzz/`.

use std::path::Path;

#[test]
fn every_corpus_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, run) in shieldhsm::fuzzing::TARGETS {
        let dir = root.join(name);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let data = std::fs::read(e.path()).unwrap();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(r.is_ok(), "{name}: {} panicked", e.path().display());
            n += 1;
        }
        assert!(n > 0, "{name}: empty corpus");
        total += n;
    }
    eprintln!("replayed {total} corpus inputs");
}
