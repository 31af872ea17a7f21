//! The extension finds libtorch in the installed `torch` package beside it
//! (site-packages/torch/lib), not at the build machine's path: the root
//! crate's build.rs bakes an absolute rpath, which a wheel must not carry.
//! `oddity/__init__.py` also imports torch first, so the libraries are
//! already loaded when torch lives elsewhere on sys.path.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../torch/lib");
    }
}
