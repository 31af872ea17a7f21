//! Seeded randomness drawn on the host with ChaCha8, so that weight
//! initialisation, shuffling and VAE noise are identical on CPU and CUDA and
//! independent of libtorch's global generator (which other threads may use).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// A seeded generator; streams are split by a `stream` id so that init,
/// shuffling and noise never share draws.
pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Stream ids.
pub(crate) const STREAM_INIT: u64 = 1;
pub(crate) const STREAM_SHUFFLE: u64 = 2;
pub(crate) const STREAM_SPLIT: u64 = 3;
pub(crate) const STREAM_TRAIN_NOISE: u64 = 4;
pub(crate) const STREAM_SCORE_NOISE: u64 = 5;
pub(crate) const STREAM_GMM_NOISE: u64 = 6;
pub(crate) const STREAM_DROPOUT: u64 = 7;
/// Isolation Forest: subsamples, split features and split values.
pub(crate) const STREAM_FOREST: u64 = 8;

/// Inverted-dropout mask: `1 / (1 - p)` with probability `1 - p`, else 0.
pub(crate) fn dropout_mask(r: &mut ChaCha8Rng, shape: &[i64], p: f64, device: Device) -> Tensor {
    let n: i64 = shape.iter().product();
    let keep = (1.0 - p) as f32;
    let scale = 1.0 / keep;
    let v: Vec<f32> = (0..n).map(|_| if r.random::<f32>() < keep { scale } else { 0.0 }).collect();
    Tensor::from_slice(&v).view(shape).to_device(device)
}

/// Glorot-uniform `[fan_out, fan_in]` weight (Keras' default for Dense).
pub(crate) fn glorot_uniform(r: &mut ChaCha8Rng, fan_in: usize, fan_out: usize) -> Tensor {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let v: Vec<f32> = (0..fan_in * fan_out).map(|_| r.random_range(-limit..=limit)).collect();
    Tensor::from_slice(&v).view([fan_out as i64, fan_in as i64])
}

/// A uniformly random permutation of `0..n` (Fisher–Yates).
pub(crate) fn permutation(r: &mut ChaCha8Rng, n: usize) -> Vec<i64> {
    let mut p: Vec<i64> = (0..n as i64).collect();
    for i in (1..n).rev() {
        let j = r.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// Standard normal noise of `shape` whose values depend only on
/// `(seed, stream, offset + position)`: each normal uses exactly two 32-bit
/// words of the ChaCha stream (Box–Muller), so a batch can seek to its first
/// row and results do not depend on how rows were split into batches.
pub(crate) fn normal_at(seed: u64, stream: u64, offset: u64, shape: &[i64], device: Device) -> Tensor {
    let n: i64 = shape.iter().product();
    let mut r = rng(seed, stream);
    // Each pair of normals takes 4 words; start at the pair containing `offset`.
    let pair0 = offset / 2;
    r.set_word_pos(pair0 as u128 * 4);
    let skip = (offset % 2) as usize;
    let mut out = Vec::with_capacity(n as usize + 2);
    while out.len() < n as usize + skip {
        let u1 = (r.next_u64_compat() as f64 + 1.0) / (u64::MAX as f64 + 2.0); // (0, 1)
        let u2 = r.next_u64_compat() as f64 / (u64::MAX as f64 + 1.0);
        let rad = (-2.0 * u1.ln()).sqrt();
        let th = 2.0 * std::f64::consts::PI * u2;
        out.push((rad * th.cos()) as f32);
        out.push((rad * th.sin()) as f32);
    }
    let v = &out[skip..skip + n as usize];
    Tensor::from_slice(v).view(shape).to_kind(Kind::Float).to_device(device)
}

/// A 64-bit key of a row's values (their bit patterns, -0.0 read as 0.0),
/// for noise that depends on the row alone ([`normal_per_key`]): FNV-1a
/// over the bits, then splitmix64's finalizer to spread nearby inputs.
pub(crate) fn row_key(row: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in row {
        h = (h ^ u64::from((v + 0.0).to_bits())).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// `per_key` standard normals for each key, row after row: key `k`'s come
/// from its own ChaCha stream of `seed` (stream id `k`, Box–Muller as in
/// [`normal_at`]), so they depend on `(seed, k)` alone, not on which keys
/// come before it.
pub(crate) fn normal_per_key(seed: u64, keys: &[u64], per_key: usize) -> Vec<f32> {
    let base = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(keys.len() * per_key);
    for &k in keys {
        // A clone of the untouched generator: setting its stream and word
        // position then generates one block (on a used generator each
        // setter regenerates one).
        let mut r = base.clone();
        r.set_stream(k);
        r.set_word_pos(0);
        let end = out.len() + per_key;
        while out.len() < end {
            let u1 = (r.next_u64_compat() as f64 + 1.0) / (u64::MAX as f64 + 2.0); // (0, 1)
            let u2 = r.next_u64_compat() as f64 / (u64::MAX as f64 + 1.0);
            let rad = (-2.0 * u1.ln()).sqrt();
            let th = 2.0 * std::f64::consts::PI * u2;
            out.push((rad * th.cos()) as f32);
            if out.len() < end {
                out.push((rad * th.sin()) as f32);
            }
        }
    }
    out
}

/// `next_u64` through the RngCore trait, named to keep call sites readable.
trait NextU64 {
    fn next_u64_compat(&mut self) -> u64;
}
impl NextU64 for ChaCha8Rng {
    fn next_u64_compat(&mut self) -> u64 {
        rand::RngCore::next_u64(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_noise_depends_on_the_key_alone() {
        let (a, b) = (row_key(&[1.0, 2.0, 3.0]), row_key(&[1.0, 2.0, 3.5]));
        assert_ne!(a, b);
        assert_eq!(a, row_key(&[1.0, 2.0, 3.0]));
        assert_eq!(row_key(&[-0.0, 1.0]), row_key(&[0.0, 1.0]), "equal rows, equal keys");
        // Key a's draws are the same alone, first or second; b's differ.
        let alone = normal_per_key(7, &[a], 5);
        let pair = normal_per_key(7, &[b, a], 5);
        assert_eq!(alone, pair[5..]);
        assert_ne!(alone, pair[..5]);
        assert_ne!(alone, normal_per_key(8, &[a], 5));
        // Standard normal: mean and variance over many keys (5,000 x 4
        // draws; the mean's standard error is 0.007, the variance's 0.01).
        let keys: Vec<u64> = (0..5000u32).map(|i| row_key(&[i as f32])).collect();
        let v = normal_per_key(1, &keys, 4);
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(m.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {m}, variance {var}");
    }

    #[test]
    fn noise_does_not_depend_on_batching() {
        let whole = normal_at(7, STREAM_SCORE_NOISE, 0, &[10, 3], Device::Cpu);
        let a = normal_at(7, STREAM_SCORE_NOISE, 0, &[3, 3], Device::Cpu);
        let b = normal_at(7, STREAM_SCORE_NOISE, 9, &[7, 3], Device::Cpu);
        let joined = Tensor::cat(&[a, b], 0);
        assert_eq!(f64::try_from((whole - joined).abs().max()).unwrap(), 0.0);
    }

    #[test]
    fn noise_is_roughly_standard_normal() {
        let t = normal_at(1, STREAM_SCORE_NOISE, 0, &[200_000], Device::Cpu);
        let mean = f64::try_from(t.mean(Kind::Double)).unwrap();
        let std = f64::try_from(t.std(true)).unwrap();
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((std - 1.0).abs() < 0.01, "std {std}");
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(&mut rng(3, STREAM_SHUFFLE), 1000);
        p.sort();
        assert_eq!(p, (0..1000).collect::<Vec<i64>>());
    }
}
