//! The threshold percentile against numpy 2.4.6 `np.percentile(v, q)`
//! (default method "linear"), values printed with `repr(float(...))`.

use approx::assert_abs_diff_eq;
use oddity::{percentile, OddityError};

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
