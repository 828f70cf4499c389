//! `cargo xtask tidy`: the mechanical architecture invariants of ARCHITECTURE.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// Which dzk crates each dzk crate may depend on (normal and build dependencies; dev-dependencies are free).
/// Arrows point down only (ARCHITECTURE.md, "Code Map").
const ALLOWED: &[(&str, &[&str])] = &[
    ("dzk-ir", &[]),
    ("dzk-format", &[]),
    ("dzk-merkle", &[]),
    ("dzk-onnx", &["dzk-ir"]),
    ("dzk-partition", &["dzk-ir", "dzk-format", "dzk-circuit"]),
    ("dzk-gadgets", &["dzk-merkle"]),
    (
        "dzk-circuit",
        &["dzk-ir", "dzk-gadgets", "dzk-merkle", "dzk-format"],
    ),
    ("dzk-backend", &[]),
    ("dzk-aggregate", &["dzk-merkle", "dzk-backend"]),
    ("dzk-evm", &[]),
    (
        "dzk-prover",
        &[
            "dzk-circuit",
            "dzk-backend",
            "dzk-merkle",
            "dzk-format",
            "dzk-ir",
            "dzk-verifier",
        ],
    ),
    (
        "dzk-verifier",
        &["dzk-circuit", "dzk-merkle", "dzk-format", "dzk-ir"],
    ),
    ("dzk-cli", &["*"]),
    ("xtask", &[]),
];

/// Crates that may use `anyhow`, `clap` or `tracing-subscriber`.
const EDGE_CRATES: &[&str] = &["dzk-cli", "xtask"];
const EDGE_DEPS: &[&str] = &["anyhow", "clap", "tracing-subscriber"];
/// Crates that may contain `unsafe` (the CUDA path only).
const UNSAFE_CRATES: &[&str] = &["dzk-backend"];

/// The workspace root (the parent of xtask's manifest directory).
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

/// Runs every tidy check, listing every violation before failing.
pub fn run() -> anyhow::Result<()> {
    let root = workspace_root()?;
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let mut problems = Vec::new();
    for pkg in meta["packages"]
        .as_array()
        .context("metadata has no packages")?
    {
        let name = pkg["name"].as_str().unwrap_or_default();
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            problems.push(format!("crate {name} is not in tidy's allow-list: add it to ARCHITECTURE.md and xtask/src/tidy.rs"));
            continue;
        };
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let is_dev = dep["kind"].as_str() == Some("dev");
            if dep_name.starts_with("dzk-")
                && !is_dev
                && !allowed.contains(&"*")
                && !allowed.contains(&dep_name)
            {
                problems.push(format!(
                    "{name} depends on {dep_name}, which the layering forbids"
                ));
            }
            if EDGE_DEPS.contains(&dep_name) && !is_dev && !EDGE_CRATES.contains(&name) {
                problems.push(format!(
                    "{name} depends on {dep_name}: only the cli and xtask may"
                ));
            }
        }
        let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        for file in rust_files(&dir.join("src"))?
            .into_iter()
            .chain(rust_files(&dir.join("tests"))?)
            .chain(rust_files(&dir.join("benches"))?)
        {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rel = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            if !text.starts_with("//!") && !text.starts_with("#![doc") {
                problems.push(format!(
                    "{rel}: must start with a //! line saying what the file is"
                ));
            }
            if !UNSAFE_CRATES.contains(&name) && text.lines().any(is_unsafe_code) {
                problems.push(format!("{rel}: unsafe code outside the CUDA path"));
            }
        }
    }
    if problems.is_empty() {
        eprintln!("xtask: tidy passed");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        bail!("{} tidy problem(s)", problems.len())
    }
}

/// Whether a line uses `unsafe` as code (the patterns are split so this file does not match itself).
fn is_unsafe_code(line: &str) -> bool {
    let kw = concat!("uns", "afe");
    let code = line.split("//").next().unwrap_or_default();
    ["{", "fn", "impl", "trait", "extern"]
        .iter()
        .any(|next| code.contains(&format!("{kw} {next}")))
}

fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
