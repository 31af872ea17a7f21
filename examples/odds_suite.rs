//! The ODDS suite: every registered detector, with its defaults, on every
//! table of a folder, side by side: per-table ROC AUC and AUPRC, then each
//! detector's mean and average rank, and one JSON line per (table, seed,
//! detector), and draws `out/odds_suite_{clean,contaminated}.png`: ROC AUC
//! per table and detector as grouped bars (`--out DIR`).
//!
//! Protocol (that of `../shared/datasets/odds/README.md`): each table
//! `NAME.csv.gz` (header `x1,...,xD,label`, label 1 = outlier) is split 60/40
//! stratified by label, per seed; both parts are standardized with the
//! training part's mean and deviation (a zero deviation becomes 1); each
//! detector is fitted on the training part's inliers (`--mode clean`, the
//! documented use) or on the whole training part (`--mode contaminated`,
//! PyOD's benchmark), and scores the test part. The split is scikit-learn's
//! `train_test_split(..., test_size=0.4, random_state=seed, stratify=y)`,
//! index for index (`datasets::sklearn_stratified_split`), so the rows are
//! those of the README's reference figures and of
//! `../shared/peers/odds_suite.py`.
//!
//!     cargo run --release --example odds_suite -- [--mode clean|contaminated|both]
//!         [--seeds 1,2,3] [--data DIR] [--tables cardio,letter] [--detectors knn,iforest]
//!         [--epochs N | --step-budget N] [--val-split F]   (training-length experiments)
//!
//! Time on 2 CPU cores: about 10 minutes for both modes, dominated by the
//! three network detectors on mnist and satellite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ndarray::{Array2, Axis};
use oddity::datasets::{open_data_file, shared_data_dir, sklearn_stratified_split};
use oddity::eval::metrics::{average_precision, roc_auc};
use oddity::io::csv::{read_from, CsvOptions};
use oddity::*;

#[derive(Parser, Debug)]
struct Args {
    /// Folder of NAME.csv.gz tables [default: ../shared/datasets/odds].
    #[arg(long)]
    data: Option<PathBuf>,
    /// clean, contaminated or both.
    #[arg(long, default_value = "both")]
    mode: String,
    /// Comma-separated seeds.
    #[arg(long, default_value = "1,2,3")]
    seeds: String,
    /// Comma-separated table names [default: every NAME.csv.gz in the folder].
    #[arg(long)]
    tables: Option<String>,
    /// Comma-separated detector names [default: every registered detector].
    #[arg(long)]
    detectors: Option<String>,
    /// Train the network detectors for this many epochs on every table
    /// [default: the library's, from the step budget].
    #[arg(long)]
    epochs: Option<usize>,
    /// Optimizer steps when --epochs is not given [default: the library's].
    #[arg(long)]
    step_budget: Option<usize>,
    /// Folder for the plots (one grouped bar chart per protocol).
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Hold out this share of the fit rows for early stopping (patience 10,
    /// best weights restored) [default: none, the library's default].
    #[arg(long)]
    val_split: Option<f64>,
}

/// One table: features and labels.
struct Table {
    name: String,
    x: Array2<f32>,
    y: Vec<bool>,
}

fn read_table(path: &Path) -> Result<Table> {
    let name =
        path.file_name().map_or_else(String::new, |n| n.to_string_lossy().trim_end_matches(".csv.gz").to_string());
    let (all, header) = read_from(open_data_file(path)?, &path.display().to_string(), &CsvOptions::default())?;
    let last = all.ncols().checked_sub(1).ok_or_else(|| OddityError::param("data", format!("{name}: no columns")))?;
    if header.as_ref().and_then(|h| h.last()).map(String::as_str) != Some("label") {
        return Err(OddityError::param("data", format!("{name}: the last column must be `label`")));
    }
    let y = all.column(last).iter().map(|&v| v == 1.0).collect();
    let x = all.slice(ndarray::s![.., ..last]).to_owned();
    Ok(Table { name, x, y })
}

/// One detector's result on one (table, seed, mode).
struct Run {
    roc_auc: f64,
    auprc: f64,
    seconds: f64,
}

fn run_one(
    entry: &registry::Entry,
    (xtr, xte, yte): (&Array2<f32>, &Array2<f32>, &[bool]),
    seed: u64,
    args: &Args,
) -> Result<Run> {
    let t = Instant::now();
    let mut det = entry.build(xtr.ncols(), None, Device::Cpu)?;
    let mut fc = FitConfig { seed, verbose: false, ..Default::default() };
    fc.epochs = args.epochs;
    fc.step_budget = args.step_budget.unwrap_or(fc.step_budget);
    if let Some(v) = args.val_split {
        fc.validation_split = v;
        fc.early_stopping = Some(EarlyStopping { patience: 10, ..Default::default() });
    }
    det.fit(xtr.view(), &fc)?;
    let s: Vec<f64> = det.score(xte.view())?.instance.iter().map(|&v| v as f64).collect();
    let seconds = t.elapsed().as_secs_f64();
    if s.iter().any(|v| !v.is_finite()) {
        return Err(OddityError::Numerical(format!("{} gave non-finite scores", entry.kind.tag())));
    }
    Ok(Run { roc_auc: roc_auc(yte, &s)?, auprc: average_precision(yte, &s)?, seconds })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = args.data.clone().unwrap_or_else(|| shared_data_dir().join("odds"));
    let seeds: Vec<u64> = args
        .seeds
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| OddityError::param("seeds", format!("`{s}` is not a seed"))))
        .collect::<Result<_>>()?;
    let modes: Vec<&str> = match args.mode.as_str() {
        "both" => vec!["clean", "contaminated"],
        m @ ("clean" | "contaminated") => vec![m],
        m => return Err(OddityError::param("mode", format!("`{m}` is not clean, contaminated or both"))),
    };
    let entries: Vec<&registry::Entry> = match &args.detectors {
        Some(list) => list.split(',').map(|n| registry::get(n.trim())).collect::<Result<_>>()?,
        None => registry::BUILTIN.iter().collect(),
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| OddityError::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".csv.gz"))
        .collect();
    paths.sort();
    if let Some(t) = &args.tables {
        let want: Vec<&str> = t.split(',').map(str::trim).collect();
        paths.retain(|p| {
            want.iter().any(|w| p.file_name().is_some_and(|n| n.to_string_lossy() == format!("{w}.csv.gz")))
        });
    }
    if paths.is_empty() {
        return Err(OddityError::param("data", format!("no NAME.csv.gz tables in {}", dir.display())));
    }
    let tables: Vec<Table> = paths.iter().map(|p| read_table(p)).collect::<Result<_>>()?;
    for mode in modes {
        // results[table][detector] = runs over seeds
        let mut results: BTreeMap<String, BTreeMap<&str, Vec<Run>>> = BTreeMap::new();
        for t in &tables {
            for &seed in &seeds {
                let seed32 = u32::try_from(seed).map_err(|_| OddityError::param("seeds", "must fit in 32 bits"))?;
                let (tr, te) = sklearn_stratified_split(&t.y, 0.4, seed32)?;
                let (tr, te) = (&tr, &te);
                let fit_rows: Vec<usize> = match mode {
                    "clean" => tr.iter().copied().filter(|&i| !t.y[i]).collect(),
                    _ => tr.clone(),
                };
                let mut xtr = t.x.select(Axis(0), &fit_rows);
                let mut xte = t.x.select(Axis(0), te);
                // Standardize with the whole training part, as the protocol does.
                let s = Standardizer::fit(&t.x.select(Axis(0), tr).view());
                for a in [&mut xtr, &mut xte] {
                    for mut row in a.rows_mut() {
                        for ((v, m), sd) in row.iter_mut().zip(&s.mean).zip(&s.std) {
                            *v = (*v - m) / sd;
                        }
                    }
                }
                let yte: Vec<bool> = te.iter().map(|&i| t.y[i]).collect();
                for e in &entries {
                    let r = run_one(e, (&xtr, &xte, &yte), seed, &args)?;
                    println!(
                        "{}",
                        serde_json::json!({"mode": mode, "table": t.name, "seed": seed, "detector": e.kind.tag(),
                            "roc_auc": r.roc_auc, "auprc": r.auprc, "seconds": r.seconds})
                    );
                    results.entry(t.name.clone()).or_default().entry(e.kind.tag()).or_default().push(r);
                }
            }
        }
        print_summary(mode, &results, &entries, seeds.len());
        let groups: Vec<String> = results.keys().cloned().collect();
        let series: Vec<(String, Vec<f64>)> = entries
            .iter()
            .map(|e| {
                let tag = e.kind.tag();
                let v =
                    results.values().map(|by| mean(&by[tag].iter().map(|r| r.roc_auc).collect::<Vec<_>>())).collect();
                (tag.to_string(), v)
            })
            .collect();
        let png = args.out.join(format!("odds_suite_{mode}.png"));
        let title = format!("ROC AUC per table, {mode} protocol (mean over {} seeds)", seeds.len());
        oddity::eval::plot::plot_grouped_bars(&png, &title, &groups, &series, "ROC AUC", 1.0)?;
        eprintln!("plot: {}", png.display());
    }
    Ok(())
}

/// Per-table mean ROC AUC (AUPRC), then per detector the mean over tables,
/// the average rank (1 = best ROC AUC on a table) and the total time.
fn print_summary(
    mode: &str,
    results: &BTreeMap<String, BTreeMap<&str, Vec<Run>>>,
    entries: &[&registry::Entry],
    n_seeds: usize,
) {
    let names: Vec<&str> = entries.iter().map(|e| e.kind.tag()).collect();
    println!("\n## {mode} protocol: mean over {n_seeds} seeds, ROC AUC (AUPRC)\n");
    println!("| table | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    let mut ranks: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut means: BTreeMap<&str, (Vec<f64>, Vec<f64>, f64)> = BTreeMap::new();
    for (table, by_det) in results {
        let aucs: Vec<f64> =
            names.iter().map(|n| mean(&by_det[n].iter().map(|r| r.roc_auc).collect::<Vec<_>>())).collect();
        let cells: Vec<String> = names
            .iter()
            .zip(&aucs)
            .map(|(n, auc)| format!("{auc:.3} ({:.3})", mean(&by_det[n].iter().map(|r| r.auprc).collect::<Vec<_>>())))
            .collect();
        println!("| {table} | {} |", cells.join(" | "));
        for (i, n) in names.iter().enumerate() {
            // Average rank with ties sharing their mean rank.
            let better = aucs.iter().filter(|&&a| a > aucs[i]).count() as f64;
            let equal = aucs.iter().filter(|&&a| a == aucs[i]).count() as f64;
            ranks.entry(n).or_default().push(better + (equal + 1.0) / 2.0);
            let m = means.entry(n).or_insert((Vec::new(), Vec::new(), 0.0));
            m.0.push(aucs[i]);
            m.1.push(mean(&by_det[n].iter().map(|r| r.auprc).collect::<Vec<_>>()));
            m.2 += by_det[n].iter().map(|r| r.seconds).sum::<f64>();
        }
    }
    let cells: Vec<String> =
        names.iter().map(|n| format!("**{:.3} ({:.3})**", mean(&means[n].0), mean(&means[n].1))).collect();
    println!("| **mean** | {} |", cells.join(" | "));
    let cells: Vec<String> = names.iter().map(|n| format!("{:.2}", mean(&ranks[n]))).collect();
    println!("| avg rank | {} |", cells.join(" | "));
    let cells: Vec<String> = names.iter().map(|n| format!("{:.1}", means[n].2)).collect();
    println!("| seconds (fit + score, all runs) | {} |", cells.join(" | "));
}
