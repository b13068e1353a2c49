//! Link libtorch so that the `unlearn` binary, the tests and the benches start without
//! `LD_LIBRARY_PATH` and see CUDA where there is one (measured in this project):
//! an rpath to the libtorch that torch-sys built against, and `--no-as-needed -ltorch`, without
//! which only `libtorch_cpu` is linked and CUDA is reported unavailable on a GPU machine.
//! Compiles the fused optimiser steps (`src/train/fused.cpp`) against the same libtorch. Also
//! records the libtorch version and the git commit for the run records.
use std::path::Path;
use std::process::Command;

fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report DEP_TCH_LIBTORCH_LIB: is `torch-sys` a direct dependency?");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }

    // the fused optimiser steps (src/train/fused.cpp), against the same libtorch's headers and
    // with torch-sys's C++ settings (C++17; the C++11 ABI unless LIBTORCH_CXX11_ABI says otherwise)
    let root = Path::new(&lib).join("..");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("src/train/fused.cpp")
        .compile("unlearn_fused");
    println!("cargo:rerun-if-changed=src/train/fused.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");

    // libtorch version: a pip wheel has torch/version.py next to torch/lib.
    let version_py = Path::new(&lib).join("..").join("version.py");
    let version = std::fs::read_to_string(&version_py)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("__version__ = ").map(|v| v.trim_matches(['\'', '"']).to_string()))
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=UNLEARN_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=UNLEARN_LIBTORCH_LIB={lib}");
    println!("cargo:rerun-if-changed={}", version_py.display());

    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=UNLEARN_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    // a commit moves the branch, not HEAD (which names the branch): watch the branch too
    if let Some(branch) =
        std::fs::read_to_string(".git/HEAD").ok().and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
    {
        // (only files that exist: a missing one would rerun this script on every build)
        for f in [format!(".git/{branch}"), ".git/packed-refs".to_string()] {
            if std::path::Path::new(&f).exists() {
                println!("cargo:rerun-if-changed={f}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
