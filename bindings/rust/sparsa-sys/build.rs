//! Links libsparsa: from SPARSA_LIB_DIR when set (a build tree), else from
//! the system's library paths (an installed package).

fn main() {
    println!("cargo:rerun-if-env-changed=SPARSA_LIB_DIR");
    if let Ok(dir) = std::env::var("SPARSA_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir);
    }
    println!("cargo:rustc-link-lib=dylib=sparsa");
}
