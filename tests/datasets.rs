//! Tests on the real benchmark files. Each test runs only when the file is
//! found locally (never downloads) and prints "skipped: ..." otherwise.

use std::path::PathBuf;
use std::time::Instant;

use oddity::datasets::{
    create_outlier_batch, find_local, load_creditcard, load_kdd, locate, repo_data_dir, shared_data_dir, verify,
    AttackFamily, CreditCardPrep, DatasetSpec, KddFeatures, CREDITCARD, KDD_10_PERCENT,
};

/// The local file of `spec`, or `None` after printing why the test is skipped.
fn local(spec: &DatasetSpec, test: &str) -> Option<PathBuf> {
    match find_local(spec, None) {
        Ok(Some(path)) => Some(path),
        Ok(None) => {
            let names: Vec<&str> = spec.files().map(|f| f.file_name).collect();
            println!(
                "skipped: {test}: no local copy of {} (looked for {} in $ODDITY_DATA_DIR, {} and {}; see datasets/README.md)",
                spec.name,
                names.join(" / "),
                repo_data_dir().display(),
                shared_data_dir().display()
            );
            None
        }
        Err(e) => {
            println!("skipped: {test}: {e}");
            None
        }
    }
}

#[test]
fn kdd_10_percent_counts() {
    let Some(path) = local(&KDD_10_PERCENT, "kdd_10_percent_counts") else {
        return;
    };
    let t = Instant::now();
    let d = load_kdd(&path, KddFeatures::Alibi18).unwrap();
    println!("loaded {} (Alibi18) in {:.2?}", path.display(), t.elapsed());
    assert_eq!(d.x.dim(), (494_021, 18));
    assert_eq!(d.is_attack.iter().filter(|&&a| !a).count(), 97_278);
    assert_eq!(d.family.iter().filter(|&&f| f == AttackFamily::Dos).count(), 391_458);
    assert_eq!(d.label.iter().filter(|l| *l == "smurf").count(), 280_790);
    assert_eq!(d.feature_names[0], "srv_count");

    let t = Instant::now();
    let all = load_kdd(&path, KddFeatures::All41OneHot).unwrap();
    println!("loaded {} (All41OneHot) in {:.2?}", path.display(), t.elapsed());
    assert_eq!(all.x.dim(), (494_021, 38 + 3 + 70 + 11));
    assert_eq!(all.is_attack, d.is_attack);

    let (batch, flags) = create_outlier_batch(d.x.view(), &d.is_attack, 1000, 10.0, 1).unwrap();
    assert_eq!(batch.dim(), (1000, 18));
    assert_eq!(flags.iter().filter(|&&o| o).count(), 100);
}

#[test]
fn creditcard_counts() {
    let Some(path) = local(&CREDITCARD, "creditcard_counts") else {
        return;
    };
    let t = Instant::now();
    let d = load_creditcard(&path, &CreditCardPrep::default()).unwrap();
    println!("loaded {} in {:.2?}", path.display(), t.elapsed());
    assert_eq!(d.x.dim(), (284_807, 29));
    assert_eq!(d.is_fraud.iter().filter(|&&f| f).count(), 492);
    assert_eq!(d.feature_names.last().map(String::as_str), Some("Amount"));
    let mean = d.x.column(28).mean().unwrap();
    assert!(mean.abs() < 1e-3, "standardized Amount has mean {mean}");
}

#[test]
fn locate_finds_shared_folder() {
    for spec in [&KDD_10_PERCENT, &CREDITCARD] {
        let Some(found) = local(spec, "locate_finds_shared_folder") else {
            continue;
        };
        assert_eq!(locate(spec, None).unwrap(), found);
        let earlier = std::env::var_os("ODDITY_DATA_DIR").is_some() || found.starts_with(repo_data_dir());
        if earlier {
            println!("{}: found before the shared folder, at {}", spec.name, found.display());
        } else {
            assert!(found.starts_with(shared_data_dir()), "{}", found.display());
            println!("{}: found in the shared folder, at {}", spec.name, found.display());
        }
    }
}

#[test]
fn kdd_10_percent_checksum() {
    let Some(path) = local(&KDD_10_PERCENT, "kdd_10_percent_checksum") else {
        return;
    };
    verify(&KDD_10_PERCENT, &path).unwrap();
}

#[test]
fn creditcard_checksum() {
    let Some(path) = local(&CREDITCARD, "creditcard_checksum") else {
        return;
    };
    verify(&CREDITCARD, &path).unwrap();
}
