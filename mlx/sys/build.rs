//! Links the mlx-c and MLX libraries that `scripts/setup-mlx.sh` installed under
//! `$LLM_TELEMETRY_MLX_HOME` (default `/opt/mlx-venv`) and generates the bindings from mlx-c's
//! headers. Nothing is downloaded or compiled here but the bindings.
//!
//! Layout read (written by the set-up script):
//! - `$LLM_TELEMETRY_MLX_HOME/mlx-c/src/mlx/c/*.h`: the mlx-c headers (patched for Linux);
//! - `$LLM_TELEMETRY_MLX_HOME/mlx-c/lib/libmlxc.a`: mlx-c, built against the wheel's MLX;
//! - `$LLM_TELEMETRY_MLX_HOME/mlx-c/mlx-lib`: a file holding the directory of `libmlx.so`;
//! - `$LLM_TELEMETRY_MLX_HOME/mlx-c/libclang`: a file holding the directory of `libclang.so`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// Fails the build with a message saying what to run.
fn fail(message: String) -> ! {
    panic!(
        "{message}\nRun `scripts/setup-mlx.sh` (it installs MLX under /opt/mlx-venv) and set \
         LLM_TELEMETRY_MLX_HOME to its directory if it is not /opt/mlx-venv."
    );
}

/// The first line of `file` as a path.
fn read_path(file: &Path) -> PathBuf {
    match fs::read_to_string(file) {
        Ok(text) => PathBuf::from(text.trim()),
        Err(e) => fail(format!("cannot read `{}`: {e}", file.display())),
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=LLM_TELEMETRY_MLX_HOME");
    let home = env::var_os("LLM_TELEMETRY_MLX_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/mlx-venv"));
    let mlx_c = home.join("mlx-c");
    let headers_root = mlx_c.join("src");
    let lib = mlx_c.join("lib");
    if !lib.join("libmlxc.a").is_file() {
        fail(format!(
            "`{}` is missing: mlx-c has not been built",
            lib.join("libmlxc.a").display()
        ));
    }
    let mlx_lib = read_path(&mlx_c.join("mlx-lib"));
    println!("cargo:rerun-if-changed={}", lib.join("libmlxc.a").display());

    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=static=mlxc");
    println!("cargo:rustc-link-search=native={}", mlx_lib.display());
    println!("cargo:rustc-link-lib=dylib=mlx");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    // A dependency's build script cannot set the rpath of the executables that link it:
    // scripts/mlx-cargo.sh puts this directory on LD_LIBRARY_PATH instead.
    println!("cargo:metadata=include={}", headers_root.display());

    if env::var_os("LIBCLANG_PATH").is_none() {
        let libclang = read_path(&mlx_c.join("libclang"));
        // SAFETY: the build script is single-threaded; nothing reads the environment concurrently.
        unsafe { env::set_var("LIBCLANG_PATH", libclang) };
    }
    let header_dir = headers_root.join("mlx").join("c");
    let mut headers: Vec<PathBuf> = match fs::read_dir(&header_dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "h"))
            .collect(),
        Err(e) => fail(format!("cannot list `{}`: {e}", header_dir.display())),
    };
    headers.sort();
    let mut builder = bindgen::Builder::default()
        .rust_target("1.73.0".parse().expect("a valid Rust version"))
        .clang_arg(format!("-I{}", headers_root.display()))
        // The compiler's own headers (stddef.h, stdbool.h): the PyPI libclang has none.
        .clang_args(gcc_include().map(|dir| format!("-I{}", dir.display())))
        .blocklist_function("malloc")
        .blocklist_function("realloc");
    for header in &headers {
        println!("cargo:rerun-if-changed={}", header.display());
        builder = builder.header(header.to_string_lossy());
    }
    let bindings = match builder.generate() {
        Ok(bindings) => bindings,
        Err(e) => fail(format!("bindgen failed on the mlx-c headers: {e}")),
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Err(e) = bindings.write_to_file(out.join("bindings.rs")) {
        fail(format!("cannot write the bindings: {e}"));
    }
}

/// GCC's directory of compiler headers (`stddef.h`…), asked from `cc -print-file-name=include`.
fn gcc_include() -> Option<PathBuf> {
    let output = std::process::Command::new("cc")
        .arg("-print-file-name=include")
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    dir.is_dir().then_some(dir)
}
