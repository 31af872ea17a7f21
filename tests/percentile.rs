//! The threshold percentile against numpy 2.4.6 `np.percentile(v, q)`
//! (default method "linear"), values printed with `repr(float(...))`.

use approx::assert_abs_diff_eq;
use oddity::{percentile, percentile_threshold, OddityError, Ties};

const QS: [f64; 8] = [0.0, 5.0, 25.0, 50.0, 62.5, 95.0, 99.9, 100.0];

fn check(values: &[f64], expect: [f64; 8]) {
    for (q, e) in QS.iter().zip(expect) {
        let got = percentile(values, *q).unwrap();
        assert_abs_diff_eq!(got, e, epsilon = 1e-12);
    }
}

#[test]
fn three_values_unsorted() {
    check(&[3.0, 1.0, 2.0], [1.0, 1.1, 1.5, 2.0, 2.25, 2.9, 2.998, 3.0]);
}

#[test]
fn ties() {
    check(&[1.0, 2.0, 2.0, 2.0, 5.0, 7.0, 7.0], [1.0, 1.3, 2.0, 2.0, 4.25, 7.0, 7.0, 7.0]);
}

#[test]
fn single_value() {
    check(&[4.2], [4.2; 8]);
}

#[test]
fn ten_values_with_negatives() {
    check(
        &[0.5, -1.25, 3.75, 2.0, 9.5, -4.0, 0.0, 1.125, 6.25, 3.0],
        [-4.0, -2.7625, 0.125, 1.5625, 2.625, 8.037499999999996, 9.470750000000004, 9.5],
    );
}

/// 1001 draws of `np.random.default_rng(0).normal(size=1001)`; regenerated
/// here is not possible, so the test checks the interpolation on a sorted
/// arithmetic sequence of the same size instead, where the closed form is
/// `q/100 * 1000` for values 0..=1000.
#[test]
fn closed_form_on_a_ramp() {
    let v: Vec<f64> = (0..=1000).map(|i| i as f64).collect();
    for q in [0.0, 0.05, 12.34, 50.0, 95.0, 99.95, 100.0] {
        assert_abs_diff_eq!(percentile(&v, q).unwrap(), q * 10.0, epsilon = 1e-9);
    }
}

#[test]
fn out_of_range_and_empty_are_errors() {
    assert!(matches!(percentile(&[1.0], -0.1), Err(OddityError::InvalidParameter { .. })));
    assert!(matches!(percentile(&[1.0], 100.5), Err(OddityError::InvalidParameter { .. })));
    assert!(matches!(percentile(&[1.0], f64::NAN), Err(OddityError::InvalidParameter { .. })));
    assert!(matches!(percentile(&[], 50.0), Err(OddityError::EmptyInput(_))));
    assert!(matches!(percentile(&[1.0, f64::NAN], 50.0), Err(OddityError::InvalidParameter { .. })));
}

/// How many of `values` the strict rule `value > t` flags.
fn flagged(values: &[f64], t: f64) -> usize {
    values.iter().filter(|&&v| v > t).count()
}

/// `low` distinct scores 0, 1, 2, ..., then `tied` copies of 1000, then
/// `high` distinct scores 2000, 2001, ...; shuffled by reversal.
fn with_tie(low: usize, tied: usize, high: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..low).map(|i| i as f64).collect();
    v.extend(std::iter::repeat(1000.0).take(tied));
    v.extend((0..high).map(|i| 2000.0 + i as f64));
    v.reverse();
    v
}

#[test]
fn threshold_is_the_percentile_without_a_tie_at_it() {
    // The fixtures above (ties away from most percentiles) and a ramp: the
    // tie rule changes nothing unless equal scores straddle the percentile.
    let ramp: Vec<f64> = (0..=1000).map(|i| (i as f64).sqrt()).collect();
    for values in [&[3.0, 1.0, 2.0][..], &[0.5, -1.25, 3.75, 2.0, 9.5, -4.0, 0.0, 1.125, 6.25, 3.0], &ramp] {
        for q in QS.into_iter().chain([12.34, 99.5]) {
            let p = percentile(values, q).unwrap();
            assert_eq!(percentile_threshold(values, q, Ties::NearestCount).unwrap(), p, "q {q}");
            assert_eq!(percentile_threshold(values, q, Ties::Percentile).unwrap(), p, "q {q}");
        }
    }
}

#[test]
fn a_tie_straddling_the_percentile_is_flagged_when_that_is_nearer() {
    // 1000 scores, q = 95: distinct scores would give 1000 - 1 - floor(949.05)
    // = 50 flags. 949 low scores fill ranks 0-948, the tie ranks 949-980 (so
    // the percentile, rank 949.05, is 1000), 19 scores lie above it. The
    // percentile flags 19; flagging the tie gives 51, nearer 50.
    let v = with_tie(949, 32, 19);
    assert_eq!(percentile(&v, 95.0).unwrap(), 1000.0);
    assert_eq!(percentile_threshold(&v, 95.0, Ties::Percentile).unwrap(), 1000.0);
    assert_eq!(flagged(&v, 1000.0), 19);
    let t = percentile_threshold(&v, 95.0, Ties::NearestCount).unwrap();
    assert_eq!(t, 974.0); // halfway between 948, the next lower score, and 1000
    assert_eq!(flagged(&v, t), 51);
}

#[test]
fn a_tie_stays_unflagged_when_the_percentile_is_nearer() {
    // Ranks 940-952 tied: the percentile flags 47 (3 from 50), flagging the
    // tie would give 60 (10 from 50).
    let v = with_tie(940, 13, 47);
    let t = percentile_threshold(&v, 95.0, Ties::NearestCount).unwrap();
    assert_eq!(t, 1000.0);
    assert_eq!(flagged(&v, t), 47);
    // Equal distances keep the percentile: [1, 2, 2, 3] at q = 50 wants 2
    // flags; the percentile 2 flags 1, flagging the tie would give 3.
    assert_eq!(percentile_threshold(&[1.0, 2.0, 2.0, 3.0], 50.0, Ties::NearestCount).unwrap(), 2.0);
}

#[test]
fn a_tie_holding_the_minimum_or_adjacent_floats_is_still_flagged() {
    // [5, 5, 5, 5, 9] at q = 10 wants 4 flags; the percentile 5 flags 1, the
    // whole tie 5. No lower score: the threshold is the float just below 5.
    let v = [5.0, 5.0, 9.0, 5.0, 5.0];
    let t = percentile_threshold(&v, 10.0, Ties::NearestCount).unwrap();
    assert_eq!(t, f64::from_bits(5.0f64.to_bits() - 1)); // the float just below 5
    assert_eq!(flagged(&v, t), 5);
    // The next lower score one ulp below the tie: no float lies between, so
    // the threshold is that lower score itself, which stays unflagged.
    let (lo, tie) = (1.0f64, f64::from_bits(1.0f64.to_bits() + 1));
    let v = [lo, tie, tie, tie, 2.0];
    let t = percentile_threshold(&v, 30.0, Ties::NearestCount).unwrap();
    assert!(t >= lo && t < tie, "{t}");
    assert_eq!(flagged(&v, t), 4);
    // One ulp apart again, but the lower score's mantissa is odd: the
    // midpoint rounds (to even) onto the tie itself, so the threshold must
    // fall back to the float just below the tie, which is `lo`.
    let lo = f64::from_bits(1.0f64.to_bits() + 1);
    let tie = f64::from_bits(lo.to_bits() + 1);
    assert_eq!(lo + (tie - lo) / 2.0, tie);
    let v = [lo, tie, tie, tie, 2.0];
    let t = percentile_threshold(&v, 30.0, Ties::NearestCount).unwrap();
    assert_eq!(t, lo);
    assert_eq!(flagged(&v, t), 4);
}

#[test]
fn threshold_errors_are_the_percentile_errors() {
    for ties in [Ties::NearestCount, Ties::Percentile] {
        assert!(matches!(percentile_threshold(&[], 50.0, ties), Err(OddityError::EmptyInput(_))));
        assert!(matches!(percentile_threshold(&[1.0], 101.0, ties), Err(OddityError::InvalidParameter { .. })));
        assert!(matches!(
            percentile_threshold(&[1.0, f64::NAN], 50.0, ties),
            Err(OddityError::InvalidParameter { .. })
        ));
    }
}
