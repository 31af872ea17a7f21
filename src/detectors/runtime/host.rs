//! Scoring on the host for detectors without tensors (ECOD,
//! IsolationForest): rows shared out to one thread per core.

use ndarray::ArrayView2;

use crate::error::{OddityError, Result};

/// `f` of every row of `x` (standard layout), in order, computed on as many
/// threads as the machine has cores. Each row is scored alone, so the result
/// does not depend on the thread count.
pub(crate) fn parallel_rows(x: &ArrayView2<f32>, f: impl Fn(&[f32]) -> f32 + Sync) -> Vec<f32> {
    let (n, w) = x.dim();
    let mut out = vec![0f32; n];
    let Some(data) = x.as_slice() else {
        // Not contiguous: one row at a time through a copy.
        for (o, row) in out.iter_mut().zip(x.outer_iter()) {
            *o = f(&row.to_vec());
        }
        return out;
    };
    if w == 0 {
        return out;
    }
    // As many threads as libtorch uses (its default is one per core), so
    // that `tch::set_num_threads` limits these detectors too.
    let threads = (tch::get_num_threads().max(1) as usize).min(n.div_ceil(256)).max(1);
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (dst, src) in out.chunks_mut(chunk).zip(data.chunks(chunk * w)) {
            let f = &f;
            s.spawn(move || {
                for (o, row) in dst.iter_mut().zip(src.chunks_exact(w)) {
                    *o = f(row);
                }
            });
        }
    });
    out
}

/// Detectors that run on the host accept the CPU (and `auto`, which means
/// the CPU for them); a CUDA device is an error, not a silent fallback.
pub(crate) fn host_only(name: &str, device: crate::Device) -> Result<()> {
    match device {
        crate::Device::Cpu | crate::Device::CudaIfAvailable => Ok(()),
        crate::Device::Cuda(i) => {
            Err(OddityError::param("device", format!("{name} runs on the CPU only; got cuda:{i}")))
        }
    }
}
