//! What the pipeline commands share: reading the plan and the SRS, rejections (exit 1), peak memory and
//! progress display.

use std::path::Path;

use anyhow::Context;
use dzk_format::run::Plan;
use dzk_format::{Envelope, Kind};
use dzk_prover::Params as ParamsKZG;
use dzk_verifier::srs::SetupInfo;
use indicatif::{ProgressBar, ProgressStyle};

use crate::io::write_atomic;

/// A rejection: the run (or a proof, or a path) is not valid. Exits with code 1.
#[derive(Debug)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

/// Reads `RUN_DIR/plan.dzk`.
pub fn read_plan(run: &Path) -> anyhow::Result<Plan> {
    dzk_verifier::audit::read_plan(run).map_err(anyhow::Error::from)
}

/// Writes `RUN_DIR/plan.dzk`.
pub fn write_plan(run: &Path, plan: &Plan) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(plan).context("encoding the plan")?;
    let mut env = Envelope::new(Kind::Plan, "json", body);
    env.header.plan_digest = Some(plan.digest());
    write_atomic(&run.join("plan.dzk"), &env.encode())
}

/// Loads the SRS directory, printing the insecure-setup warning when there is one.
pub fn load_params(dir: &Path) -> anyhow::Result<(SetupInfo, ParamsKZG)> {
    let (info, params) = dzk_verifier::srs::load(dir)?;
    if let Some(w) = info.warning() {
        eprintln!("warning: {w}");
    }
    Ok((info, params))
}

/// Peak resident memory of this process so far, in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A spinner on stderr (hidden when stderr is not a terminal).
pub fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb.set_message(msg.to_string());
    pb
}

/// A bar over `n` steps on stderr (hidden when stderr is not a terminal).
pub fn bar(n: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg.to_string());
    pb
}
