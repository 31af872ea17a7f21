mod common;
use oddity::*;
#[test]
fn probe() {
    let dir = tempfile::tempdir().unwrap();
    for e in registry::BUILTIN {
        let tag = e.kind.tag();
        let x = common::inliers(1, 300, 5);
        let mut d = e.build(5, None, Device::Cpu).unwrap();
        d.fit(x.view(), &FitConfig { epochs: 2, batch_size: 64, ..Default::default() }).unwrap();
        d.infer_threshold(x.view(), 95.0).unwrap();
        let p = dir.path().join("a.oddity");
        d.save(&p).unwrap();
        let f = oddity::persist::read(&p).unwrap();
        let m = &f.meta;
        println!(
            "== {tag}\nconfig {}\nextra {}\nthr {:?} scaler {:?}\ngmm {:?}\nreport {:?}",
            m.config_json,
            m.extra_json,
            m.threshold,
            m.scaler.is_some(),
            m.gmm.as_ref().map(|g| (g.k, g.d)),
            m.report_json.as_ref().map(|s| s.len())
        );
        for a in &m.arrays {
            println!("  {} {} {:?} {} {}", a.name, a.dtype, a.shape, a.offset, a.len);
        }
    }
}
