//! Benchmark data sets: finding the files ([`locate`]), loading KDD Cup '99
//! ([`load_kdd`]) and the credit-card fraud data ([`load_creditcard`]), and
//! drawing Alibi-style outlier batches and splits ([`create_outlier_batch`]).
//! See `datasets/README.md` for sources, licences and checksums.

mod creditcard;
mod kdd;
mod lookup;
mod sampling;
mod sklearn_split;

pub use creditcard::{
    fetch_creditcard, load_creditcard, read_creditcard, standardize_amount, AmountTransform, CreditCardData,
    CreditCardPrep,
};
pub use kdd::{
    fetch_kdd, load_kdd, read_kdd, AttackFamily, KddData, KddFeatures, FLAGS, KDD_COLUMNS, PROTOCOLS, SERVICES,
};
pub use lookup::{
    download, find_local, locate, open_data_file, repo_data_dir, sha256_file, shared_data_dir, verify, DatasetSpec,
    FileSpec, CREDITCARD, DATA_DIR_ENV, KDD_10_PERCENT, KDD_FULL,
};
pub use sampling::{create_outlier_batch, select_rows, stratified_split, train_test_split};
pub use sklearn_split::sklearn_stratified_split;
