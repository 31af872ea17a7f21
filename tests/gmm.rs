//! GMM numerics against closed forms and an independent float64 reference.

use approx::assert_abs_diff_eq;
use oddity::math::gmm::{cov_diag_penalty, energy, gmm_params, GmmAccumulator, GmmState, Jitter};
use tch::{Device, Kind, Tensor};

const LOG_2PI: f64 = 1.837_877_066_409_345_5;

fn t2(rows: &[&[f64]]) -> Tensor {
    let c = rows[0].len() as i64;
    let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, c])
}

fn vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().view([-1])).unwrap()
}

fn jitter() -> Jitter {
    Jitter::new(1e-12, 6)
}

/// One component, identity covariance: E(z) = |z - mu|^2 / 2 + D/2 log 2pi.
#[test]
fn energy_one_component_identity_closed_form() {
    let mu = Tensor::from_slice(&[0.5f64, -1.0, 2.0]).view([1, 3]);
    let cov = Tensor::eye(3, (Kind::Double, Device::Cpu)).unsqueeze(0);
    let phi = Tensor::from_slice(&[1.0f64]);
    let state = GmmState::from_parts(&phi, &mu, &cov, &mut jitter()).unwrap();
    let z = t2(&[&[0.0, 0.0, 0.0], &[1.0, 2.0, 3.0], &[0.5, -1.0, 2.0]]);
    let e = vec(&state.scorer(Device::Cpu).energy(&z));
    let expect = |p: [f64; 3]| {
        let d2: f64 = p.iter().zip([0.5, -1.0, 2.0]).map(|(a, b)| (a - b) * (a - b)).sum();
        d2 / 2.0 + 1.5 * LOG_2PI
    };
    assert_abs_diff_eq!(e[0], expect([0.0, 0.0, 0.0]), epsilon = 1e-9);
    assert_abs_diff_eq!(e[1], expect([1.0, 2.0, 3.0]), epsilon = 1e-9);
    assert_abs_diff_eq!(e[2], 1.5 * LOG_2PI, epsilon = 1e-9);
}

/// Two diagonal components, by hand:
/// phi = (0.3, 0.7), mu1 = (0, 0), var1 = (1, 4); mu2 = (2, 1), var2 = (0.25, 1).
/// At z = (1, 0): log N1 = -log 2pi - 0.5 log 4 - 0.5 (1 + 0) = -2.531024...
/// log N2 = -log 2pi - 0.5 log 0.25 - 0.5 (4 + 1) = -3.644...
/// E = -log(0.3 e^{logN1} + 0.7 e^{logN2}).
#[test]
fn energy_two_diagonal_components_by_hand() {
    let phi = Tensor::from_slice(&[0.3f64, 0.7]);
    let mu = t2(&[&[0.0, 0.0], &[2.0, 1.0]]);
    let cov = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 4.0, 0.25, 0.0, 0.0, 1.0]).view([2, 2, 2]);
    let state = GmmState::from_parts(&phi, &mu, &cov, &mut jitter()).unwrap();
    let ln1 = -LOG_2PI - 0.5 * (4.0f64).ln() - 0.5 * (1.0 + 0.0);
    let ln2 = -LOG_2PI - 0.5 * (0.25f64).ln() - 0.5 * (4.0 + 1.0);
    let expect = -(0.3 * ln1.exp() + 0.7 * ln2.exp()).ln();
    let e = vec(&state.scorer(Device::Cpu).energy(&t2(&[&[1.0, 0.0]])));
    assert_abs_diff_eq!(e[0], expect, epsilon = 1e-9);
    // The training-path energy (batch parameters, triangular solve) agrees.
    let p = oddity::math::gmm::GmmParams {
        phi: phi.shallow_clone(),
        mu: mu.shallow_clone(),
        cov: cov.shallow_clone(),
        chol: cov.linalg_cholesky(false),
        log_det: Tensor::from_slice(&[(4.0f64).ln(), (0.25f64).ln()]),
        jitter: 0.0,
    };
    assert_abs_diff_eq!(vec(&energy(&t2(&[&[1.0, 0.0]]), &p))[0], expect, epsilon = 1e-9);
}

/// Full covariance against scipy 1.17.1:
/// `-np.log(0.4*multivariate_normal([0,0],[[2,0.6],[0.6,1]]).pdf(z)
///          + 0.6*multivariate_normal([1,-1],[[0.5,-0.2],[-0.2,0.8]]).pdf(z))`
/// for z = (0.3, -0.2), (2, 1), (-1, 3).
#[test]
fn energy_full_covariance_matches_scipy() {
    let phi = Tensor::from_slice(&[0.4f64, 0.6]);
    let mu = t2(&[&[0.0, 0.0], &[1.0, -1.0]]);
    let cov = Tensor::from_slice(&[2.0f64, 0.6, 0.6, 1.0, 0.5, -0.2, -0.2, 0.8]).view([2, 2, 2]);
    let state = GmmState::from_parts(&phi, &mu, &cov, &mut jitter()).unwrap();
    let z = t2(&[&[0.3, -0.2], &[2.0, 1.0], &[-1.0, 3.0]]);
    let e = vec(&state.scorer(Device::Cpu).energy(&z));
    let scipy = [2.063679093052249, 4.0364327918964396, 9.84581385886841];
    for (a, b) in e.iter().zip(scipy) {
        assert_abs_diff_eq!(*a, b, epsilon = 1e-9);
    }
}

/// With one-hot memberships the parameters are the per-cluster sample mean
/// and (biased) covariance.
#[test]
fn params_from_hard_assignment_are_cluster_moments() {
    let z = t2(&[&[1.0, 2.0], &[3.0, 2.0], &[2.0, 5.0], &[10.0, 0.0], &[12.0, 4.0]]);
    let g = t2(&[&[1.0, 0.0], &[1.0, 0.0], &[1.0, 0.0], &[0.0, 1.0], &[0.0, 1.0]]);
    let p = gmm_params(&z, &g, &mut jitter()).unwrap();
    assert_eq!(vec(&p.phi), vec![0.6, 0.4]);
    let mu = vec(&p.mu);
    assert_abs_diff_eq!(mu.as_slice(), [2.0, 3.0, 11.0, 2.0].as_slice(), epsilon = 1e-12);
    // cluster 1 deviations (-1,-1), (1,-1), (0,2): var x 2/3, var y 6/3, cov xy (1 - 1 + 0)/3 = 0
    let cov = vec(&p.cov);
    let expect = [2.0 / 3.0, 0.0, 0.0, 2.0, 1.0, 2.0, 2.0, 4.0];
    assert_abs_diff_eq!(cov.as_slice(), expect.as_slice(), epsilon = 1e-12);
}

/// Streaming accumulation over batches equals the one-pass estimate.
#[test]
fn streaming_equals_one_pass() {
    tch::manual_seed(3);
    let z = Tensor::randn([1000, 3], (Kind::Double, Device::Cpu)) * 2.0 + 1.0;
    let g = Tensor::randn([1000, 2], (Kind::Double, Device::Cpu)).softmax(-1, Kind::Double);
    let one = gmm_params(&z, &g, &mut jitter()).unwrap();
    let mut acc = GmmAccumulator::new(2, 3, Device::Cpu);
    for start in (0..1000).step_by(137) {
        let len = 137.min(1000 - start);
        acc.add(&z.narrow(0, start, len), &g.narrow(0, start, len));
    }
    let s = acc.finish(&mut jitter()).unwrap();
    assert_abs_diff_eq!(s.phi.as_slice(), vec(&one.phi).as_slice(), epsilon = 1e-12);
    assert_abs_diff_eq!(s.mu.as_slice(), vec(&one.mu).as_slice(), epsilon = 1e-10);
    assert_abs_diff_eq!(s.cov.as_slice(), vec(&one.cov).as_slice(), epsilon = 1e-10);
    // and the energies agree
    let e_stream = vec(&s.scorer(Device::Cpu).energy(&z));
    let e_one = vec(&energy(&z, &one));
    assert_abs_diff_eq!(e_stream.as_slice(), e_one.as_slice(), epsilon = 1e-8);
}

/// All codes equal: covariance 0, jitter makes it factorisable, energies finite.
#[test]
fn degenerate_equal_codes_are_finite() {
    let z = Tensor::ones([50, 3], (Kind::Float, Device::Cpu));
    let g = Tensor::full([50, 2], 0.5, (Kind::Float, Device::Cpu));
    let mut j = Jitter::new(1e-6, 6);
    let p = gmm_params(&z, &g, &mut j).unwrap();
    let e = energy(&z, &p);
    assert!(vec(&e).iter().all(|v| v.is_finite()));
    assert!(f64::try_from(cov_diag_penalty(&p)).unwrap().is_finite());
}

/// A component with no membership at all still gives finite energies.
#[test]
fn degenerate_empty_component_is_finite() {
    tch::manual_seed(1);
    let z = Tensor::randn([40, 2], (Kind::Float, Device::Cpu));
    let g = Tensor::cat(
        &[Tensor::ones([40, 1], (Kind::Float, Device::Cpu)), Tensor::zeros([40, 1], (Kind::Float, Device::Cpu))],
        1,
    );
    let p = gmm_params(&z, &g, &mut Jitter::new(1e-6, 6)).unwrap();
    assert!(vec(&energy(&z, &p)).iter().all(|v| v.is_finite()));
    let mut acc = GmmAccumulator::new(2, 2, Device::Cpu);
    acc.add(&z, &g);
    let s = acc.finish(&mut Jitter::new(1e-6, 6)).unwrap();
    assert!(vec(&s.scorer(Device::Cpu).energy(&z)).iter().all(|v| v.is_finite()));
}

/// Huge values: energies stay finite (f64 scoring path) and ordered.
#[test]
fn degenerate_huge_values_are_finite() {
    let z = t2(&[&[1e6, -1e6], &[1.1e6, -0.9e6], &[0.9e6, -1.2e6], &[1e6, -1e6]]);
    let g = Tensor::ones([4, 1], (Kind::Double, Device::Cpu));
    let mut acc = GmmAccumulator::new(1, 2, Device::Cpu);
    acc.add(&z, &g);
    let s = acc.finish(&mut Jitter::new(1e-6, 6)).unwrap();
    let far = t2(&[&[1e6, -1e6], &[1e9, 1e9]]);
    let e = vec(&s.scorer(Device::Cpu).energy(&far));
    assert!(e.iter().all(|v| v.is_finite()), "{e:?}");
    assert!(e[1] > e[0]);
}

/// NaN codes give a clear error, not NaN parameters.
#[test]
fn nan_codes_are_an_error() {
    let z = t2(&[&[f64::NAN, 0.0], &[1.0, 1.0]]);
    let g = Tensor::ones([2, 1], (Kind::Double, Device::Cpu));
    assert!(matches!(gmm_params(&z, &g, &mut jitter()), Err(oddity::OddityError::Numerical(_))));
}

/// A singular covariance that eps cannot fix is repaired by escalation and counted.
#[test]
fn jitter_escalates_and_is_reported() {
    // Rank-1 covariance with a negative eigenvalue from rounding is made PD.
    let cov = Tensor::from_slice(&[1.0f64, 1.0, 1.0, 1.0 - 1e-3]).view([1, 2, 2]);
    let mut j = Jitter::new(1e-9, 6);
    let s = GmmState::from_parts(&Tensor::from_slice(&[1.0f64]), &t2(&[&[0.0, 0.0]]), &cov, &mut j).unwrap();
    assert_eq!(j.retries, 1);
    assert!(s.jitter > 1e-9 && s.jitter <= 1e-2);
    // And an impossible one is an error naming the component.
    let bad = Tensor::from_slice(&[1.0f64, 0.0, 0.0, -1e3]).view([1, 2, 2]);
    let r = GmmState::from_parts(&Tensor::from_slice(&[1.0f64]), &t2(&[&[0.0, 0.0]]), &bad, &mut Jitter::new(1e-9, 3));
    assert!(matches!(r, Err(oddity::OddityError::Cholesky { component: 0, .. })));
}
