//! What the pipeline commands share: reading the plan and the SRS, rejections (exit 1), peak memory and
//! progress display.

use std::io::IsTerminal;
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
    // A graph-shaped plan under a major version of its own: a dzk that knows only chains refuses it; one whose
    // outputs several chunks state under another, which a dzk that looks for them in the last chunk refuses.
    let major = if plan.output_join.is_some() {
        dzk_format::OUTPUT_PARTS_PLAN_MAJOR
    } else if plan.is_graph() {
        dzk_format::GRAPH_PLAN_MAJOR
    } else {
        dzk_format::FORMAT_MAJOR
    };
    write_atomic(&run.join("plan.dzk"), &env.encode_as(major))
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

/// A spinner on stderr: on a terminal, an indicatif spinner; elsewhere, one plain line per message
/// ([`Progress`]).
pub fn spinner(msg: &str) -> Progress {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let progress = Progress::new(pb);
    progress.set_message(msg);
    progress
}

/// A bar over `n` steps on stderr: on a terminal, an indicatif bar; elsewhere, one plain line per message
/// ([`Progress`]).
pub fn bar(n: u64, msg: &str) -> Progress {
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = Progress::new(pb);
    progress.set_message(msg);
    progress
}

/// Progress of a long step on stderr. On a terminal it is an indicatif spinner or bar. Anywhere else (a
/// script, a Ray worker, a log file) indicatif draws nothing, so each new message is printed as one plain
/// line instead, with the time since the step began and, for a bar, the steps done: a command that runs for
/// half an hour is never silent.
pub struct Progress {
    bar: ProgressBar,
    /// Stderr is not a terminal: print plain lines (from the bar's own clock, position and length).
    plain: bool,
}

impl Progress {
    fn new(bar: ProgressBar) -> Self {
        let plain = !std::io::stderr().is_terminal();
        Self { bar, plain }
    }

    /// Shows `msg` as what the step is doing now.
    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if self.plain && !msg.is_empty() {
            let count = self.bar.length().map(|n| (self.bar.position(), n));
            eprintln!("{}", plain_line(self.bar.elapsed(), count, &msg));
        }
        self.bar.set_message(msg);
    }

    /// Sets the steps done.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// Counts `n` more steps done.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Ends the display (a terminal's bar is cleared; plain lines stay in the log).
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// One plain progress line: `[HH:MM:SS] done/all message`, the count only for a bar.
fn plain_line(elapsed: std::time::Duration, count: Option<(u64, u64)>, msg: &str) -> String {
    let s = elapsed.as_secs();
    let clock = format!("[{:02}:{:02}:{:02}]", s / 3600, s / 60 % 60, s % 60);
    match count {
        Some((done, all)) => format!("{clock} {done}/{all} {msg}"),
        None => format!("{clock} {msg}"),
    }
}

/// A `/proc/meminfo` field (`"MemTotal"`, `"MemAvailable"`) in bytes; `None` where there is none.
pub fn meminfo(field: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kib| kib * 1024)
}

/// What a chunk of a graph-shaped plan reads, for the text outputs: ` (reads the model's inputs, chunk 0, …)`;
/// empty for a chunk of a chain.
pub fn reads_text(c: &dzk_format::run::ChunkPlan) -> String {
    if c.sources.is_empty() {
        return String::new();
    }
    let what: Vec<String> = c
        .sources
        .iter()
        .map(|&b| match b {
            0 => "the model's inputs".to_string(),
            b => format!("chunk {}", b - 1),
        })
        .collect();
    format!(" (reads {})", what.join(", "))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::plain_line;

    #[test]
    fn a_plain_progress_line_shows_the_elapsed_time_and_a_bar_s_count() {
        assert_eq!(
            plain_line(Duration::from_secs(3725), Some((1, 3)), "aggregating"),
            "[01:02:05] 1/3 aggregating"
        );
        assert_eq!(
            plain_line(Duration::from_millis(59_999), None, "chunk 0: witness"),
            "[00:00:59] chunk 0: witness"
        );
    }
}
