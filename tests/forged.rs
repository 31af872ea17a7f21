//! The attacker's tests: forged detector files (checksum recomputed, so only
//! the inner checks stand), hostile configs, extreme rows and a byte-level
//! fuzz of the metadata block.
//!
//! The policy under test: a forged file fails to load with a typed
//! `OddityError` (never a panic or an abort), quickly and without a huge
//! allocation, or loads to a detector whose scores on finite input are
//! finite or +inf (+inf = "could not score", flagged); NaN never comes out,
//! and a non-finite threshold is refused. `oddity info` verifies exactly as
//! loading does. Hostile configs get a typed error, quickly.
//!
//! Every case runs under `catch_unwind`, a timer, an allocation tracker and
//! a watchdog; a test collects every failing case and reports them all in
//! one assertion. If the process aborts (a libtorch abort, an allocation
//! failure) or hangs, the watchdog / the file `forged-<test>.case` in
//! `CARGO_TARGET_TMPDIR` names the case that was running.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use oddity::persist::{self, encode_raw, ArrayEntry, FileMeta, MAGIC};
use oddity::*;

// ---------------------------------------------------------------------------
// Guards: allocation tracker, panic recorder, watchdog, per-case checks.
// ---------------------------------------------------------------------------

/// A single Rust allocation at least this large counts as "huge".
const HUGE_ALLOC: usize = 512 << 20;
/// Peak-RSS growth during one case that counts as a huge allocation (it
/// also sees libtorch's allocations, which the Rust allocator does not).
const HUGE_RSS_KB: u64 = 1 << 20;
/// A case slower than this fails.
const CASE_LIMIT: Duration = Duration::from_secs(10);
/// A case still running after this is a hang: the watchdog aborts.
const HANG: Duration = Duration::from_secs(120);

static HUGE_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LARGEST_HUGE: AtomicUsize = AtomicUsize::new(0);

struct Tracking;

/// Counts a huge allocation: on the thread of a running case, or globally
/// (oddity's worker threads, other tests).
fn note_size(size: usize) {
    if size >= HUGE_ALLOC {
        if QUIET.with(|q| q.get()) {
            CASE_HUGE.with(|c| c.set(c.get().max(size)));
        } else {
            HUGE_ALLOCS.fetch_add(1, Ordering::SeqCst);
            LARGEST_HUGE.fetch_max(size, Ordering::SeqCst);
        }
    }
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note_size(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note_size(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note_size(new);
        System.realloc(p, l, new)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Peak resident set of the process, in kB.
fn vm_hwm_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

static PANICS: AtomicUsize = AtomicUsize::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());
thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static CASE_PANICS: Cell<usize> = const { Cell::new(0) };
    static CASE_HUGE: Cell<usize> = const { Cell::new(0) };
    static CASE_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Counts every panic (also those oddity catches itself) and keeps the last
/// message: a running case's on its thread, unprinted; others globally.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A case's own panics are counted on its thread, so that cases of
            // tests running in parallel are not blamed for each other's.
            if QUIET.with(|q| q.get()) {
                CASE_PANICS.with(|c| c.set(c.get() + 1));
            } else {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let first: String = msg.lines().next().unwrap_or("").chars().take(200).collect();
            if QUIET.with(|q| q.get()) {
                CASE_PANIC.with(|c| *c.borrow_mut() = format!("{first}{at}"));
            } else {
                *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = format!("{first}{at}");
                default(info);
            }
        }));
    });
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    let last = CASE_PANIC.with(|c| c.borrow().clone());
    let payload = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let first: String = payload.lines().next().unwrap_or("").chars().take(200).collect();
    if last.starts_with(&first) {
        last
    } else {
        first
    }
}

/// Aborts the process, naming the case, if one case runs past [`HANG`];
/// writes the running case to `CARGO_TARGET_TMPDIR/forged-<test>.case`, so
/// that an abort elsewhere can be traced to its case.
struct Watchdog {
    slot: Arc<Mutex<Option<(String, Instant)>>>,
    stop: Arc<AtomicBool>,
    progress: PathBuf,
}

impl Watchdog {
    fn new(test: &'static str) -> Self {
        install_panic_hook();
        let slot: Arc<Mutex<Option<(String, Instant)>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (slot.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                let cur = s.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some((case, t0)) = cur {
                    if t0.elapsed() > HANG {
                        let _ = writeln!(
                            std::io::stderr(),
                            "\nforged.rs {test}: case `{case}` has run for {:.0} s: HANG, aborting the test process",
                            t0.elapsed().as_secs_f64()
                        );
                        std::process::abort();
                    }
                }
            }
        });
        let progress = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("forged-{test}.case"));
        Watchdog { slot, stop, progress }
    }

    fn enter(&self, case: &str) {
        let _ = std::fs::write(&self.progress, case);
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((case.to_string(), Instant::now()));
    }

    fn leave(&self) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Cases run under catch_unwind, so no case is running here.
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.progress);
    }
}

/// What became of one case.
enum Verdict {
    /// Refused with a typed error.
    Refused,
    /// Loaded (or built and fitted) and behaved.
    Accepted,
    /// Broke the policy.
    Failed(String),
}

/// Tally of a table of cases.
#[derive(Default)]
struct Tally {
    cases: usize,
    refused: usize,
    accepted: usize,
    failures: Vec<String>,
    /// Panics that oddity caught and turned into errors itself (by design
    /// for libtorch failures; listed, not failed).
    caught_panics: Vec<String>,
    slowest: (Duration, String),
}

impl Tally {
    fn summary(&self, what: &str) -> String {
        format!(
            "{what}: {} cases, {} refused with a typed error, {} accepted and safe, {} FAILED, \
             {} panics caught inside oddity; slowest {:.3} s ({})",
            self.cases,
            self.refused,
            self.accepted,
            self.failures.len(),
            self.caught_panics.len(),
            self.slowest.0.as_secs_f64(),
            self.slowest.1
        )
    }

    fn merge(&mut self, o: Tally) {
        self.cases += o.cases;
        self.refused += o.refused;
        self.accepted += o.accepted;
        self.failures.extend(o.failures);
        self.caught_panics.extend(o.caught_panics);
        if o.slowest.0 > self.slowest.0 {
            self.slowest = o.slowest;
        }
    }
}

/// Runs one case: `body` returns `Err` for a typed refusal, `Ok(Err(why))`
/// for a policy violation it found, `Ok(Ok(()))` for an accepted, safe case.
/// Adds panics, time, huge allocations to the verdict.
fn run_case(
    w: &Watchdog,
    tally: &mut Tally,
    label: &str,
    body: impl FnOnce() -> oddity::Result<std::result::Result<(), String>>,
) -> Verdict {
    w.enter(label);
    CASE_PANICS.with(|c| c.set(0));
    CASE_HUGE.with(|c| c.set(0));
    let (panics0, huge0, hwm0) = (PANICS.load(Ordering::SeqCst), HUGE_ALLOCS.load(Ordering::SeqCst), vm_hwm_kb());
    let t0 = Instant::now();
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(body));
    QUIET.with(|q| q.set(false));
    let dt = t0.elapsed();
    w.leave();
    let mut problems = Vec::new();
    let mut verdict = match r {
        Err(p) => {
            problems.push(format!("PANIC: {}", panic_text(&p)));
            None
        }
        Ok(Err(_)) => Some(Verdict::Refused),
        Ok(Ok(Err(why))) => {
            problems.push(why);
            None
        }
        Ok(Ok(Ok(()))) => Some(Verdict::Accepted),
    };
    if dt > CASE_LIMIT {
        problems.push(format!("SLOW: took {:.1} s (limit {} s)", dt.as_secs_f64(), CASE_LIMIT.as_secs()));
    }
    let own = CASE_HUGE.with(|c| c.get());
    if own > 0 {
        problems.push(format!("HUGE ALLOCATION: {own} bytes in one block"));
    }
    if HUGE_ALLOCS.load(Ordering::SeqCst) != huge0 {
        let n = LARGEST_HUGE.load(Ordering::SeqCst);
        problems.push(format!("HUGE ALLOCATION on another thread (this or a concurrent case): {n} bytes in one block"));
    }
    let grown = vm_hwm_kb().saturating_sub(hwm0);
    if grown > HUGE_RSS_KB {
        problems.push(format!("HUGE ALLOCATION: peak RSS grew by {} MiB", grown >> 10));
    }
    let panics = CASE_PANICS.with(|c| c.get());
    if panics > 0 && problems.iter().all(|p| !p.starts_with("PANIC")) {
        let last = CASE_PANIC.with(|c| c.borrow().clone());
        tally.caught_panics.push(format!("[{label}] {panics} panic(s) caught inside oddity, last: {last}"));
    }
    // Panics on other threads (oddity's scoring workers) while the case ran.
    let elsewhere = PANICS.load(Ordering::SeqCst) - panics0;
    if elsewhere > 0 && !LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).contains("tests/forged.rs") {
        let last = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone();
        tally
            .caught_panics
            .push(format!("[{label}] (or a concurrent test) {elsewhere} panic(s) on another thread: {last}"));
    }
    if !problems.is_empty() {
        verdict = Some(Verdict::Failed(problems.join("; ")));
    }
    tally.cases += 1;
    if dt > tally.slowest.0 {
        tally.slowest = (dt, label.to_string());
    }
    let v = verdict.expect("a verdict");
    // FORGED_LOG=path lists every case with its verdict (to review which
    // forgeries load).
    if let Some(log) = std::env::var_os("FORGED_LOG") {
        let what = match &v {
            Verdict::Refused => "refused".to_string(),
            Verdict::Accepted => "ACCEPTED".to_string(),
            Verdict::Failed(why) => format!("FAILED {why}"),
        };
        static LOG: Mutex<()> = Mutex::new(());
        let _one_writer = LOG.lock().unwrap_or_else(|e| e.into_inner());
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("FORGED_LOG");
        let _ = writeln!(f, "{what}\t{label}");
    }
    match &v {
        Verdict::Refused => tally.refused += 1,
        Verdict::Accepted => tally.accepted += 1,
        Verdict::Failed(why) => tally.failures.push(format!("[{label}] {why}")),
    }
    v
}

/// Scores must be one per row, finite or +inf.
fn check_instance(what: &str, n: usize, s: &ndarray::Array1<f32>) -> std::result::Result<(), String> {
    if s.len() != n {
        return Err(format!("{what}: {} scores for {n} rows", s.len()));
    }
    let bad: Vec<String> = s
        .iter()
        .enumerate()
        .filter(|(_, v)| !(v.is_finite() || **v == f32::INFINITY))
        .take(5)
        .map(|(i, v)| format!("row {i} = {v}"))
        .collect();
    if !bad.is_empty() {
        return Err(format!("{what}: scores neither finite nor +inf: {}", bad.join(", ")));
    }
    Ok(())
}

/// Everything a caller may do with a loaded detector, checked against the
/// policy: errors are fine, NaN or -inf scores and non-finite thresholds
/// are not.
fn exercise(d: &mut dyn Detector, x: &Array2<f32>) -> std::result::Result<(), String> {
    if let Some(t) = d.threshold() {
        if !t.is_finite() {
            return Err(format!("NON-FINITE THRESHOLD accepted: {t}"));
        }
    }
    let n = x.nrows();
    if let Ok(s) = d.score(x.view()) {
        check_instance("score", n, &s.instance)?;
        if let Some(f) = &s.feature {
            if f.iter().any(|v| v.is_nan()) {
                return Err("score: NaN feature score".into());
            }
        }
    }
    if let Ok(t) = d.infer_threshold(x.view(), 95.0) {
        if !t.is_finite() {
            return Err(format!("infer_threshold returned {t}"));
        }
    }
    if let Ok(p) = d.predict(x.view(), &PredictConfig::default()) {
        if !p.threshold.is_finite() {
            return Err(format!("predict used threshold {}", p.threshold));
        }
        if let (Some(s), Some(flags)) = (&p.instance_score, p.is_outlier.instance()) {
            check_instance("predict", n, s)?;
            if s.iter().zip(flags).any(|(v, f)| *v == f32::INFINITY && !f) {
                return Err("predict: a +inf score is not flagged".into());
            }
        }
    }
    let feat = PredictConfig { outlier_type: OutlierType::Feature, ..Default::default() };
    if let Ok(p) = d.predict(x.view(), &feat) {
        if p.feature_score.as_ref().is_some_and(|f| f.iter().any(|v| v.is_nan())) {
            return Err("predict (feature): NaN feature score".into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Detectors to attack.
// ---------------------------------------------------------------------------

const F: usize = 5;

fn fit_cfg() -> FitConfig {
    FitConfig { epochs: Some(2), batch_size: 64, ..Default::default() }
}

/// Every registered detector with its default config, plus the AE with the
/// two feature scores that store statistics in the file's extra state.
fn sources() -> Vec<(String, &'static str, Option<Value>)> {
    let mut v: Vec<(String, &'static str, Option<Value>)> =
        registry::BUILTIN.iter().map(|e| (e.kind.tag().to_string(), e.kind.tag(), None)).collect();
    for score in ["log_normalized", "mahalanobis"] {
        let mut c = registry::get("ae").unwrap().default_config(F).unwrap();
        c["score"] = json!(score);
        v.push((format!("ae({score})"), "ae", Some(c)));
    }
    v
}

fn trained(kind: &str, config: Option<Value>) -> Box<dyn Detector> {
    let x = common::inliers(1, 300, F);
    let mut d = registry::get(kind).unwrap().build(F, config, Device::Cpu).unwrap();
    d.fit(x.view(), &fit_cfg()).unwrap();
    d.infer_threshold(x.view(), 95.0).unwrap();
    d
}

fn is_network(kind: &str) -> bool {
    matches!(kind, "ae" | "aegmm" | "vaegmm")
}

/// The guards are honest: a panic, a huge allocation, a NaN or -inf score
/// and a non-finite threshold each fail a case; a typed error refuses it.
#[test]
fn the_guards_catch_what_they_guard() {
    let w = Watchdog::new("the_guards_catch_what_they_guard");
    let mut t = Tally::default();
    let failed = |v: Verdict, what: &str| match v {
        Verdict::Failed(why) => assert!(why.contains(what), "{why}"),
        _ => panic!("not failed: {what}"),
    };
    failed(run_case(&w, &mut t, "panics", || panic!("boom")), "PANIC: boom");
    let huge = || {
        let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(HUGE_ALLOC));
        drop(v);
        Ok(Ok(()))
    };
    failed(run_case(&w, &mut t, "allocates", huge), "HUGE ALLOCATION");
    let nan = ndarray::arr1(&[1.0, f32::NAN]);
    failed(run_case(&w, &mut t, "NaN", || Ok(check_instance("s", 2, &nan))), "neither finite nor +inf");
    let neg = ndarray::arr1(&[f32::NEG_INFINITY, f32::INFINITY]);
    failed(run_case(&w, &mut t, "-inf", || Ok(check_instance("s", 2, &neg))), "neither finite nor +inf");
    let refused = run_case(&w, &mut t, "typed", || Err(OddityError::param("x", "no")));
    assert!(matches!(refused, Verdict::Refused));
    let ok = ndarray::arr1(&[1.0, f32::INFINITY]);
    assert!(matches!(run_case(&w, &mut t, "fine", || Ok(check_instance("s", 2, &ok))), Verdict::Accepted));
    let mut d = trained("knn", None);
    d.state_mut().threshold = Some(f64::NAN);
    let x = common::inliers(3, 10, F);
    failed(run_case(&w, &mut t, "NaN threshold", || Ok(exercise(&mut *d, &x))), "NON-FINITE THRESHOLD");
    assert_eq!((t.cases, t.failures.len(), t.refused, t.accepted), (7, 5, 1, 1));
}

// ---------------------------------------------------------------------------
// Mutations.
// ---------------------------------------------------------------------------

/// Values every number (and null) of a JSON document is set to.
fn hostile_numbers() -> Vec<(&'static str, Value)> {
    vec![
        ("0", json!(0)),
        ("1", json!(1)),
        ("-1", json!(-1)),
        ("1e9", json!(1_000_000_000u64)),
        ("2^62", json!(1u64 << 62)),
        ("u64::MAX", json!(u64::MAX)),
        ("1e308", json!(1e308)),
        ("-1e308", json!(-1e308)),
        // Finite in f64, +inf as f32; and 0 as f32.
        ("3.5e38", json!(3.5e38)),
        ("1e-300", json!(1e-300)),
    ]
}

/// Every one-place mutation of a JSON document: each number/null set to
/// each hostile number, bools flipped, strings replaced, arrays emptied,
/// grown and (all-number arrays) filled with one extreme, keys removed.
fn json_mutations(v: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut |path, node| {
        let mut at = |label: String, new: Value| {
            let mut doc = v.clone();
            *pointer(&mut doc, path) = new;
            out.push((format!("{}={label}", show(path)), doc));
        };
        match node {
            Value::Number(_) | Value::Null => {
                for (l, n) in hostile_numbers() {
                    at(l.into(), n);
                }
            }
            Value::Bool(b) => at((!b).to_string(), json!(!b)),
            Value::String(_) => {
                at("\"x\"".into(), json!("x"));
                at("\"\"".into(), json!(""));
            }
            Value::Array(a) => {
                at("[]".into(), json!([]));
                if let Some(first) = a.first() {
                    let mut g = a.clone();
                    g.push(first.clone());
                    at("[..,first]".into(), Value::Array(g));
                }
                if !a.is_empty() && a.iter().all(Value::is_number) {
                    for (l, n) in [("all 1e308", json!(1e308)), ("all -1e308", json!(-1e308)), ("all 0", json!(0))] {
                        at(l.into(), Value::Array(vec![n; a.len()]));
                    }
                    let alt: Vec<Value> =
                        (0..a.len()).map(|i| json!(if i % 2 == 0 { 1e308 } else { -1e308 })).collect();
                    at("alternating ±1e308".into(), Value::Array(alt));
                }
            }
            Value::Object(m) => {
                for k in m.keys() {
                    let mut doc = v.clone();
                    pointer(&mut doc, path).as_object_mut().unwrap().remove(k);
                    out.push((format!("{}.{k} removed", show(path)), doc));
                }
            }
        }
    });
    out
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn show(path: &[Step]) -> String {
    let mut s = String::from("$");
    for p in path {
        match p {
            Step::Key(k) => s += &format!(".{k}"),
            Step::Index(i) => s += &format!("[{i}]"),
        }
    }
    s
}

fn pointer<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, p| match p {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn walk(v: &Value, path: &mut Vec<Step>, f: &mut dyn FnMut(&[Step], &Value)) {
    f(path, v);
    match v {
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(Step::Index(i));
                walk(c, path, f);
                path.pop();
            }
        }
        Value::Object(m) => {
            for (k, c) in m {
                path.push(Step::Key(k.clone()));
                walk(c, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A file's arrays as (entry, bytes), to edit and tile again.
type Parts = Vec<(ArrayEntry, Vec<u8>)>;

fn parts(meta: &FileMeta, data: &[u8]) -> Parts {
    meta.arrays.iter().map(|e| (e.clone(), data[e.offset as usize..(e.offset + e.len) as usize].to_vec())).collect()
}

/// Lays `parts` out again, in order, with consistent offsets and lengths.
fn tile(meta: &FileMeta, parts: Parts) -> (FileMeta, Vec<u8>) {
    let mut m = meta.clone();
    let mut data = Vec::new();
    m.arrays = parts
        .into_iter()
        .map(|(mut e, b)| {
            e.offset = data.len() as u64;
            e.len = b.len() as u64;
            data.extend(b);
            e
        })
        .collect();
    (m, data)
}

fn f32_at(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap())
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap())
}

fn put(b: &mut [u8], i: usize, v: [u8; 4]) {
    b[4 * i..4 * i + 4].copy_from_slice(&v);
}

/// One forged file: a label and its metadata and data before encoding.
type Forgery = (String, FileMeta, Vec<u8>);

/// The table of mutations of one saved file.
fn forgeries(meta: &FileMeta, data: &[u8]) -> Vec<Forgery> {
    let mut out: Vec<Forgery> = Vec::new();
    let mut m_only = |label: String, f: &dyn Fn(&mut FileMeta)| {
        let mut m = meta.clone();
        f(&mut m);
        out.push((label, m, data.to_vec()));
    };

    // Config and extra state: every field.
    for (l, c) in json_mutations(&serde_json::from_str(&meta.config_json).unwrap()) {
        m_only(format!("config {l}"), &|m| m.config_json = c.to_string());
    }
    for delta in [-1i64, 1] {
        m_only(format!("config n_features{delta:+}"), &|m| {
            let mut c: Value = serde_json::from_str(&m.config_json).unwrap();
            c["n_features"] = json!(c["n_features"].as_i64().unwrap() + delta);
            m.config_json = c.to_string();
        });
    }
    for (l, c) in json_mutations(&serde_json::from_str(&meta.extra_json).unwrap()) {
        m_only(format!("extra {l}"), &|m| m.extra_json = c.to_string());
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let garbage: Vec<(String, &str)> = ["", "{", "null", "[]", "1e999", "\"x\"", "{\"n_features\":5}"]
        .iter()
        .map(|g| (format!("{g:?}"), *g))
        .chain([("100,000 nested arrays".to_string(), deep.as_str())])
        .collect();
    for (l, g) in &garbage {
        m_only(format!("config_json = {l}"), &|m| m.config_json = g.to_string());
        m_only(format!("extra_json = {l}"), &|m| m.extra_json = g.to_string());
        m_only(format!("report_json = {l}"), &|m| m.report_json = Some(g.to_string()));
    }
    m_only("report_json = None".into(), &|m| m.report_json = None);
    if let Some(r) = &meta.report_json {
        for (l, c) in json_mutations(&serde_json::from_str(r).unwrap()).into_iter().step_by(7) {
            m_only(format!("report {l}"), &|m| m.report_json = Some(c.to_string()));
        }
    }

    // Header-ish fields.
    for k in registry::names_builtin().into_iter().filter(|k| *k != meta.kind) {
        m_only(format!("kind = {k}"), &|m| m.kind = k.into());
    }
    let class = registry::get(&meta.kind).unwrap().kind.name();
    for k in ["nope", "", class, "AE "] {
        m_only(format!("kind = {k:?}"), &|m| m.kind = k.into());
    }
    for v in [65535u16, 1, 0, 3] {
        m_only(format!("format_version = {v}"), &|m| m.format_version = v);
    }
    m_only("library_version = 999.0.0".into(), &|m| m.library_version = "999.0.0".into());
    for s in ["cuda:7", "", "mps"] {
        m_only(format!("saved_on = {s:?}"), &|m| m.saved_on = s.into());
    }
    m_only("fitted flipped".into(), &|m| m.fitted = !m.fitted);
    m_only("fitted flipped, threshold None".into(), &|m| {
        m.fitted = !m.fitted;
        m.threshold = None;
    });

    // Threshold.
    for t in [Some(f64::NAN), Some(f64::INFINITY), Some(f64::NEG_INFINITY), None, Some(1e308), Some(-1e308)] {
        m_only(format!("threshold = {t:?}"), &|m| m.threshold = t);
    }

    // Standardizer.
    m_only("scaler removed".into(), &|m| m.scaler = None);
    m_only("scaler added".into(), &|m| m.scaler = Some(Standardizer { mean: vec![0.0; F], std: vec![1.0; F] }));
    let scaler = meta.scaler.clone().unwrap_or(Standardizer { mean: vec![0.0; F], std: vec![1.0; F] });
    type ScalerEdit = (&'static str, fn(&mut Standardizer));
    let scaler_edits: Vec<ScalerEdit> = vec![
        ("std[0] = -1", |s| s.std[0] = -1.0),
        ("std[0] = 0", |s| s.std[0] = 0.0),
        ("std[0] = NaN", |s| s.std[0] = f32::NAN),
        ("std[0] = inf", |s| s.std[0] = f32::INFINITY),
        ("std all 1.2e-38", |s| s.std.iter_mut().for_each(|v| *v = 1.2e-38)),
        ("std all 1e-45 (subnormal)", |s| s.std.iter_mut().for_each(|v| *v = 1e-45)),
        ("std all 3e38", |s| s.std.iter_mut().for_each(|v| *v = 3e38)),
        ("mean[0] = NaN", |s| s.mean[0] = f32::NAN),
        ("mean all 3e38", |s| s.mean.iter_mut().for_each(|v| *v = 3e38)),
        ("mean alternating ±3e38", |s| {
            s.mean.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { 3e38 } else { -3e38 })
        }),
        ("width +1", |s| {
            s.mean.push(0.0);
            s.std.push(1.0);
        }),
        ("width -1", |s| {
            s.mean.pop();
            s.std.pop();
        }),
        ("mean width +1 only", |s| s.mean.push(0.0)),
        ("empty", |s| {
            s.mean.clear();
            s.std.clear();
        }),
    ];
    for (l, edit) in scaler_edits {
        let mut s = scaler.clone();
        edit(&mut s);
        m_only(format!("scaler {l}"), &|m| m.scaler = Some(s.clone()));
    }

    // Mixture.
    if let Some(g) = &meta.gmm {
        use oddity::math::gmm::GmmState;
        let (k, d) = (g.k, g.d);
        type GmmEdit = (&'static str, Box<dyn Fn(&mut GmmState)>);
        let consistent_log_det = |g: &mut GmmState| {
            let d = g.d;
            for c in 0..g.k {
                let l = &g.chol[c * d * d..(c + 1) * d * d];
                g.log_det[c] = (0..d).map(|i| 2.0 * l[i * d + i].ln()).sum();
            }
        };
        let edits: Vec<GmmEdit> = vec![
            ("phi[0] negative", Box::new(|g| g.phi[0] = -g.phi[0])),
            ("phi[0] doubled (sum != 1)", Box::new(|g| g.phi[0] *= 2.0)),
            (
                "phi = [1, 0, ..]",
                Box::new(|g| g.phi.iter_mut().enumerate().for_each(|(i, p)| *p = (i == 0) as u8 as f64)),
            ),
            (
                "phi = [1 - 1e-300.., 1e-300]",
                Box::new(|g| {
                    let k = g.k;
                    g.phi
                        .iter_mut()
                        .enumerate()
                        .for_each(|(i, p)| *p = if i + 1 == k { 1e-300 } else { 1.0 / (k - 1) as f64 })
                }),
            ),
            ("phi[0] = NaN", Box::new(|g| g.phi[0] = f64::NAN)),
            ("chol zeroed", Box::new(|g| g.chol.iter_mut().for_each(|v| *v = 0.0))),
            ("chol above-diagonal nonzero", Box::new(move |g| g.chol[1.min(d * d - 1)] = 0.5)),
            ("log_det[0] = 1e308", Box::new(|g| g.log_det[0] = 1e308)),
            ("log_det[0] = -1e308", Box::new(|g| g.log_det[0] = -1e308)),
            ("mu[0] = 1e300", Box::new(|g| g.mu[0] = 1e300)),
            (
                "mu alternating ±1e300",
                Box::new(|g| {
                    g.mu.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { 1e300 } else { -1e300 })
                }),
            ),
            ("mu[0] = 3e38", Box::new(|g| g.mu[0] = 3e38)),
            ("cov all 1e308", Box::new(|g| g.cov.iter_mut().for_each(|v| *v = 1e308))),
            ("cov[0] = NaN", Box::new(|g| g.cov[0] = f64::NAN)),
            ("jitter = -1", Box::new(|g| g.jitter = -1.0)),
            ("jitter = NaN", Box::new(|g| g.jitter = f64::NAN)),
            ("jitter = 1e308", Box::new(|g| g.jitter = 1e308)),
            (
                "chol diagonal 1e-300, log_det consistent",
                Box::new(move |g| {
                    (0..g.k).for_each(|c| (0..d).for_each(|i| g.chol[c * d * d + i * d + i] = 1e-300));
                    consistent_log_det(g)
                }),
            ),
            (
                "chol diagonal 1e-30, log_det consistent",
                Box::new(move |g| {
                    (0..g.k).for_each(|c| (0..d).for_each(|i| g.chol[c * d * d + i * d + i] = 1e-30));
                    consistent_log_det(g)
                }),
            ),
            (
                "chol diagonal 1e300, log_det consistent",
                Box::new(move |g| {
                    (0..g.k).for_each(|c| (0..d).for_each(|i| g.chol[c * d * d + i * d + i] = 1e300));
                    consistent_log_det(g)
                }),
            ),
            (
                "chol below-diagonal 1e300",
                Box::new(move |g| {
                    if d > 1 {
                        g.chol[d] = 1e300
                    }
                }),
            ),
            (
                "k+1 (consistent arrays)",
                Box::new(move |g| {
                    g.k += 1;
                    g.phi.iter_mut().for_each(|p| *p *= k as f64 / (k + 1) as f64);
                    g.phi.push(1.0 / (k + 1) as f64);
                    g.mu.extend(vec![0.0; d]);
                    let eye: Vec<f64> = (0..d * d).map(|i| (i % (d + 1) == 0) as u8 as f64).collect();
                    g.cov.extend(&eye);
                    g.chol.extend(&eye);
                    g.log_det.push(0.0);
                }),
            ),
            (
                "d+1 (consistent arrays)",
                Box::new(move |g| {
                    let e = d + 1;
                    g.d = e;
                    g.mu = vec![0.0; k * e];
                    let eye: Vec<f64> =
                        (0..k).flat_map(|_| (0..e * e).map(move |i| (i % (e + 1) == 0) as u8 as f64)).collect();
                    g.cov = eye.clone();
                    g.chol = eye;
                    g.log_det = vec![0.0; k];
                }),
            ),
            (
                "k = 0, d = 0, empty",
                Box::new(|g| {
                    *g = GmmState {
                        k: 0,
                        d: 0,
                        phi: vec![],
                        mu: vec![],
                        cov: vec![],
                        chol: vec![],
                        log_det: vec![],
                        jitter: 0.0,
                    }
                }),
            ),
            ("k mismatch (arrays unchanged)", Box::new(|g| g.k += 1)),
            ("k = 2^62 (arrays unchanged)", Box::new(|g| g.k = 1 << 62)),
        ];
        for (l, edit) in edits {
            let mut g2 = g.clone();
            edit(&mut g2);
            m_only(format!("gmm {l}"), &|m| m.gmm = Some(g2.clone()));
        }
        m_only("gmm removed".into(), &|m| m.gmm = None);
        m_only("gmm removed, fitted = false".into(), &|m| {
            m.gmm = None;
            m.fitted = false;
        });
    } else {
        m_only("gmm added".into(), &|m| {
            m.gmm = Some(oddity::math::gmm::GmmState {
                k: 1,
                d: 1,
                phi: vec![1.0],
                mu: vec![0.0],
                cov: vec![1.0],
                chol: vec![1.0],
                log_det: vec![0.0],
                jitter: 0.0,
            })
        });
    }

    // Coherent forgeries: fewer stored rows, with the extra state to match.
    if meta.kind == "knn" {
        let e = &meta.arrays[0];
        for r in [0usize, 1, 4, 5] {
            let mut m = meta.clone();
            m.arrays[0] = ArrayEntry { shape: vec![r as u64, F as u64], len: (4 * r * F) as u64, ..e.clone() };
            m.extra_json = json!({ "n_seen": r, "n_stored": r }).to_string();
            out.push((format!("knn: {r} stored rows, extra to match"), m, data[..4 * r * F].to_vec()));
        }
    }
    if meta.kind == "ecod" {
        let n = meta.arrays[0].shape[1] as usize;
        let q = parts(meta, data);
        for r in [0usize, 1, 2] {
            let sorted: Vec<u8> = q[0].1.chunks(4 * n).flat_map(|row| row[..4 * r].to_vec()).collect();
            let mut q = q.clone();
            q[0].0.shape = vec![F as u64, r as u64];
            q[0].1 = sorted;
            let (mut m, d) = tile(meta, q);
            m.extra_json = json!({ "n_train": r }).to_string();
            out.push((format!("ecod: {r} training rows, extra to match"), m, d));
        }
    }

    // Arrays.
    let p = parts(meta, data);
    let n = p.len();
    let mut whole = |label: String, m: FileMeta, d: Vec<u8>| out.push((label, m, d));
    let entries = &meta.arrays;
    whole("data truncated by 4 bytes".into(), meta.clone(), data[..data.len().saturating_sub(4)].to_vec());
    whole("4 bytes appended to data".into(), meta.clone(), [data, &[0, 0, 0, 0]].concat());
    whole("all arrays removed".into(), FileMeta { arrays: vec![], ..meta.clone() }, vec![]);
    {
        let mut q = p.clone();
        q.push((
            ArrayEntry { name: "extra.array".into(), dtype: "f32".into(), shape: vec![1], offset: 0, len: 0 },
            vec![0; 4],
        ));
        let (m, d) = tile(meta, q);
        whole("unexpected array appended".into(), m, d);
    }
    for i in 0..n {
        let e = &entries[i];
        let name = &e.name;
        let at = |f: &dyn Fn(&mut FileMeta)| {
            let mut m = meta.clone();
            f(&mut m);
            m
        };
        whole(format!("array {name}: entry removed"), at(&|m| drop(m.arrays.remove(i))), data.to_vec());
        {
            let mut q = p.clone();
            q.remove(i);
            let (m, d) = tile(meta, q);
            whole(format!("array {name}: removed (re-tiled)"), m, d);
        }
        {
            let mut q = p.clone();
            q.push(q[i].clone());
            let (m, d) = tile(meta, q);
            whole(format!("array {name}: duplicated"), m, d);
        }
        {
            let other = if n == 1 { "x".to_string() } else { entries[if i == 0 { 1 } else { 0 }].name.clone() };
            whole(
                format!("array {name}: renamed to {other}"),
                at(&|m| m.arrays[i].name = other.clone()),
                data.to_vec(),
            );
        }
        let flip = if e.dtype == "f32" { "u32" } else { "f32" };
        whole(format!("array {name}: dtype {flip}"), at(&|m| m.arrays[i].dtype = flip.into()), data.to_vec());
        whole(format!("array {name}: dtype \"f64\""), at(&|m| m.arrays[i].dtype = "f64".into()), data.to_vec());
        whole(format!("array {name}: offset +4"), at(&|m| m.arrays[i].offset += 4), data.to_vec());
        whole(format!("array {name}: len +4"), at(&|m| m.arrays[i].len += 4), data.to_vec());
        whole(
            format!("array {name}: len -4"),
            at(&|m| m.arrays[i].len = m.arrays[i].len.saturating_sub(4)),
            data.to_vec(),
        );
        whole(format!("array {name}: len 2^62"), at(&|m| m.arrays[i].len = 1 << 62), data.to_vec());
        whole(format!("array {name}: offset 2^63"), at(&|m| m.arrays[i].offset = 1 << 63), data.to_vec());
        // Shapes with the same number of values (pass the file checks).
        let shape = e.shape.clone();
        let mut rev = shape.clone();
        rev.reverse();
        if rev != shape {
            whole(
                format!("array {name}: shape reversed {rev:?}"),
                at(&|m| m.arrays[i].shape = rev.clone()),
                data.to_vec(),
            );
        }
        let numel: u64 = shape.iter().product();
        for s in [vec![numel], [&[1u64][..], &shape].concat(), [&shape[..], &[1u64]].concat(), vec![]] {
            if s != shape {
                whole(format!("array {name}: shape {s:?}"), at(&|m| m.arrays[i].shape = s.clone()), data.to_vec());
            }
        }
        whole(
            format!("array {name}: shape with a 2^32 x 2^32 overflow"),
            at(&|m| m.arrays[i].shape = vec![1 << 32, 1 << 32, 0]),
            data.to_vec(),
        );
        whole(format!("array {name}: first dim +1 (len unchanged)"), at(&|m| m.arrays[i].shape[0] += 1), data.to_vec());
        // Shapes changed with their bytes (consistent files).
        let bytes = &p[i].1;
        let row = if shape.is_empty() { 1 } else { (numel / shape[0].max(1)) as usize };
        let rows = if shape.is_empty() { 1 } else { shape[0] as usize };
        let mut reshaped = |label: &str, new_rows: usize, b: Vec<u8>, last_plus: bool| {
            let mut q = p.clone();
            let mut s = shape.clone();
            if let Some(first) = s.first_mut() {
                *first = new_rows as u64;
            }
            if last_plus {
                *s.last_mut().unwrap() += 1;
            }
            q[i].0.shape = s;
            q[i].1 = b;
            let (m, d) = tile(meta, q);
            whole(format!("array {name}: {label} (consistent)"), m, d);
        };
        if !shape.is_empty() {
            reshaped("first dim 0", 0, vec![], false);
            reshaped("first dim 1", 1, bytes[..4 * row].to_vec(), false);
            if rows > 1 {
                reshaped("first dim -1", rows - 1, bytes[..4 * row * (rows - 1)].to_vec(), false);
            }
            reshaped("first dim +1", rows + 1, [&bytes[..], &bytes[4 * row * (rows - 1)..]].concat(), false);
            if shape.len() >= 2 {
                let widened: Vec<u8> = bytes.chunks(4 * row).flat_map(|r| [r, &[0, 0, 0, 0]].concat()).collect();
                reshaped("last dim +1", rows, widened, true);
            }
        }
        // Values.
        let count = bytes.len() / 4;
        if count == 0 {
            continue;
        }
        let mid = count / 2;
        let mut valued = |label: String, f: &dyn Fn(&mut Vec<u8>)| {
            let mut q = p.clone();
            f(&mut q[i].1);
            let (m, d) = tile(meta, q);
            whole(format!("array {name}: {label}"), m, d);
        };
        if e.dtype == "f32" {
            for (l, v) in [
                ("NaN", f32::NAN),
                ("+inf", f32::INFINITY),
                ("-inf", f32::NEG_INFINITY),
                ("3e38", 3e38),
                ("-3e38", -3e38),
            ] {
                valued(format!("[0] = {l}"), &|b| put(b, 0, v.to_le_bytes()));
            }
            valued(format!("[{mid}] = 3e38"), &|b| put(b, mid, 3e38f32.to_le_bytes()));
            valued("all 3e38".into(), &|b| (0..count).for_each(|j| put(b, j, 3e38f32.to_le_bytes())));
            valued("alternating ±3e38".into(), &|b| {
                (0..count).for_each(|j| put(b, j, (if j % 2 == 0 { 3e38f32 } else { -3e38 }).to_le_bytes()))
            });
            valued("all 0".into(), &|b| (0..count).for_each(|j| put(b, j, 0f32.to_le_bytes())));
            valued("values reversed".into(), &|b| {
                let v: Vec<f32> = (0..count).rev().map(|j| f32_at(b, j)).collect();
                v.iter().enumerate().for_each(|(j, x)| put(b, j, x.to_le_bytes()));
            });
        } else {
            for j in [0, mid, count - 1] {
                let old = u32_at(bytes, j);
                for (l, v) in [
                    ("u32::MAX", u32::MAX),
                    ("u32::MAX - 1", u32::MAX - 1),
                    ("0", 0),
                    ("its own index", j as u32),
                    ("+1", old.wrapping_add(1)),
                    ("len", count as u32),
                ] {
                    valued(format!("[{j}] = {l}"), &|b| put(b, j, v.to_le_bytes()));
                }
            }
            valued("all 0".into(), &|b| (0..count).for_each(|j| put(b, j, 0u32.to_le_bytes())));
            valued("all u32::MAX".into(), &|b| (0..count).for_each(|j| put(b, j, u32::MAX.to_le_bytes())));
            valued("all 1".into(), &|b| (0..count).for_each(|j| put(b, j, 1u32.to_le_bytes())));
            valued("values reversed".into(), &|b| {
                let v: Vec<u32> = (0..count).rev().map(|j| u32_at(b, j)).collect();
                v.iter().enumerate().for_each(|(j, x)| put(b, j, x.to_le_bytes()));
            });
        }
    }
    out
}

/// Writes `bytes` to a fresh file in `dir`.
fn temp_file(dir: &Path, bytes: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = dir.join(format!("forged-{}.oddity", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A saved, fitted detector: its file's metadata and data.
fn saved(dir: &Path, kind: &str, config: Option<Value>) -> (FileMeta, Vec<u8>) {
    let p = dir.join(format!("{kind}-orig.oddity"));
    trained(kind, config).save(&p).unwrap();
    let f = persist::read(&p).unwrap();
    (f.meta.clone(), f.data().to_vec())
}

fn verdict_of(path: &Path, x: &Array2<f32>) -> oddity::Result<std::result::Result<(), String>> {
    let mut d = load_any(path, Device::Cpu)?;
    Ok(exercise(&mut *d, x))
}

/// Prints the tallies and the panics oddity caught, then fails with every
/// failing case at once.
fn report(test: &str, started: Instant, parts: Vec<(String, Tally)>) {
    println!("{test}: {:.1} s", started.elapsed().as_secs_f64());
    for (what, t) in &parts {
        println!("{}", t.summary(what));
        for c in &t.caught_panics {
            println!("  note: {c}");
        }
    }
    let mut total = Tally::default();
    for (_, t) in parts {
        total.merge(t);
    }
    println!("{}", total.summary(&format!("{test} (all)")));
    assert!(
        total.failures.is_empty(),
        "{test}: {} of {} cases broke the policy:\n{}",
        total.failures.len(),
        total.cases,
        total.failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 1. Forged files.
// ---------------------------------------------------------------------------

#[test]
fn forged_files_are_refused_or_safe() {
    let started = Instant::now();
    let w = Watchdog::new("forged_files_are_refused_or_safe");
    let dir = tempfile::tempdir().unwrap();
    let x = common::mixed(2, 50, 10, F).0;
    let mut tallies = Vec::new();
    for (label, kind, config) in sources() {
        let (meta, data) = saved(dir.path(), kind, config);
        let mut tally = Tally::default();
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        for (l, m, d) in forgeries(&meta, &data) {
            cases.push((l, encode_raw(&m, &d).expect("encode_raw")));
        }
        // The metadata's version and the header's disagree.
        let (_, meta_bytes, d) = split_file(&encode_raw(&meta, &data).unwrap());
        cases.push(("header version 1, metadata version 2".into(), rebuild(1, &meta_bytes, &d)));
        for (l, bytes) in cases {
            let case = format!("{label}: {l}");
            let path = temp_file(dir.path(), &bytes);
            run_case(&w, &mut tally, &case, || verdict_of(&path, &x));
            let _ = std::fs::remove_file(&path);
        }
        tallies.push((format!("forged {label} files"), tally));
    }
    report("forged_files_are_refused_or_safe", started, tallies);
}

// ---------------------------------------------------------------------------
// `oddity info` verifies as loading does.
// ---------------------------------------------------------------------------

#[test]
fn info_verifies_as_load_does() {
    let started = Instant::now();
    let w = Watchdog::new("info_verifies_as_load_does");
    let dir = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    for e in registry::BUILTIN {
        let kind = e.kind.tag();
        let (meta, data) = saved(dir.path(), kind, None);
        // The JSON and state forgeries, where a loader might skip a field
        // that `info` parses, plus a sample of the rest.
        let all = forgeries(&meta, &data);
        const PICKED: &[&str] = &[
            "config_json = \"\"",
            "config_json = \"{\"",
            "extra_json = \"\"",
            "extra_json = \"{\"",
            "extra_json = \"null\"",
            "extra_json = \"1e999\"",
            "report_json = \"{\"",
            "threshold = Some(NaN)",
            "kind = \"nope\"",
            "scaler std[0] = 0",
            "gmm added",
            "gmm removed",
        ];
        let picked = all.into_iter().enumerate().filter(|(i, (l, _, _))| PICKED.contains(&l.as_str()) || i % 401 == 0);
        for (_, (l, m, d)) in picked {
            let path = temp_file(dir.path(), &encode_raw(&m, &d).unwrap());
            let case = format!("info {kind}: {l}");
            run_case(&w, &mut tally, &case, || {
                let loaded = load_any(&path, Device::Cpu);
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_oddity"))
                    .arg("info")
                    .arg(&path)
                    .output()
                    .expect("run oddity info");
                let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
                if stderr.contains("internal error") {
                    return Ok(Err(format!("oddity info: {stderr}")));
                }
                match (loaded, out.status.success()) {
                    (Ok(_), true) => Ok(Ok(())),
                    (Err(e), false) => Err(e),
                    (Ok(_), false) => Ok(Err(format!("load_any accepts, `oddity info` refuses: {stderr}"))),
                    (Err(e), true) => Ok(Err(format!("`oddity info` accepts, load_any refuses: {e}"))),
                }
            });
            let _ = std::fs::remove_file(&path);
        }
    }
    report("info_verifies_as_load_does", started, vec![("info vs load_any".into(), tally)]);
}

// ---------------------------------------------------------------------------
// 2. Hostile configs.
// ---------------------------------------------------------------------------

/// Keys whose numbers are sizes: 0 and huge values must be refused.
const SIZE_KEYS: &[&str] =
    &["n_features", "units", "latent_dim", "n_gmm", "samples", "k", "n_trees", "max_samples", "max_depth"];
/// Keys whose floats must be refused when negative.
const FLOAT_KEYS: &[&str] =
    &["dropout", "w_energy", "w_cov_diag", "gmm_eps", "eps", "max_relative", "w_recon", "beta", "scalar"];

/// Builds (and if that works, fits and scores) a detector from `config`.
fn build_and_fit(
    kind: &str,
    config: Value,
    fit: &FitConfig,
    x: &Array2<f32>,
) -> oddity::Result<std::result::Result<(), String>> {
    let mut d = registry::get(kind)?.build(F, Some(config), Device::Cpu)?;
    d.fit(x.view(), fit)?;
    Ok(exercise(&mut *d, x))
}

#[test]
fn hostile_configs_are_typed_errors() {
    let started = Instant::now();
    let w = Watchdog::new("hostile_configs_are_typed_errors");
    let x = common::inliers(1, 300, F);
    let quick = FitConfig { epochs: Some(1), batch_size: 64, ..Default::default() };
    let mut must = Tally::default();
    let mut may = Tally::default();
    // (label, kind, config, fit config, must be an error)
    let mut cases: Vec<(String, &'static str, Value, FitConfig, bool)> = Vec::new();
    for e in registry::BUILTIN {
        let kind = e.kind.tag();
        let base = e.default_config(F).unwrap();
        // Every size field: zero and huge must be refused.
        let mut sized = Vec::new();
        walk(&base, &mut Vec::new(), &mut |path, _| {
            if let Some(Step::Key(k)) = path.last() {
                if SIZE_KEYS.contains(&k.as_str()) || k == "max_train_rows" {
                    sized.push((path.to_vec(), k.clone()));
                }
            }
        });
        for (path, key) in &sized {
            let huge: &[(&str, Value)] = &[
                ("0", json!(0)),
                ("1e9", json!(1_000_000_000u64)),
                ("2^62", json!(1u64 << 62)),
                ("u64::MAX", json!(u64::MAX)),
                ("1e12", json!(1_000_000_000_000u64)),
            ];
            for (l, v) in huge {
                // A row cap may be as large as one likes; 0 is still wrong.
                let must_err = key != "max_train_rows" || *l == "0";
                let mut c = base.clone();
                *pointer(&mut c, path) = v.clone();
                cases.push((format!("{kind}: {} = {l}", show(path)), kind, c, quick.clone(), must_err));
            }
        }
        // Every float field: negative must be refused; ±1e308 must not panic.
        walk(&base, &mut Vec::new(), &mut |path, v| {
            if let (Some(Step::Key(k)), true) = (path.last(), v.is_f64()) {
                if FLOAT_KEYS.contains(&k.as_str()) {
                    for (l, n, must_err) in
                        [("-1", json!(-1.0), true), ("-1e308", json!(-1e308), true), ("1e308", json!(1e308), false)]
                    {
                        let mut c = base.clone();
                        *pointer(&mut c, path) = n;
                        cases.push((format!("{kind}: {} = {l}", show(path)), kind, c, quick.clone(), must_err));
                    }
                }
            }
        });
        // The rest of the walk: no panic, no hang, no NaN.
        for (l, c) in json_mutations(&base) {
            cases.push((format!("{kind}: walk {l}"), kind, c, quick.clone(), false));
        }
        // Hostile fit settings, for every detector.
        let hostile_fits: Vec<(&str, FitConfig)> = vec![
            ("threads 2^32", FitConfig { threads: Some(1 << 32), ..quick.clone() }),
            ("threads 10^5", FitConfig { threads: Some(100_000), ..quick.clone() }),
            ("threads 0", FitConfig { threads: Some(0), ..quick.clone() }),
            ("SGD momentum -1", FitConfig { optimizer: Optimizer::Sgd { momentum: -1.0 }, ..quick.clone() }),
            ("SGD momentum NaN", FitConfig { optimizer: Optimizer::Sgd { momentum: f64::NAN }, ..quick.clone() }),
            ("SGD momentum 1", FitConfig { optimizer: Optimizer::Sgd { momentum: 1.0 }, ..quick.clone() }),
            (
                "Adam beta1 1",
                FitConfig {
                    optimizer: Optimizer::Adam { beta1: 1.0, beta2: 0.999, eps: 1e-7, weight_decay: 0.0 },
                    ..quick.clone()
                },
            ),
            (
                "Adam eps 0",
                FitConfig {
                    optimizer: Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 0.0, weight_decay: 0.0 },
                    ..quick.clone()
                },
            ),
            (
                "AdamW weight_decay -1",
                FitConfig {
                    optimizer: Optimizer::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: -1.0 },
                    ..quick.clone()
                },
            ),
            (
                "RmsProp alpha -1",
                FitConfig { optimizer: Optimizer::RmsProp { alpha: -1.0, eps: 1e-7, momentum: 0.0 }, ..quick.clone() },
            ),
            ("batch_size 0", FitConfig { batch_size: 0, ..quick.clone() }),
            ("batch_size 0, epochs 0", FitConfig { batch_size: 0, epochs: Some(0), ..quick.clone() }),
            ("learning_rate -1", FitConfig { learning_rate: -1.0, ..quick.clone() }),
            ("learning_rate 0", FitConfig { learning_rate: 0.0, ..quick.clone() }),
            ("learning_rate NaN", FitConfig { learning_rate: f64::NAN, ..quick.clone() }),
            ("learning_rate inf", FitConfig { learning_rate: f64::INFINITY, ..quick.clone() }),
            ("validation_split 1", FitConfig { validation_split: 1.0, ..quick.clone() }),
            ("validation_split -0.1", FitConfig { validation_split: -0.1, ..quick.clone() }),
            ("validation_split NaN", FitConfig { validation_split: f64::NAN, ..quick.clone() }),
            ("clip_grad_norm 0", FitConfig { clip_grad_norm: Some(0.0), ..quick.clone() }),
            ("clip_grad_norm NaN", FitConfig { clip_grad_norm: Some(f64::NAN), ..quick.clone() }),
            (
                "early_stopping min_delta -1",
                FitConfig {
                    early_stopping: Some(EarlyStopping { min_delta: -1.0, ..Default::default() }),
                    ..quick.clone()
                },
            ),
        ];
        for (l, f) in hostile_fits {
            cases.push((format!("{kind}: fit {l}"), kind, base.clone(), f, true));
        }
        // Extreme but legal fit settings: no panic, no hang, no NaN.
        let odd_fits: Vec<(&str, FitConfig)> = vec![
            ("epochs 0", FitConfig { epochs: Some(0), ..quick.clone() }),
            ("batch_size usize::MAX", FitConfig { batch_size: usize::MAX, ..quick.clone() }),
            ("learning_rate 1e30", FitConfig { learning_rate: 1e30, ..quick.clone() }),
            (
                "learning_rate 1e30, SGD",
                FitConfig { learning_rate: 1e30, optimizer: Optimizer::Sgd { momentum: 0.0 }, ..quick.clone() },
            ),
            ("validation_split 0.999", FitConfig { validation_split: 0.999, ..quick.clone() }),
            ("seed u64::MAX", FitConfig { seed: u64::MAX, ..quick.clone() }),
            ("threads None", FitConfig { threads: None, ..quick.clone() }),
            (
                "early_stopping patience 0",
                FitConfig {
                    early_stopping: Some(EarlyStopping { patience: 0, ..Default::default() }),
                    ..quick.clone()
                },
            ),
        ];
        for (l, f) in odd_fits {
            cases.push((format!("{kind}: fit {l}"), kind, base.clone(), f, false));
        }
    }
    // The named hostile configs of the policy.
    let named: Vec<(&str, &'static str, &dyn Fn(&mut Value))> = vec![
        ("aegmm: recon.features []", "aegmm", &|c| c["recon"]["features"] = json!([])),
        ("vaegmm: recon.features []", "vaegmm", &|c| c["recon"]["features"] = json!([])),
        ("vaegmm: logvar_clamp [-1e308, 1e308]", "vaegmm", &|c| c["logvar_clamp"] = json!([-1e308, 1e308])),
        ("vaegmm: logvar_clamp [10, -20]", "vaegmm", &|c| c["logvar_clamp"] = json!([10.0, -20.0])),
        ("vaegmm: samples 1e12", "vaegmm", &|c| c["samples"] = json!(1_000_000_000_000u64)),
        ("vaegmm: latent_dim 1e9", "vaegmm", &|c| c["latent_dim"] = json!(1_000_000_000u64)),
        ("aegmm: n_gmm 1e9", "aegmm", &|c| c["gmm"]["n_gmm"] = json!(1_000_000_000u64)),
        ("vaegmm: n_gmm 1e9", "vaegmm", &|c| c["gmm"]["n_gmm"] = json!(1_000_000_000u64)),
        ("aegmm: density units 1e9", "aegmm", &|c| c["gmm"]["density"][0]["units"] = json!(1_000_000_000u64)),
        ("vaegmm: density units 1e9", "vaegmm", &|c| c["gmm"]["density"][0]["units"] = json!(1_000_000_000u64)),
        ("aegmm: max_jitter_steps 1e9", "aegmm", &|c| c["gmm"]["max_jitter_steps"] = json!(1_000_000_000u64)),
        ("vaegmm: elbo_std per_feature []", "vaegmm", &|c| c["elbo_std"] = json!({ "per_feature": [] })),
        ("vaegmm: elbo_std per_feature -1", "vaegmm", &|c| c["elbo_std"] = json!({ "per_feature": vec![-1.0; F] })),
        ("ae: encoder []", "ae", &|c| c["encoder"] = json!([])),
        ("ae: decoder last units 4", "ae", &|c| {
            let n = c["decoder"].as_array().unwrap().len();
            c["decoder"][n - 1]["units"] = json!(4)
        }),
        ("ae: 16384-unit layers (parameter budget)", "ae", &|c| {
            for part in ["encoder", "decoder"] {
                let n = c[part].as_array().unwrap().len();
                for i in 0..n - (part == "decoder") as usize {
                    c[part][i]["units"] = json!(16_384);
                }
            }
        }),
        ("knn: k 10001", "knn", &|c| c["k"] = json!(10_001)),
        ("knn: max_train_rows 1 < k", "knn", &|c| c["max_train_rows"] = json!(1)),
        ("iforest: n_trees 100001", "iforest", &|c| c["n_trees"] = json!(100_001)),
        ("iforest: max_samples 2^24 + 1", "iforest", &|c| c["max_samples"] = json!((1u64 << 24) + 1)),
        ("ecod: n_features 0", "ecod", &|c| c["n_features"] = json!(0)),
    ];
    for (l, kind, edit) in named {
        let mut c = registry::get(kind).unwrap().default_config(F).unwrap();
        edit(&mut c);
        cases.push((l.to_string(), kind, c, quick.clone(), true));
    }
    for (label, kind, config, fit, must_err) in cases {
        let t = if must_err { &mut must } else { &mut may };
        let v = run_case(&w, t, &label, || build_and_fit(kind, config, &fit, &x));
        if must_err && matches!(v, Verdict::Accepted) {
            t.accepted -= 1;
            t.failures.push(format!("[{label}] ACCEPTED: built and fitted without an error"));
        }
    }
    // Degenerate training data (finite, so it may be accepted): the fit
    // refuses it or the detector scores safely.
    let normal = common::inliers(1, 300, F);
    let mut constant_column = normal.clone();
    constant_column.column_mut(2).fill(7.0);
    let datasets: Vec<(&str, Array2<f32>)> = vec![
        ("1 row", common::inliers(1, 1, F)),
        ("2 rows", common::inliers(1, 2, F)),
        ("5 rows", common::inliers(1, 5, F)),
        ("300 equal rows", Array2::from_elem((300, F), 1.5)),
        ("300 zero rows", Array2::zeros((300, F))),
        ("a constant column", constant_column),
        ("cells of 1e20", normal.mapv(|v| v * 1e20)),
        ("cells of ±3e38", normal.mapv(|v| if v >= 0.0 { 3e38 } else { -3e38 })),
        ("cells of 1e-40 (subnormal)", normal.mapv(|v| v * 1e-40)),
    ];
    for e in registry::BUILTIN {
        let kind = e.kind.tag();
        for (l, data) in &datasets {
            let label = format!("{kind}: fit on {l}");
            run_case(&w, &mut may, &label, || {
                let mut d = registry::get(kind)?.build(F, None, Device::Cpu)?;
                d.fit(data.view(), &quick)?;
                Ok(exercise(&mut *d, &x))
            });
        }
    }
    report(
        "hostile_configs_are_typed_errors",
        started,
        vec![("hostile configs (must be refused)".into(), must), ("extreme configs (must be safe)".into(), may)],
    );
}

// ---------------------------------------------------------------------------
// 3. Extreme rows.
// ---------------------------------------------------------------------------

#[test]
fn extreme_rows_are_never_quiet_inliers() {
    let started = Instant::now();
    let w = Watchdog::new("extreme_rows_are_never_quiet_inliers");
    let base = common::inliers(5, 1, F);
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    for v in [1e20f32, -1e20, 3e38, -3e38] {
        for col in [0, F - 1] {
            let mut r = base.row(0).to_vec();
            r[col] = v;
            rows.push((format!("cell {col} = {v:e}"), r));
        }
        rows.push((format!("every cell = {v:e}"), vec![v; F]));
    }
    rows.push(("cells alternating ±3e38".into(), (0..F).map(|i| if i % 2 == 0 { 3e38 } else { -3e38 }).collect()));
    rows.push(("cells alternating ±1e20".into(), (0..F).map(|i| if i % 2 == 0 { 1e20 } else { -1e20 }).collect()));
    let x = Array2::from_shape_vec((rows.len(), F), rows.iter().flat_map(|(_, r)| r.clone()).collect()).unwrap();
    let mut tally = Tally::default();
    let mut info = Vec::new();
    for (label, kind, config) in sources() {
        let d = trained(kind, config);
        let t = d.threshold().unwrap();
        let mut flagged_rows = None;
        run_case(&w, &mut tally, &format!("{label}: extreme rows"), || {
            let s = d.score(x.view())?;
            if let Err(e) = check_instance("score", x.nrows(), &s.instance) {
                return Ok(Err(e));
            }
            if s.feature.as_ref().is_some_and(|f| f.iter().any(|v| v.is_nan())) {
                return Ok(Err("NaN feature score".into()));
            }
            let p = d.predict(x.view(), &PredictConfig::default())?;
            let flags = p.is_outlier.instance().unwrap().clone();
            let quiet: Vec<String> = rows
                .iter()
                .zip(flags.iter().zip(&s.instance))
                .filter(|(_, (f, _))| !**f)
                .map(|((l, _), (_, v))| format!("{l} (score {v}, threshold {t:.4})"))
                .collect();
            flagged_rows = Some(quiet.clone());
            if is_network(kind) && !quiet.is_empty() {
                return Ok(Err(format!("QUIET INLIERS: not flagged: {}", quiet.join(", "))));
            }
            Ok(Ok(()))
        });
        if let Some(q) = flagged_rows.filter(|q| !q.is_empty() && !is_network(kind)) {
            info.push(format!("  info: {label} does not flag {} extreme rows: {}", q.len(), q.join(", ")));
        }
    }
    for l in info {
        println!("{l}");
    }
    report("extreme_rows_are_never_quiet_inliers", started, vec![("extreme rows".into(), tally)]);
}

// ---------------------------------------------------------------------------
// 4. Byte-level fuzz of the metadata block.
// ---------------------------------------------------------------------------

const HEADER_LEN: usize = 52;

/// (header version, metadata bytes, array data) of a file's bytes.
fn split_file(b: &[u8]) -> (u16, Vec<u8>, Vec<u8>) {
    let version = u16::from_le_bytes([b[8], b[9]]);
    let body = &b[HEADER_LEN..];
    let n = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
    (version, body[4..4 + n].to_vec(), body[4 + n..].to_vec())
}

/// A file from raw metadata bytes and data, with a valid header and checksum.
fn rebuild(version: u16, meta: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + meta.len() + data.len());
    body.extend((meta.len() as u32).to_le_bytes());
    body.extend(meta);
    body.extend(data);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend(MAGIC);
    out.extend(version.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((body.len() as u64).to_le_bytes());
    out.extend(Sha256::digest(&body));
    out.extend(body);
    out
}

/// One to four random edits of `m`: bit flips, random or extreme bytes,
/// inserted and deleted bytes, bincode varint markers for huge lengths,
/// copied runs.
fn fuzz_meta(r: &mut ChaCha8Rng, m: &[u8]) -> (Vec<u8>, String) {
    let mut m = m.to_vec();
    let mut what = Vec::new();
    for _ in 0..r.random_range(1..=4) {
        let n = m.len().max(1);
        let at = r.random_range(0..n).min(m.len().saturating_sub(1));
        match r.random_range(0..8) {
            0 => {
                let bit = r.random_range(0..8);
                m[at] ^= 1 << bit;
                what.push(format!("flip bit {bit} @{at}"));
            }
            1 => {
                let v: u8 = r.random();
                m[at] = v;
                what.push(format!("byte @{at} = {v:#04x}"));
            }
            2 => {
                let v = [0u8, 0xff, 0x7f, 0x80, 0xfb, 0xfc, 0xfd][r.random_range(0..7)];
                m[at] = v;
                what.push(format!("byte @{at} = {v:#04x}"));
            }
            3 => {
                let v: u8 = r.random();
                m.insert(at, v);
                what.push(format!("insert {v:#04x} @{at}"));
            }
            4 => {
                m.remove(at);
                what.push(format!("delete @{at}"));
            }
            5 => {
                // A bincode varint u64 length: huge, or just past the end.
                let v: u64 = if r.random() { r.random() } else { r.random_range(0..1 << 40) };
                let end = (at + 9).min(m.len());
                m.splice(at..end, std::iter::once(0xfd).chain(v.to_le_bytes()));
                what.push(format!("varint u64 {v} @{at}"));
            }
            6 => {
                let v: u32 = r.random();
                let end = (at + 5).min(m.len());
                m.splice(at..end, std::iter::once(0xfc).chain(v.to_le_bytes()));
                what.push(format!("varint u32 {v} @{at}"));
            }
            _ => {
                let len = r.random_range(1..=16).min(m.len() - at);
                let from = r.random_range(0..m.len() - len + 1);
                let run: Vec<u8> = m[from..from + len].to_vec();
                m[at..at + len].copy_from_slice(&run);
                what.push(format!("copy {len} bytes @{from} to @{at}"));
            }
        }
    }
    (m, what.join(", "))
}

#[test]
fn fuzzed_metadata_never_panics() {
    let started = Instant::now();
    let w = Watchdog::new("fuzzed_metadata_never_panics");
    let dir = tempfile::tempdir().unwrap();
    let x = common::mixed(2, 50, 10, F).0;
    let mut tallies = Vec::new();
    let mut loaded_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, seed) in [("ae", 0xae_u64), ("knn", 0x4e4e)] {
        let p = dir.path().join(format!("{kind}.oddity"));
        trained(kind, None).save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let (version, meta, data) = split_file(&bytes);
        // The tool rebuilds the original file exactly.
        assert_eq!(rebuild(version, &meta, &data), bytes);
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let mut tally = Tally::default();
        for i in 0..2_000 {
            let (m, what) = fuzz_meta(&mut r, &meta);
            let forged = rebuild(version, &m, &data);
            let label = format!("fuzz {kind} #{i}: {what}");
            let v = run_case(&w, &mut tally, &label, || {
                let f = persist::decode(Path::new("fuzz.oddity"), forged)?;
                let e = registry::get(&f.meta.kind).map_err(|_| f.error("unknown kind"))?;
                let mut d = e.load(&f, Device::Cpu)?;
                Ok(exercise(&mut *d, &x))
            });
            if matches!(v, Verdict::Accepted) {
                *loaded_kinds.entry(kind.to_string()).or_default() += 1;
            }
        }
        tallies.push((format!("fuzzed {kind} metadata"), tally));
    }
    println!("fuzzed files that still loaded: {loaded_kinds:?}");
    report("fuzzed_metadata_never_panics", started, tallies);
}
