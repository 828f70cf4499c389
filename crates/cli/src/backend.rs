//! `--backend auto|cpu|gpu` of the proving commands, and `dzk devices`.
//!
//! The `dzk` binary never links CUDA: a binary that does aborts before `main` where there is no GPU. For `auto`
//! and `gpu` it asks the NVIDIA driver for a device (`dzk_backend::device::probe`, by `dlopen`), finds the
//! `dzk-gpu` binary beside itself (or at `DZK_GPU_PROVER`), checks that it starts (`dzk-gpu devices --json`
//! makes the device context and says which device it got), and then runs it in its own place with the same
//! arguments (exec): the GPU prover writes the same files and the same output. Any step that fails makes
//! `auto` prove on the CPU, said once on stderr and in `--json` (`"backend": "cpu"`, `"backend_note"`); `gpu`
//! then exits 2 with the reason. In `dzk-gpu` itself `auto` and `gpu` mean the GPU.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use dzk_backend::device::{self, Device, Driver, NoGpu};
use dzk_backend::{gpu_arch, gpu_ready, Backend, GPU_BUILT};
use serde_json::json;

/// The environment variable naming the GPU prover binary (default: `dzk-gpu` beside `dzk`).
pub const PROVER_ENV: &str = "DZK_GPU_PROVER";
/// How long the GPU prover may take to make its device context before it is given up on.
const PREFLIGHT: Duration = Duration::from_secs(120);

/// The prover a command asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// The GPU prover when a usable NVIDIA GPU and the dzk-gpu binary are there, else the CPU.
    #[default]
    Auto,
    /// The CPU (halo2-axiom).
    Cpu,
    /// The GPU prover (halo2-axiom-gpu); exit 2 when it cannot be used here.
    Gpu,
}

/// The `--backend` option.
#[derive(Clone, Debug, Default, Args)]
pub struct BackendOpt {
    /// Which prover: auto (the GPU when a usable one and the dzk-gpu binary are there, else the CPU), cpu, or gpu
    /// (exit 2 when it cannot be used). `dzk devices` says what auto picks here and why.
    #[arg(long, value_enum, default_value_t = Which::Auto, value_name = "WHICH")]
    pub backend: Which,
}

/// The prover chosen, and why the CPU when `auto` could not use a GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// The prover.
    pub backend: Backend,
    /// Why not the GPU, when `auto` fell back to the CPU.
    pub note: Option<String>,
}

/// Where `auto` proves here.
enum Route {
    /// On the GPU: the GPU prover at `prover` started on `device`.
    Gpu { prover: PathBuf, device: String },
    /// On the CPU, because of `why`; `prover` is the GPU prover binary when it was found.
    Cpu {
        why: String,
        prover: Option<PathBuf>,
    },
}

/// Follows the driver's answer: the GPU prover binary (`locate`), then whether it starts on the device
/// (`preflight`).
fn route(driver: &Result<Driver, NoGpu>) -> Route {
    let d = match driver {
        Ok(d) => d,
        Err(e) => {
            return Route::Cpu {
                why: format!("no GPU: {e}"),
                prover: None,
            }
        }
    };
    let prover = match locate(d) {
        Ok(p) => p,
        Err(why) => return Route::Cpu { why, prover: None },
    };
    match preflight(&prover) {
        Ok(device) => Route::Gpu { prover, device },
        Err(why) => Route::Cpu {
            why,
            prover: Some(prover),
        },
    }
}

/// The GPU prover binary: `DZK_GPU_PROVER`, else `dzk-gpu` beside this binary.
fn locate(driver: &Driver) -> Result<PathBuf, String> {
    let named = std::env::var_os(PROVER_ENV).map(PathBuf::from);
    let path = match &named {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("this binary's path is unknown ({e})"))?
            .with_file_name("dzk-gpu"),
    };
    if path.is_file() {
        return Ok(path);
    }
    let gpu = driver
        .devices
        .first()
        .map_or_else(|| "a GPU".to_string(), |d| d.name.clone());
    Err(match named {
        Some(_) => format!("{PROVER_ENV}={} names no file", path.display()),
        None => format!(
            "{gpu} is here, but the GPU prover {} is not: build it with `cargo xtask gpu --release` \
             (docs/gpu.md) or name it in {PROVER_ENV}",
            path.display()
        ),
    })
}

/// Runs `PROVER devices --json` (which makes the GPU context, as the first proof would) and returns the device
/// it reports, or why it failed.
fn preflight(prover: &Path) -> Result<String, String> {
    let fail = |why: String| {
        format!(
            "the GPU prover {} cannot prove here: {why}",
            prover.display()
        )
    };
    let mut child = Command::new(prover)
        .args(["devices", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("it cannot be started ({e})")))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < PREFLIGHT => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "`devices` did not answer in {} s",
                    PREFLIGHT.as_secs()
                )));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let report: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    let ready = report.as_ref().and_then(|r| r["ready"].as_bool()) == Some(true);
    if out.status.success() && ready {
        let name = report
            .as_ref()
            .and_then(|r| r["device"]["name"].as_str())
            .unwrap_or("the GPU")
            .to_string();
        return Ok(name);
    }
    let said = report
        .as_ref()
        .and_then(|r| r["reason"].as_str().map(str::to_string))
        .or_else(|| {
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "no reason given".into());
    Err(fail(format!(
        "`devices` exited with {}: {said}",
        out.status
    )))
}

/// Replaces this process with the GPU prover, given this process's arguments; returns only if that fails.
fn exec(prover: &Path) -> anyhow::Error {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = Command::new(prover).args(&args).exec();
        anyhow::anyhow!("starting the GPU prover {}: {e}", prover.display())
    }
    #[cfg(not(unix))]
    {
        match Command::new(prover).args(&args).status() {
            Ok(s) => std::process::exit(s.code().unwrap_or(2)),
            Err(e) => anyhow::anyhow!("starting the GPU prover {}: {e}", prover.display()),
        }
    }
}

impl BackendOpt {
    /// The prover to use. In `dzk`, when a GPU can be used (and `auto` or `gpu` was asked), this replaces the
    /// process with `dzk-gpu` and does not return; call it before any output.
    pub fn choose(&self) -> anyhow::Result<Chosen> {
        let cpu = |note| Chosen {
            backend: Backend::Cpu,
            note,
        };
        match self.backend {
            Which::Cpu => Ok(cpu(None)),
            Which::Auto | Which::Gpu if GPU_BUILT => Ok(Chosen {
                backend: Backend::Gpu,
                note: None,
            }),
            want => match route(&device::probe()) {
                Route::Gpu { prover, device } => {
                    eprintln!("dzk: proving on {device} with {}", prover.display());
                    Err(exec(&prover))
                }
                Route::Cpu { why, .. } if want == Which::Gpu => {
                    Err(anyhow::anyhow!("--backend gpu: {why}"))
                }
                Route::Cpu { why, .. } => {
                    eprintln!("dzk: proving on the CPU: {why}");
                    Ok(cpu(Some(why)))
                }
            },
        }
    }
}

/// Arguments of `dzk devices`.
#[derive(Debug, Args)]
pub struct DevicesCmd {
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A device as JSON.
fn device_json(d: &Device) -> serde_json::Value {
    json!({
        "ordinal": d.ordinal, "name": d.name, "memory_bytes": d.memory_bytes,
        "compute_capability": format!("{}.{}", d.compute_capability.0, d.compute_capability.1),
    })
}

impl DevicesCmd {
    /// Runs the command. In `dzk-gpu`: makes the GPU context and exits 2 if it cannot. In `dzk`: reports the
    /// driver, the GPU prover binary and what `--backend auto` picks, exit 0.
    pub fn run(self) -> anyhow::Result<()> {
        if GPU_BUILT {
            let r = gpu_ready();
            if self.json {
                println!(
                    "{}",
                    match &r {
                        Ok(d) =>
                            json!({"build": "gpu", "ready": true, "device": device_json(d), "cuda_arch": gpu_arch()}),
                        Err(why) =>
                            json!({"build": "gpu", "ready": false, "reason": why, "cuda_arch": gpu_arch()}),
                    }
                );
            }
            return match r {
                Ok(d) => {
                    eprintln!(
                        "GPU prover ready on device {}: {} ({} GiB)",
                        d.ordinal,
                        d.name,
                        d.memory_bytes >> 30
                    );
                    Ok(())
                }
                Err(why) => Err(anyhow::anyhow!("the GPU prover cannot prove here: {why}")),
            };
        }
        let driver = device::probe();
        let (auto, reason, prover) = match route(&driver) {
            Route::Gpu { prover, .. } => ("gpu", None, Some(prover)),
            Route::Cpu { why, prover } => ("cpu", Some(why), prover),
        };
        if self.json {
            println!(
                "{}",
                json!({
                    "build": "cpu",
                    "driver": driver.as_ref().ok().map(|d| json!({
                        "cuda_version": d.cuda_version,
                        "devices": d.devices.iter().map(device_json).collect::<Vec<_>>(),
                    })),
                    "gpu_prover": prover,
                    "auto": auto,
                    "reason": reason,
                })
            );
            return Ok(());
        }
        match &driver {
            Ok(d) => {
                println!("NVIDIA driver: CUDA {}", d.cuda_version);
                for dev in &d.devices {
                    println!(
                        "  device {}: {} ({} GiB, compute capability {}.{})",
                        dev.ordinal,
                        dev.name,
                        dev.memory_bytes >> 30,
                        dev.compute_capability.0,
                        dev.compute_capability.1
                    );
                }
            }
            Err(e) => println!("GPU: none ({e})"),
        }
        if let Some(p) = &prover {
            println!("GPU prover: {}", p.display());
        }
        match reason {
            None => println!("--backend auto proves on the GPU"),
            Some(why) => println!("--backend auto proves on the CPU: {why}"),
        }
        Ok(())
    }
}
