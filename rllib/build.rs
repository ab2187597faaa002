//! Link libtorch so binaries and tests run without LD_LIBRARY_PATH.
//!
//! libtorch_cuda is deliberately not linked with `--no-as-needed` (tch's usual advice):
//! loading it and the CUDA libraries costs about 160 MB of resident memory in every run,
//! GPU or not. Instead `policy::torch_policy::load_cuda` dlopens it when a config asks for
//! a GPU, which registers CUDA with libtorch just as linking it would.

fn main() {
    // torch-sys exports where it found libtorch (the project's .venv torch wheel).
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
