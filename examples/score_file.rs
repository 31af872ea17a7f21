//! Times the Rust API scoring rows held in memory: the other side of
//! `benches/python_compare.py`, which times the Python binding on the same
//! detector file and rows. Reads the rows as raw little-endian float32
//! (row-major, N x D), scores them REPEATS times with the CLI's settings,
//! writes the last scores as raw float32 to OUT, and prints one JSON line
//! with every run's seconds.
//!
//! Data: none of its own (the bench script writes it). Time: a second or so.
//!
//!     cargo run --release --example score_file -- DET.oddity ROWS.f32 D REPEATS OUT.f32

use std::path::Path;

use ndarray::ArrayView2;
use oddity::{OddityError, PredictConfig, Result};

fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        return Err(OddityError::param("arguments", "DET.oddity ROWS.f32 D REPEATS OUT.f32"));
    }
    let det = oddity::load_any(Path::new(&a[1]), oddity::Device::Cpu)?;
    let bytes = std::fs::read(&a[2]).map_err(|e| OddityError::io(&a[2], e))?;
    let d: usize = a[3].parse().map_err(|_| OddityError::param("D", "not a number"))?;
    let repeats: usize = a[4].parse().map_err(|_| OddityError::param("REPEATS", "not a number"))?;
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let n = values.len() / d;
    let x = ArrayView2::from_shape((n, d), &values[..n * d]).map_err(|e| OddityError::param("D", e.to_string()))?;
    let cfg = PredictConfig { return_feature_score: false, ..Default::default() };
    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..repeats {
        let t = std::time::Instant::now();
        let s = det.score_with(x, &cfg)?;
        seconds.push(t.elapsed().as_secs_f64());
        last = Some(s.instance);
    }
    if let Some(s) = last {
        let out: Vec<u8> = s.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&a[5], out).map_err(|e| OddityError::io(&a[5], e))?;
    }
    println!("{}", serde_json::json!({ "rows": n, "features": d, "seconds": seconds }));
    Ok(())
}
