//! `cargo xtask gpu`: builds the `dzk-gpu` binary (dzk with halo2-axiom-gpu, the CUDA prover) on a machine with
//! no CUDA toolkit and no GPU. It installs CUDA 13's compiler from PyPI's wheels (xtask/cuda-wheels.txt) into
//! a virtual environment under `target/cuda-pypi`, makes a link folder with the static CUDA runtime and a
//! link-time stub of the driver library (no wheel ships `libcuda.so`; the real one comes from the NVIDIA
//! driver at run time), and runs cargo with the variables halo2-axiom-gpu's build scripts read.
//! ../shared/reference/gpu-build.md recorded how each part was found; docs/gpu.md is the user's version.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The pinned wheels.
const WHEELS: &str = include_str!("../cuda-wheels.txt");

/// The CUDA architectures compiled for unless `CUDA_ARCH` says otherwise: sm_90 (H100, H200), whose PTX
/// also runs on newer GPUs.
const DEFAULT_ARCH: &str = "90";

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates the virtual environment and installs the wheels (unless nvcc 13 is already there); returns the
/// toolkit folder (`site-packages/nvidia/cu13`).
fn toolkit(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        eprintln!("xtask: {system} -m venv {}", venv.display());
        run(
            Command::new(&system).arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        )?;
    }
    let find = || {
        run(
            Command::new(&python).args([
                "-c",
                "import nvidia, os; print(os.path.join(nvidia.__path__[0], 'cu13'))",
            ]),
            "python (finding the CUDA wheels)",
        )
        .map(|s| PathBuf::from(s.trim()))
    };
    let nvcc_ok = |cu: &Path| {
        Command::new(cu.join("bin").join("nvcc"))
            .arg("--version")
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("release 13.")
            })
    };
    if let Ok(cu) = find() {
        if nvcc_ok(&cu) && cu.join("include").join("cub").exists() {
            return Ok(cu);
        }
    }
    let reqs = root.join("cuda-wheels.txt");
    std::fs::write(&reqs, WHEELS).with_context(|| format!("writing {}", reqs.display()))?;
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
    ])
    .arg(&reqs);
    if let Some(dir) = std::env::var_os("DZK_CUDA_WHEELS") {
        pip.arg("--no-index").arg("--find-links").arg(dir);
    }
    eprintln!(
        "xtask: pip install -r xtask/cuda-wheels.txt (CUDA 13 compiler and runtime, about 129 MB)"
    );
    run(&mut pip, "pip install of the CUDA wheels")?;
    let cu = find()?;
    if !nvcc_ok(&cu) {
        bail!(
            "{} has no working nvcc 13 after installing the wheels",
            cu.display()
        );
    }
    Ok(cu)
}

/// The link folder: the static CUDA runtime under both names (so `-lcudart` links it statically and the binary
/// needs no wheel at run time) and a stub `libcuda.so` (SONAME `libcuda.so.1`, every entry point of `cuda.h`
/// returning CUDA_ERROR_STUB_LIBRARY) to link against; the binary loads the driver's real one.
fn link_dir(root: &Path, cu: &Path) -> anyhow::Result<PathBuf> {
    let lib = root.join("cuda").join("lib64");
    std::fs::create_dir_all(&lib).with_context(|| format!("creating {}", lib.display()))?;
    let cudart = cu.join("lib").join("libcudart_static.a");
    if !cudart.exists() {
        bail!(
            "{} is missing: the nvidia-cuda-runtime wheel is not installed",
            cudart.display()
        );
    }
    for name in ["libcudart_static.a", "libcudart.a"] {
        let link = lib.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&cudart, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    let stub = lib.join("libcuda.so");
    if stub.exists() {
        return Ok(lib);
    }
    let header = Command::new("gcc")
        .args(["-E", "-P", "-x", "c", "-"])
        .arg(format!("-I{}", cu.join("include").display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(b"#include <cuda.h>\n")?;
            }
            child.wait_with_output()
        })
        .context("running gcc -E on cuda.h (is gcc installed?)")?;
    if !header.status.success() {
        bail!(
            "gcc -E on cuda.h failed: {}",
            String::from_utf8_lossy(&header.stderr).trim()
        );
    }
    let names = driver_functions(&String::from_utf8_lossy(&header.stdout));
    if names.len() < 100 {
        bail!(
            "cuda.h declares only {} driver functions: is the nvidia-cuda-runtime wheel complete?",
            names.len()
        );
    }
    let source = root.join("cuda_stub.c");
    let body: String = names
        .iter()
        .map(|n| format!("int {n}(void) {{ return 34; }}\n"))
        .collect();
    std::fs::write(&source, body).with_context(|| format!("writing {}", source.display()))?;
    let tmp = lib.join("libcuda.so.tmp");
    run(
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
            .arg(&tmp)
            .arg(&source),
        "gcc (the link-time driver stub)",
    )?;
    std::fs::rename(&tmp, &stub).with_context(|| format!("writing {}", stub.display()))?;
    Ok(lib)
}

/// The distinct `cuXxx(` names of a preprocessed `cuda.h`: its driver API entry points.
fn driver_functions(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut names = std::collections::BTreeSet::new();
    let mut i = 0;
    while i + 2 < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if boundary && b[i] == b'c' && b[i + 1] == b'u' && b[i + 2].is_ascii_uppercase() {
            let mut j = i + 2;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            let mut k = j;
            while k < b.len() && (b[k] == b' ' || b[k] == b'\t') {
                k += 1;
            }
            if k < b.len() && b[k] == b'(' {
                names.insert(text[i..j].to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    names.into_iter().collect()
}

/// `cargo xtask gpu [--release] [--clippy]`: builds `target/{debug,release}/dzk-gpu`; `--clippy` first lints the
/// code behind the `gpu` feature (warnings denied), as CI does.
pub fn run_build(args: &[String]) -> anyhow::Result<()> {
    let release = args.iter().any(|a| a == "--release");
    let clippy = args.iter().any(|a| a == "--clippy");
    if let Some(other) = args.iter().find(|a| *a != "--release" && *a != "--clippy") {
        bail!("unknown gpu flag {other}");
    }
    if !cfg!(target_os = "linux") {
        bail!("the GPU prover builds on Linux only");
    }
    let ws = crate::tidy::workspace_root()?;
    let root = std::env::var_os("DZK_CUDA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target").join("cuda-pypi"));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let cu = toolkit(&root)?;
    let lib = link_dir(&root, &cu)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![cu.join("bin")];
    paths.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(paths).context("PATH")?;
    let arch = std::env::var("CUDA_ARCH").unwrap_or_else(|_| DEFAULT_ARCH.into());
    let threads = std::env::var("NVCC_THREADS").unwrap_or_else(|_| "2".into());
    let cargo = |args: &[&str]| -> anyhow::Result<()> {
        eprintln!("xtask: CUDA_ARCH={arch} cargo {}", args.join(" "));
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .current_dir(&ws)
            .env("PATH", &path)
            .env("CUDA_PATH", &cu)
            .env("CUDA_LIB_DIR", &lib)
            .env("CUDA_LIBRARY_PATH", root.join("cuda"))
            .env("CUDA_ARCH", &arch)
            .env("NVCC_THREADS", &threads)
            .status()
            .context("running cargo")?;
        if !status.success() {
            bail!("cargo {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    let target = ["-p", "dzk-cli", "--features", "gpu", "--bin", "dzk-gpu"];
    if clippy {
        let mut a = vec!["clippy"];
        a.extend(target);
        a.extend(["--", "-D", "warnings"]);
        cargo(&a)?;
    }
    let mut a = vec!["build"];
    a.extend(target);
    if release {
        a.push("--release");
    }
    cargo(&a)?;
    let bin = ws
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("dzk-gpu");
    eprintln!(
        "xtask: built {} (CUDA code for sm_{arch}); `dzk` beside it starts it when a GPU is there",
        bin.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::driver_functions;

    #[test]
    fn driver_functions_are_the_called_cu_names() {
        let text = "CUresult cuInit(unsigned int);\nCUresult  cuMemAlloc_v2 (CUdeviceptr *p);\nint acuX(void); cuFoo x; typedef int CUx;";
        assert_eq!(driver_functions(text), vec!["cuInit", "cuMemAlloc_v2"]);
    }
}
