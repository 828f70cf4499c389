//! `cargo xtask bench evm`: the on-chain verifier's figures (contract size, deployment and verification gas,
//! calldata size) for the digits model and MNIST, each in 2 chunks, through the CLI; and, on the same runs (a
//! k = 22 SRS, chunks far below it), what the auditor and the provers wait for: `prove-chunk` and `verify-all`
//! with and without the cut-down SRS cached, `verify-all --aggregate` with the recorded key and with a rebuild.
//! Written as the "On-chain verification" section of docs/benchmarks.md (replaced in place, the rest kept).

use std::time::Instant;

use std::path::Path;

use anyhow::{bail, Context};

/// The section's heading; the section runs to the next `## ` heading or the end of the file.
const HEADING: &str = "## On-chain verification";

/// Runs `dzk` (release build) with `args`; returns its `--json` answer (null without `--json`).
fn dzk_json(root: &Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = crate::bench::dzk(root, args)?;
    if args.contains(&"--json") {
        serde_json::from_str(&out).with_context(|| format!("dzk {args:?}: not JSON"))
    } else {
        Ok(serde_json::Value::Null)
    }
}

/// Seconds `dzk args` takes (release build), with its `--json` answer.
fn timed(root: &Path, args: &[&str]) -> anyhow::Result<(f64, serde_json::Value)> {
    let t = Instant::now();
    let v = dzk_json(root, args)?;
    Ok((t.elapsed().as_secs_f64(), v))
}

/// One model through partition (2 chunks), setup (k = 22, where the verifier fits EIP-170), keygen, prove, `aggregate --evm` and
/// `export-solidity`; a row of each table (on-chain figures; waits).
fn row(
    root: &Path,
    name: &str,
    model: &str,
    input: &str,
    tmp: &Path,
) -> anyhow::Result<(String, String)> {
    let dir = tmp.join(name);
    let (run, params, proofs) = (dir.join("run"), dir.join("params"), dir.join("proofs"));
    let s = |p: &Path| p.display().to_string();
    dzk_json(root, &["partition", model, "--chunks", "2", "-o", &s(&run)])?;
    dzk_json(root, &["setup", "--k", "22", "-o", &s(&params)])?;
    dzk_json(root, &["keygen", &s(&run), "--params", &s(&params)])?;
    dzk_json(
        root,
        &[
            "prove",
            &s(&run),
            "--input",
            input,
            "--params",
            &s(&params),
            "-o",
            &s(&proofs),
        ],
    )?;
    let calldata = dir.join("calldata.hex");
    let agg = dzk_json(
        root,
        &[
            "aggregate",
            &s(&proofs),
            "--run",
            &s(&run),
            "--params",
            &s(&params),
            "--evm-calldata",
            &s(&calldata),
            "--json",
        ],
    )?;
    let out = dzk_json(
        root,
        &[
            "export-solidity",
            &s(&proofs.join("aggregate.dzk")),
            "--run",
            &s(&run),
            "--params",
            &s(&params),
            "-o",
            &s(&dir.join("Verifier.sol")),
            "--vk-cache",
            &s(&dir.join("cache")),
            "--json",
        ],
    )?;
    let check = dzk_json(
        root,
        &[
            "verify-evm",
            "--bytecode",
            &s(&dir.join("Verifier.bin")),
            "--calldata",
            &s(&calldata),
            "--json",
        ],
    )?;
    if check["verify_gas"] != out["verify_gas"] {
        bail!("{name}: verify-evm and export-solidity disagree on the gas: {check} / {out}");
    }
    let waits = waits(root, name, input, &dir, agg["k"].as_u64().unwrap_or(22))?;
    let onchain = format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {:.0} |\n",
        out["runtime_bytes"],
        out["deployment_bytes"],
        out["deploy_gas"],
        out["verify_gas"],
        out["calldata_bytes"],
        agg["proof_bytes"],
        agg["prove_s"].as_f64().unwrap_or(f64::NAN),
    );
    Ok((onchain, waits))
}

/// The waits on one aggregated run in `dir`: chunk 0's `prove-chunk` and the run's `verify-all` with the cut-down
/// SRS computed (its cache files removed first, as every command computed it before the cache) and read from
/// the cache; `verify-all --aggregate` with the key `aggregate` recorded and with a rebuild from the chunk keys.
fn waits(root: &Path, name: &str, input: &str, dir: &Path, srs_k: u64) -> anyhow::Result<String> {
    let s = |p: &Path| p.display().to_string();
    let (run, params, proofs) = (dir.join("run"), dir.join("params"), dir.join("proofs"));
    let plan_k = |i: usize| -> anyhow::Result<u64> {
        let v = dzk_json(root, &["inspect", &s(&run.join("plan.dzk")), "--json"])?;
        v["plan"]["chunks"][i]["k"]
            .as_u64()
            .context("the plan's chunk k")
    };
    let k0 = plan_k(0)?;
    let uncache = || -> anyhow::Result<()> {
        for e in std::fs::read_dir(&params)? {
            let p = e?.path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("downsized-"))
            {
                std::fs::remove_file(p)?;
            }
        }
        Ok(())
    };
    let prove0 = |out: &str| -> anyhow::Result<f64> {
        let (secs, _) = timed(
            root,
            &[
                "prove-chunk",
                &s(&run),
                "--chunk",
                "0",
                "--input",
                input,
                "--params",
                &s(&params),
                "-o",
                &s(&dir.join(out)),
                "--json",
            ],
        )?;
        Ok(secs)
    };
    uncache()?;
    let prove_cold = prove0("reprove-cold")?;
    let prove_warm = prove0("reprove-warm")?;
    let verify = [
        &s(&proofs),
        "--run",
        &s(&run),
        "--params",
        &s(&params),
        "--json",
    ];
    uncache()?;
    let (verify_cold, _) = timed(root, &[&["verify-all"][..], &verify[..]].concat())?;
    let (verify_warm, _) = timed(root, &[&["verify-all"][..], &verify[..]].concat())?;
    let agg = s(&proofs.join("aggregate.dzk"));
    let base = [
        "verify-all",
        "--aggregate",
        &agg,
        "--run",
        &s(&run),
        "--params",
        &s(&params),
        "--json",
    ];
    let (recorded, r) = timed(root, &base)?;
    if r["vk_source"] != "recorded" {
        bail!("{name}: verify-all --aggregate did not read the recorded key: {r}");
    }
    let (rebuilt, r) = timed(
        root,
        &[&base[..], &["--rebuild-vk", "--no-vk-cache"][..]].concat(),
    )?;
    if r["vk_source"] != "rebuilt" {
        bail!("{name}: --rebuild-vk did not rebuild: {r}");
    }
    Ok(format!(
        "| {name} | {srs_k} | {k0} | {prove_cold:.1} | {prove_warm:.1} | {verify_cold:.1} | {verify_warm:.1} | \
         {recorded:.1} | {rebuilt:.1} |\n"
    ))
}

/// The section's text.
pub fn section(root: &Path, date: &str, machine: &str) -> anyhow::Result<String> {
    let tmp = std::env::temp_dir().join(format!("dzk-bench-evm-{}", std::process::id()));
    let models = [
        (
            "digits CNN",
            "testdata/models/digits_cnn.msgpack",
            "testdata/inputs/digits_0.msgpack",
        ),
        (
            "MNIST",
            "../shared/models/zkml/mnist/model.msgpack",
            "../shared/models/zkml/mnist/inp.msgpack",
        ),
    ];
    let mut table = String::from(
        "| model, 2 chunks | runtime bytes (limit 24,576) | deployment bytes | deployment gas | verification gas \
         | calldata bytes | proof bytes | aggregate --evm s |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut waits = String::from(
        "| model, 2 chunks | SRS k | chunk 0 k | prove-chunk 0, SRS cut down s | prove-chunk 0, cached s \
         | verify-all, cut down s | verify-all, cached s | verify-all --aggregate, recorded key s \
         | verify-all --aggregate --rebuild-vk s |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, model, input) in models {
        let (onchain, wait) = row(root, name, model, input, &tmp)?;
        table.push_str(&onchain);
        waits.push_str(&wait);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(format!(
        "{HEADING}\n\n\
         `cargo xtask bench evm` ({date}, {machine}): for each model, `dzk partition --chunks 2`, `dzk setup --k 22`, \
         `dzk keygen`, `dzk prove`, `dzk aggregate --evm --evm-calldata`, `dzk export-solidity` (solc-js 0.8.19, \
         optimizer on with 1 run) and `dzk verify-evm`. Gas is revm's under mainnet rules, for the deployment \
         transaction and for the verifier call (the 21,000 base and the calldata included); the calldata is the \
         public values (32 bytes each) and the proof. The aggregation's time is its keygen and proof together, \
         with the Keccak transcript.\n\n{table}\n\
         On the same runs, the waits around them (wall seconds of the whole command, release build). A chunk far \
         below the SRS's k needs the SRS cut down (its Lagrange basis recomputed); \"cut down\" runs with the \
         params directory's `downsized-kK.srs` files removed first, which is what every command paid before they \
         were cached, \"cached\" runs right after. `verify-all --aggregate` reads the key `dzk aggregate` \
         recorded in the run, or with `--rebuild-vk --no-vk-cache` rebuilds it from the chunk keys.\n\n{waits}\n"
    ))
}

/// Runs the on-chain benchmark and puts its section into docs/benchmarks.md.
pub fn run(date: &str, machine: &str) -> anyhow::Result<()> {
    let root = crate::tidy::workspace_root()?;
    crate::ci::with_solc()?;
    crate::ci::cargo(&["build", "--quiet", "--release", "-p", "dzk-cli"])?;
    let text = section(&root, date, machine)?;
    let path = root.join("docs/benchmarks.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, replace_section(&old, &text))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// `doc` with its "On-chain verification" section replaced by `section` (appended when it has none).
fn replace_section(doc: &str, section: &str) -> String {
    let Some(start) = doc.find(&format!("{HEADING}\n")) else {
        let mut out = doc.trim_end().to_string();
        out.push_str("\n\n");
        out.push_str(section);
        return out;
    };
    let rest = &doc[start + HEADING.len()..];
    let end = rest
        .find("\n## ")
        .map_or(doc.len(), |i| start + HEADING.len() + i + 1);
    format!("{}{}{}", &doc[..start], section, &doc[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_in_place_or_appended() {
        let new = format!("{HEADING}\n\nnew\n");
        let doc = format!("# B\n\n## A\n\na\n\n{HEADING}\n\nold\n\n## C\n\nc\n");
        assert_eq!(
            replace_section(&doc, &new),
            format!("# B\n\n## A\n\na\n\n{HEADING}\n\nnew\n## C\n\nc\n")
        );
        let last = format!("# B\n\n{HEADING}\n\nold\n");
        assert_eq!(replace_section(&last, &new), format!("# B\n\n{new}"));
        assert_eq!(replace_section("# B\n", &new), format!("# B\n\n{new}"));
    }
}
