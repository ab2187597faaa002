//! Link libtorch so binaries and tests run without LD_LIBRARY_PATH and see CUDA where present.

fn main() {
    // torch-sys exports where it found libtorch (the project's .venv torch wheel).
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    // Without --no-as-needed the linker drops libtorch.so (and with it libtorch_cuda.so),
    // because nothing references it by symbol, and the GPU is never found.
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
