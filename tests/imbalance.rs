//! Resampling: the requested ratio is reached, rows come from the right
//! class, SMOTE points lie on segments between minority neighbours, draws are
//! seeded, and bad input is a typed error.

mod common;

use std::collections::HashSet;

use ndarray::{Array2, ArrayView1};
use oddity::baselines::imbalance::{random_oversample, random_undersample, smote};
use oddity::OddityError;

/// 1,000 rows of 3 features with distinct first columns; every 20th row is
/// positive (50 positives, 950 negatives).
fn data() -> (Array2<f32>, Vec<bool>) {
    let noise = Array2::from_shape_vec((1000, 2), common::normals(5, 2000)).unwrap();
    let x = Array2::from_shape_fn((1000, 3), |(i, j)| if j == 0 { i as f32 } else { noise[[i, j - 1]] });
    let y = (0..1000).map(|i| i % 20 == 0).collect();
    (x, y)
}

fn counts(y: &[bool]) -> (usize, usize) {
    let pos = y.iter().filter(|&&b| b).count();
    (y.len() - pos, pos)
}

/// The original row with this first column (rows are identified by it).
fn original<'a>(x: &'a Array2<f32>, row: ArrayView1<f32>) -> ArrayView1<'a, f32> {
    x.row(row[0] as usize)
}

#[test]
fn undersampling_keeps_the_requested_ratio_and_every_minority_row() {
    let (x, y) = data();
    for (ratio, majority) in [(1.0, 50), (0.5, 100), (0.3, 167), (50.0 / 950.0, 950)] {
        let (xs, ys) = random_undersample(x.view(), &y, ratio, 1).unwrap();
        assert_eq!(counts(&ys), (majority, 50), "ratio {ratio}");
        assert_eq!(xs.nrows(), ys.len());
        // Real rows with their own labels, no duplicates, original order.
        let firsts: Vec<usize> = xs.column(0).iter().map(|&v| v as usize).collect();
        assert!(firsts.windows(2).all(|w| w[0] < w[1]));
        for (row, &label) in xs.rows().into_iter().zip(&ys) {
            assert_eq!(row, original(&x, row));
            assert_eq!(label, y[row[0] as usize]);
        }
        let kept: HashSet<usize> = firsts.into_iter().collect();
        assert!((0..1000).filter(|i| i % 20 == 0).all(|i| kept.contains(&i)));
    }
}

#[test]
fn oversampling_keeps_the_requested_ratio_and_draws_minority_copies() {
    let (x, y) = data();
    for (ratio, minority) in [(1.0, 950), (0.5, 475), (0.1, 95)] {
        let (xs, ys) = random_oversample(x.view(), &y, ratio, 2).unwrap();
        assert_eq!(counts(&ys), (950, minority), "ratio {ratio}");
        assert_eq!(xs.slice(ndarray::s![..1000, ..]), x);
        assert_eq!(&ys[..1000], &y[..]);
        for (row, &label) in xs.rows().into_iter().zip(&ys).skip(1000) {
            assert!(label);
            assert_eq!(row, original(&x, row));
            assert!(y[row[0] as usize]);
        }
    }
    // With replacement: 900 draws from 50 rows repeat.
    let (xs, _) = random_oversample(x.view(), &y, 1.0, 2).unwrap();
    let distinct: HashSet<u32> = xs.column(0).iter().skip(1000).map(|&v| v as u32).collect();
    assert!(distinct.len() <= 50 && distinct.len() > 40);
}

/// The `k` nearest other minority rows of minority row `a` (brute force).
fn neighbours(m: &Array2<f32>, a: usize, k: usize) -> Vec<usize> {
    let d = |b: usize| m.row(a).iter().zip(m.row(b).iter()).map(|(p, q)| ((p - q) as f64).powi(2)).sum::<f64>();
    let mut others: Vec<usize> = (0..m.nrows()).filter(|&b| b != a).collect();
    others.sort_by(|&p, &q| d(p).total_cmp(&d(q)));
    others.truncate(k);
    others
}

/// Whether `p` lies on the segment from `a` to `b` (up to f32 rounding).
fn on_segment(p: ArrayView1<f32>, a: ArrayView1<f32>, b: ArrayView1<f32>) -> bool {
    let ab: Vec<f64> = a.iter().zip(b.iter()).map(|(a, b)| (b - a) as f64).collect();
    let ap: Vec<f64> = a.iter().zip(p.iter()).map(|(a, p)| (p - a) as f64).collect();
    let len2: f64 = ab.iter().map(|v| v * v).sum();
    let u = ab.iter().zip(&ap).map(|(v, w)| v * w).sum::<f64>() / len2;
    let off: f64 = ab.iter().zip(&ap).map(|(v, w)| (w - u * v).powi(2)).sum::<f64>().sqrt();
    (-1e-6..1.0 + 1e-6).contains(&u) && off < 1e-4
}

#[test]
fn smote_points_lie_on_segments_between_minority_neighbours() {
    // 30 minority rows in 4-d general position, 300 majority rows.
    let minority = Array2::from_shape_vec((30, 4), common::normals(11, 120)).unwrap();
    let majority = Array2::from_shape_vec((300, 4), common::normals(12, 1200)).unwrap() + 5.0;
    let x = ndarray::concatenate![ndarray::Axis(0), majority, minority];
    let y: Vec<bool> = (0..330).map(|i| i >= 300).collect();
    for k in [1, 3] {
        let (xs, ys) = smote(x.view(), &y, 1.0, k, 3).unwrap();
        assert_eq!(counts(&ys), (300, 300));
        assert_eq!(xs.slice(ndarray::s![..330, ..]), x);
        let knn: Vec<Vec<usize>> = (0..30).map(|a| neighbours(&minority, a, k)).collect();
        let mut strictly_inside = 0;
        for p in xs.rows().into_iter().skip(330) {
            let found = (0..30).any(|a| knn[a].iter().any(|&b| on_segment(p, minority.row(a), minority.row(b))));
            assert!(found, "k = {k}: {p} is on no segment between minority neighbours");
            if (0..30).all(|a| minority.row(a) != p) {
                strictly_inside += 1;
            }
        }
        // New points, not copies.
        assert!(strictly_inside > 260, "{strictly_inside}");
    }
}

#[test]
fn smote_reaches_the_ratio_and_is_seeded() {
    let (x, y) = data();
    let (xs, ys) = smote(x.view(), &y, 0.5, 5, 9).unwrap();
    assert_eq!(counts(&ys), (950, 475));
    assert_eq!((xs.clone(), ys.clone()), smote(x.view(), &y, 0.5, 5, 9).unwrap());
    assert_ne!(xs, smote(x.view(), &y, 0.5, 5, 10).unwrap().0);
    assert_eq!(random_oversample(x.view(), &y, 0.5, 4).unwrap(), random_oversample(x.view(), &y, 0.5, 4).unwrap());
    assert_ne!(random_undersample(x.view(), &y, 0.5, 4).unwrap(), random_undersample(x.view(), &y, 0.5, 5).unwrap());
}

#[test]
fn the_rarer_label_is_the_minority() {
    let (x, y) = data();
    let flipped: Vec<bool> = y.iter().map(|&b| !b).collect();
    let (_, ys) = random_oversample(x.view(), &flipped, 1.0, 0).unwrap();
    assert_eq!(counts(&ys), (950, 950));
    let (_, ys) = random_undersample(x.view(), &flipped, 0.5, 0).unwrap();
    assert_eq!(counts(&ys), (50, 100));
}

#[test]
fn bad_input_is_a_typed_error() {
    let (x, y) = data();
    let param = |r: oddity::Result<(Array2<f32>, Vec<bool>)>, name: &str| match r {
        Err(OddityError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("expected an error on `{name}`, got {other:?}"),
    };
    for ratio in [0.0, -0.5, 1.5, f64::NAN] {
        param(random_undersample(x.view(), &y, ratio, 0), "ratio");
        param(random_oversample(x.view(), &y, ratio, 0), "ratio");
        param(smote(x.view(), &y, ratio, 3, 0), "ratio");
    }
    // Below the current ratio (50/950): neither can go that way.
    param(random_undersample(x.view(), &y, 0.01, 0), "ratio");
    param(random_oversample(x.view(), &y, 0.01, 0), "ratio");
    param(smote(x.view(), &y, 1.0, 0, 0), "k");
    param(smote(x.view(), &y, 1.0, 50, 0), "k");
    param(random_oversample(x.view(), &y[..10], 1.0, 0), "y");
    param(random_oversample(x.view(), &[false; 1000], 1.0, 0), "y");
    let mut nan = x.clone();
    nan[[3, 1]] = f32::NAN;
    assert!(matches!(smote(nan.view(), &y, 1.0, 3, 0), Err(OddityError::NonFinite { row: 3, column: 1, .. })));
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(matches!(random_undersample(empty.view(), &[], 1.0, 0), Err(OddityError::EmptyInput(_))));
}
