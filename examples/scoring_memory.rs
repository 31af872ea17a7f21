//! Memory stays flat in the number of rows: scores N synthetic KDD-shaped
//! rows (18 features) in one `score` call and reports the peak resident
//! memory (VmHWM, Linux) beyond what the input array takes.
//!
//! Data: none (synthetic). Time on 2 cores: about 10 s for 5 million rows.
//!
//!     cargo run --release --example scoring_memory -- 5000000 aegmm

use ndarray::Array2;
use oddity::*;

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5_000_000);
    let entry = registry::get(args.get(2).map_or("aegmm", |s| s.as_str()))?;
    let f = 18;
    // Cheap deterministic pseudo-data; what matters here is the size.
    let x = Array2::from_shape_fn((n, f), |(i, j)| {
        (((i * 31 + j * 17) % 1000) as f32 / 500.0 - 1.0) * (1.0 + (j % 3) as f32)
    });
    // The KDD-sized networks: the defaults for 18 columns, the AE of the KDD example.
    let cfg = match entry.kind.tag() {
        "ae" => serde_json::to_value(AeConfig::symmetric(f, &[60, 30], 10, Activation::Tanh)).ok(),
        _ => None,
    };
    let mut det = entry.build(f, cfg, Device::Cpu)?;
    det.fit(
        x.slice(ndarray::s![..50_000, ..]),
        &FitConfig { epochs: Some(1), batch_size: 1024, ..Default::default() },
    )?;
    let input_mib = (n * f * 4) as f64 / (1 << 20) as f64;
    let before = vm_hwm_mib();
    let t = std::time::Instant::now();
    let s = det.score_with(x.view(), &PredictConfig { return_feature_score: false, ..Default::default() })?;
    let secs = t.elapsed().as_secs_f64();
    let after = vm_hwm_mib();
    println!(
        "{} scored {n} rows in {secs:.2} s ({:.0} rows/s); input array {input_mib:.0} MiB; peak RSS before scoring {before:.0} MiB, after {after:.0} MiB: scoring added {:.0} MiB (scores themselves {:.0} MiB)",
        entry.kind.name(),
        n as f64 / secs,
        after - before,
        (s.instance.len() * 4) as f64 / (1 << 20) as f64
    );
    println!(
        "{}",
        serde_json::json!({"detector": entry.kind.name(), "rows": n, "seconds": secs, "rows_per_second": n as f64 / secs, "input_mib": input_mib, "peak_rss_before_mib": before, "peak_rss_after_mib": after, "added_mib": after - before})
    );
    Ok(())
}
