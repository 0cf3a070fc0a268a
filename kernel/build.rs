//! Links the kernel with `linker.ld` (from the workspace root) when built for the target.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    if std::env::var("TARGET").is_ok_and(|t| t == "aarch64-unknown-none-softfloat") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/../linker.ld");
    }
    println!("cargo:rerun-if-changed=../linker.ld");
}
