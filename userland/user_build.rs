//! Links a user program with `userland/user.ld` (static, at or above 4 GiB as on Darwin).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    if std::env::var("TARGET").is_ok_and(|t| t == "aarch64-unknown-none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/../user.ld");
    }
    println!("cargo:rerun-if-changed=../user.ld");
}
