//! The CI smoke of `supportd fuzz` (the long run is documented in the README): a fixed seed over
//! the corpus in `tests/mail` and `tests/corpus`, so every run tries the same inputs, and any
//! panic or hang in the mail pipeline fails it with the fuzzer's report.

use std::process::Command;

#[test]
fn mutated_corpus_mails_neither_panic_nor_hang() {
    let root = env!("CARGO_MANIFEST_DIR");
    let save = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_supportd"))
        .args([
            "fuzz",
            "--inputs",
            "2000",
            "--seed",
            "14",
            "--progress",
            "0",
        ])
        // Small inputs: the huge ones are the long run's (minutes in a debug build).
        .args(["--max-input", "65536"])
        .args(["--corpus", &format!("{root}/tests/mail")])
        .args(["--corpus", &format!("{root}/tests/corpus")])
        // A debug build is several times slower than the release build the bound is for.
        .args(["--hang-ms", "20000"])
        .arg("--save")
        .arg(save.path())
        .output()
        .expect("run supportd fuzz");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "supportd fuzz found a bug (inputs saved in {}):\n{report}\n{}",
        save.keep().display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("| panics | 0 |"), "{report}");
    assert!(report.contains("| inputs | 2000 in"), "{report}");
}
