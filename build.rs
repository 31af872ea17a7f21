//! Bakes the libtorch library folder into the rpath of every binary, test,
//! example and bench of this crate, so that they run without LD_LIBRARY_PATH.
//!
//! torch-sys (which has `links = "tch"`) reports the folder it linked against
//! as `DEP_TCH_LIBTORCH_LIB`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
        if target_os == "linux" || target_os == "macos" {
            // Canonical path, so that the rpath survives the `.libtorch` link
            // being re-pointed later only if the user rebuilds (cargo reruns us).
            let lib = std::fs::canonicalize(&lib).map(|p| p.display().to_string()).unwrap_or(lib);
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        }
    }
}
