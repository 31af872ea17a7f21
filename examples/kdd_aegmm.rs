//! The headline: AEGMM (DAGMM) on KDD Cup '99, Alibi Detect's protocol.
//!
//! Shows: training on 400,000 normal connections (18 continuous features),
//! the threshold from a 5 %-attack batch, and a 1,000-row test batch with
//! 10 % attacks: confusion matrix, precision, recall, F1, ROC AUC, AUPRC,
//! the same for the untrained network, scoring throughput, plots, and the
//! saved detector. Ends with one JSON line of results.
//!
//! Data: `kddcup.data_10_percent.gz`, found via `--data`, `$ODDITY_DATA_DIR`,
//! `datasets/` or `../shared/datasets/` (see datasets/README.md).
//!
//! Time on 2 CPU cores: about 40-60 s for the default 50 epochs (0.7-1.1 s
//! per epoch, plus the untrained baseline, scoring and plots).
//!
//!     cargo run --release --example kdd_aegmm -- --seed 0 --out out

mod common;

fn main() {
    if let Err(e) = common::run_kdd("aegmm", "kdd_aegmm") {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
