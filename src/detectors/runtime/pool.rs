//! The scoring worker pool: input rows cut into batches, standardized on the
//! host, and scored by per-core workers that each run libtorch on one thread.

use ndarray::{s, ArrayView2};
use tch::{Device, Kind, Tensor};

use crate::error::{OddityError, Result};
use crate::math::scale::Standardizer;
use crate::validate::{first_non_finite, non_finite};

/// How [`score_rows`] hands batches to the scoring functions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScoreLayout<'a> {
    /// Rows per batch, at most.
    pub batch_size: usize,
    /// Values the scoring function returns per row.
    pub width: usize,
    /// The fitted standardization, applied to every batch.
    pub scaler: Option<&'a Standardizer>,
    /// Append a column of ones to every batch (the input of a
    /// [`crate::nn::FoldedMlp`]).
    pub ones: bool,
    /// Workers on the CPU; `None`: libtorch's intra-op thread count.
    pub workers: Option<usize>,
    /// Index of the input's first row in the whole table
    /// ([`crate::PredictConfig::first_row`]): added to [`Batch::start`],
    /// and a part after the first is never cut finer than `batch_size`.
    pub first_row: usize,
}

impl<'a> ScoreLayout<'a> {
    /// Batches of at most `batch_size` rows, `width` values per row, no
    /// ones column, one worker per libtorch thread.
    pub fn new(batch_size: usize, width: usize, scaler: Option<&'a Standardizer>) -> Self {
        ScoreLayout { batch_size, width, scaler, ones: false, workers: None, first_row: 0 }
    }
}

/// One prepared batch of rows to score: standardized (see [`ScoreLayout`]).
pub(crate) struct Batch<'a> {
    /// Index of the batch's first row in the whole table (the input's row
    /// plus [`ScoreLayout::first_row`]).
    pub start: usize,
    /// The rows on the scoring device.
    pub x: Tensor,
    /// The same rows on the host, row-major.
    pub host: &'a [f32],
}

/// Scores the rows of `x`: `make` builds one scoring function per worker,
/// which maps a prepared [`Batch`] to `width` values per row (or an error).
/// Returns those values row-major.
///
/// On the CPU the batches are shared out to as many workers as libtorch has
/// intra-op threads, each running libtorch on one thread. For layers of tens
/// of units that beats one caller with libtorch's own threads: a single-
/// threaded kernel pays no fork/join per op, and each worker's activations
/// stay in its core's cache (docs/benchmarks.md). Other devices, and inputs
/// of one batch, run on the calling thread. Each batch is scored alone, so
/// the scores do not depend on the number of workers, up to float rounding
/// (batch sizes follow the core count).
pub(crate) fn score_rows<F>(
    x: &ArrayView2<f32>,
    layout: ScoreLayout,
    device: Device,
    make: impl Fn() -> F,
) -> Result<Vec<f32>>
where
    F: FnMut(&Batch) -> Result<Tensor> + Send,
{
    let (n, width) = (x.nrows(), layout.width);
    let cores = match (device, layout.workers) {
        (Device::Cpu, Some(w)) => w.max(1),
        (Device::Cpu, None) => tch::get_num_threads().max(1) as usize,
        _ => 1,
    };
    // With several workers, inputs of a few batches are cut finer, so that
    // every worker gets an equal share (10,000 rows: 4 batches of 2,500,
    // not 4,096 + 4,096 + 1,808); never below 1,024 rows a batch. A later
    // part of a table is cut as the whole table would be.
    let bs = match cores {
        _ if layout.first_row > 0 => layout.batch_size,
        1 => layout.batch_size,
        c => layout.batch_size.min(n.div_ceil(2 * c).max(1024)),
    }
    .max(1);
    let threads = cores.min(n.div_ceil(bs));
    let mut out = vec![0f32; n * width];
    let queue = std::sync::Mutex::new(out.chunks_mut(bs * width).enumerate());
    // Set by the first worker to fail: the others then take no new batches.
    let failed = std::sync::atomic::AtomicBool::new(false);
    // One worker: takes batches off the queue until it is empty. A failure
    // (an error, or a panic from libtorch) comes back with its batch's first
    // row.
    let work = |mut f: F| -> std::result::Result<(), (usize, OddityError)> {
        let mut buf = Vec::new();
        let mut one = |start: usize, dst: &mut [f32]| -> Result<()> {
            let rows = x.slice(s![start..(start + bs).min(n), ..]);
            let start = start + layout.first_row;
            let x = prepare_batch(&rows, start, &layout, &mut buf)?.to_device(device);
            let t = f(&Batch { start, x, host: &buf })?;
            let t = t.to_kind(Kind::Float).to_device(Device::Cpu).contiguous().view([-1]);
            if t.numel() != dst.len() {
                let msg = format!("scorer gave {} values for {} rows x {width}", t.numel(), rows.nrows());
                return Err(OddityError::Numerical(msg));
            }
            t.copy_data(dst, dst.len());
            Ok(())
        };
        tch::no_grad(|| loop {
            if failed.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((i, dst)) = next else {
                return Ok(());
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one(i * bs, dst)))
                .unwrap_or_else(|p| Err(OddityError::Numerical(format!("scoring failed: {}", panic_text(&p)))));
            if let Err(e) = r {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err((i * bs, e));
            }
        })
    };
    if threads <= 1 {
        return work(make()).map(|()| unscorable_to_inf(out)).map_err(|(_, e)| e);
    }
    let ready = std::sync::Barrier::new(threads + 1);
    let results = std::thread::scope(|sc| {
        let kernels = SingleThreadedKernels::enter();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (f, work, ready) = (make(), &work, &ready);
                sc.spawn(move || {
                    // This thread's kernels (MKL's included) run on it
                    // alone. Its count is set up from the process-wide
                    // default on first use, so that happens first; then 1.
                    let _ = tch::get_num_threads();
                    tch::set_num_threads(1);
                    ready.wait();
                    work(f)
                })
            })
            .collect();
        // Every worker has its own count now: the default goes back.
        ready.wait();
        drop(kernels);
        let panicked = |_| Err((usize::MAX, OddityError::Numerical("a scoring worker panicked".into())));
        handles.into_iter().map(|h| h.join().unwrap_or_else(panicked)).collect::<Vec<_>>()
    });
    first_error(results).map(|()| unscorable_to_inf(out))
}

/// A value the model could not compute (NaN or an infinity: an input far
/// outside what the networks saw, e.g. cells of 1e20, overflows them)
/// becomes +inf: the most anomalous score, which `predict` flags, never a
/// quiet inlier. Inputs themselves are finite (checked per batch).
fn unscorable_to_inf(mut out: Vec<f32>) -> Vec<f32> {
    for v in out.iter_mut().filter(|v| !v.is_finite()) {
        *v = f32::INFINITY;
    }
    out
}

/// The workers' outcome. Batches leave the queue in order, and after a
/// failure no new ones are taken, but every batch already taken is finished:
/// so the failing batch with the lowest first row is always met, and its
/// error is the one reported, as on one thread.
fn first_error(results: Vec<std::result::Result<(), (usize, OddityError)>>) -> Result<()> {
    match results.into_iter().filter_map(|r| r.err()).min_by_key(|(start, _)| *start) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// The message of a caught panic.
pub(crate) fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    let text = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    first_line(&text)
}

/// The first line of a libtorch failure, without tch's `unwrap` wrapping:
/// libtorch's messages carry a C++ trace of many lines after it.
pub(crate) fn first_line(text: &str) -> String {
    let t = text.strip_prefix("called `Result::unwrap()` on an `Err` value: ").unwrap_or(text);
    let t = t.strip_prefix("Torch(\"").unwrap_or(t);
    let line = t.split("\\n").next().unwrap_or(t).lines().next().unwrap_or("");
    line.trim_end_matches("\")").trim().to_string()
}

/// Runs `f`, turning a panic inside it (libtorch reports its failures by
/// panicking through tch) into an [`OddityError::Numerical`] with the first
/// line of the message: the library's entry points return errors, never
/// unwind into the caller.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(OddityError::Numerical(format!("libtorch failed: {}", panic_text(&p)))))
}

/// Scoring calls setting up workers now, and the thread count to restore
/// when the last of them is done.
static SINGLE_THREADED: std::sync::Mutex<(usize, i32)> = std::sync::Mutex::new((0, 0));

/// `tch::set_num_threads(1)` on a worker sets that worker's own count, and
/// also the process-wide default that threads start from. This guard, held
/// only while workers set up, puts the default back once the last
/// concurrent scoring call's workers are set up, so that other threads
/// that start using libtorch later get the usual count.
struct SingleThreadedKernels;

impl SingleThreadedKernels {
    fn enter() -> Self {
        let mut g = SINGLE_THREADED.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            g.1 = tch::get_num_threads();
        }
        g.0 += 1;
        SingleThreadedKernels
    }
}

impl Drop for SingleThreadedKernels {
    fn drop(&mut self) {
        let mut g = SINGLE_THREADED.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0 {
            tch::set_num_threads(g.1);
        }
    }
}

/// `rows` (row `start` on of the input), standardized and with a last
/// column of ones if asked, into `buf` and as a CPU tensor: one pass on the
/// host instead of a copy and two tensor ops, with the same f32 arithmetic
/// as [`Transform::apply`]. The same pass checks that every value is finite.
fn prepare_batch(rows: &ArrayView2<f32>, start: usize, layout: &ScoreLayout, buf: &mut Vec<f32>) -> Result<Tensor> {
    let (n, f) = rows.dim();
    let w = f + usize::from(layout.ones);
    buf.clear();
    buf.resize(n * w, 1.0);
    let mut bad = false;
    for (row, dst) in rows.outer_iter().zip(buf.chunks_exact_mut(w)) {
        let dst = &mut dst[..f];
        match (layout.scaler, row.as_slice()) {
            (Some(sc), Some(src)) => {
                for (((d, &v), m), s) in dst.iter_mut().zip(src).zip(&sc.mean).zip(&sc.std) {
                    bad |= non_finite(v);
                    *d = (v - m) / s;
                }
            }
            (Some(sc), None) => {
                for (((d, &v), m), s) in dst.iter_mut().zip(row.iter()).zip(&sc.mean).zip(&sc.std) {
                    bad |= non_finite(v);
                    *d = (v - m) / s;
                }
            }
            (None, _) => dst.iter_mut().zip(row.iter()).for_each(|(d, &v)| {
                bad |= non_finite(v);
                *d = v;
            }),
        }
    }
    if bad {
        first_non_finite(rows, start)?;
    }
    Ok(Tensor::from_slice(buf).view([n as i64, w as i64]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Every row's values land in its own place, whichever worker scored its
    /// batch: each batch returns, per row, the sum of the prepared row
    /// (standardized, plus the ones column) and the batch's first row.
    #[test]
    fn score_rows_places_every_batch() {
        let x = Array2::from_shape_fn((103, 3), |(i, j)| (i * 3 + j) as f32 * 0.5);
        let scaler = Standardizer { mean: vec![1.0, 2.0, 3.0], std: vec![2.0, 4.0, 0.5] };
        for (bs, ones) in [(10, true), (7, false), (1000, true)] {
            let layout = ScoreLayout { ones, workers: Some(3), ..ScoreLayout::new(bs, 2, Some(&scaler)) };
            let got = score_rows(&x.view(), layout, Device::Cpu, || {
                |b: &Batch| {
                    let first = Tensor::full([b.x.size()[0], 1], b.start as f64, (Kind::Float, Device::Cpu));
                    assert_eq!(Vec::<f32>::try_from(b.x.view([-1])).unwrap(), b.host, "host and device rows");
                    Ok(Tensor::cat(&[b.x.sum_dim_intlist(1, true, Kind::Float), first], 1))
                }
            })
            .unwrap();
            for (i, row) in x.outer_iter().enumerate() {
                let sum: f32 = row.iter().zip(&scaler.mean).zip(&scaler.std).map(|((v, m), s)| (v - m) / s).sum();
                let want = sum + if ones { 1.0 } else { 0.0 };
                approx::assert_relative_eq!(got[2 * i], want, max_relative = 1e-6, epsilon = 1e-5);
                assert_eq!(got[2 * i + 1], ((i / bs) * bs) as f32, "row {i}, batch {bs}");
            }
        }
    }

    /// A scorer that returns the wrong number of values is an error, not a
    /// panic or a silently short result.
    #[test]
    fn score_rows_rejects_a_wrong_width() {
        let x = Array2::<f32>::zeros((50, 2));
        let layout = ScoreLayout { workers: Some(2), ..ScoreLayout::new(8, 1, None) };
        let r = score_rows(&x.view(), layout, Device::Cpu, || |b: &Batch| Ok(b.x.shallow_clone()));
        assert!(matches!(r, Err(OddityError::Numerical(_))), "{r:?}");
    }

    /// A non-finite input value is reported at its row and column, and of
    /// several, the first, whichever worker met it.
    #[test]
    fn score_rows_reports_the_first_non_finite_value() {
        for (bad, want) in [(vec![(191, 0)], (191, 0)), (vec![(157, 1), (43, 2), (44, 0)], (43, 2))] {
            let mut x = Array2::<f32>::zeros((200, 3));
            for &(r, c) in &bad {
                x[[r, c]] = if r % 2 == 0 { f32::NAN } else { f32::INFINITY };
            }
            let layout = ScoreLayout { ones: true, workers: Some(2), ..ScoreLayout::new(10, 1, None) };
            let r = score_rows(&x.view(), layout, Device::Cpu, || {
                |b: &Batch| Ok(b.x.sum_dim_intlist(1, false, Kind::Float))
            });
            match r {
                Err(OddityError::NonFinite { row, column, .. }) => assert_eq!((row, column), want),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Of several failures, the one in the earliest batch is reported,
    /// whatever its kind: a scorer error before a bad value, a bad value
    /// before a scorer error, and a panic, which comes back as an error.
    #[test]
    fn score_rows_reports_the_earliest_failure() {
        let run = |nan_row: usize, failing_batch: usize, panic: bool| {
            let mut x = Array2::<f32>::zeros((400, 2));
            x[[nan_row, 1]] = f32::NAN;
            let layout = ScoreLayout { workers: Some(3), ..ScoreLayout::new(10, 1, None) };
            score_rows(&x.view(), layout, Device::Cpu, || {
                move |b: &Batch| {
                    if b.start == failing_batch * 10 {
                        if panic {
                            panic!("boom at {}", b.start);
                        }
                        return Err(OddityError::Numerical(format!("scorer failed at {}", b.start)));
                    }
                    Ok(b.x.sum_dim_intlist(1, false, Kind::Float))
                }
            })
        };
        match run(350, 2, false) {
            Err(OddityError::Numerical(m)) => assert!(m.contains("at 20"), "{m}"),
            other => panic!("{other:?}"),
        }
        match run(15, 20, false) {
            Err(OddityError::NonFinite { row: 15, column: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        match run(390, 5, true) {
            Err(OddityError::Numerical(m)) => assert!(m.contains("boom at 50"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    /// A libtorch failure comes back as one line, without tch's wrapping
    /// or the C++ trace.
    #[test]
    fn libtorch_failures_become_one_line_errors() {
        let r: Result<()> = guard(|| {
            let t = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
            let _ = t.view([7]);
            Ok(())
        });
        match r {
            Err(OddityError::Numerical(m)) => {
                assert!(m.starts_with("libtorch failed: shape '[7]' is invalid"), "{m}");
                assert!(!m.contains('\n') && !m.contains("Exception raised") && !m.contains("unwrap"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(first_line("plain message\nsecond line"), "plain message");
    }
}
