//! AEGMM (DAGMM) on the credit-card fraud data, with the same protocol and
//! report as `creditcard_ae`.
//!
//! Shows: the library's default AEGMM (encoder 29-60-30-10-1, decoder back to
//! 29, reconstruction features log-MSE and cosine, a 2-component mixture)
//! trained on legitimate transactions only; ROC AUC and AUPRC on a held-out
//! test split, and precision / recall / F1 at two thresholds chosen on a
//! validation split: a percentile of the legitimate rows' energies
//! (unsupervised) and the F1-best one (uses the validation labels). Also the
//! untrained network, scoring throughput, plots (scores against each
//! threshold, ROC, PR, loss) and the saved detector in `--out`. Ends with one
//! JSON line of results.
//!
//! Data: `creditcard.csv.gz` (284,807 transactions, 492 frauds), found via
//! `--data`, `$ODDITY_DATA_DIR`, `datasets/` or `../shared/datasets/` (see
//! datasets/README.md).
//!
//! Time on 2 CPU cores: 20-45 s (1.5 s loading, 25-60 epochs of
//! 0.7-0.9 s before early stopping; libtorch on one thread, see `--threads`).
//!
//! Protocol: as in `creditcard_ae` (see its header and `creditcard_splits` in
//! `examples/common/mod.rs`): `Time` dropped, every row kept, one seeded
//! stratified 64 / 16 / 20 % train / validation / test split (split seed =
//! `--seed` unless `--split-seed`), `Amount` standardised on the legitimate
//! train rows, training on those rows only (10 % held out for early
//! stopping), thresholds from the validation split only (99.5th percentile of
//! its legitimate rows' scores, and F1-best), the test split scored once.
//!
//! Training defaults: Adam, learning rate 1e-3, batch 256 (higher validation
//! ROC AUC and AUPRC than the KDD example's 1024 on the two split seeds tried),
//! up to 100 epochs with patience 5, inputs standardised in the detector.
//!
//!     cargo run --release --example creditcard_aegmm -- --seed 0 --out out

mod common;

use common::CreditCardDefaults;

fn main() {
    let defaults = CreditCardDefaults {
        epochs: 100,
        batch_size: 256,
        learning_rate: 1e-3,
        standardize: true,
        patience: 5,
        log_amount: false,
        score: oddity::FeatureScore::Squared,
    };
    if let Err(e) = common::run_creditcard("aegmm", "creditcard_aegmm", defaults) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
