//! The `dzk` binary end to end: `forward` and `inspect` on real files, and every kind of hostile input
//! answered with exit code 2 and a one-line cause, never a panic.

use std::path::{Path, PathBuf};
use std::process::Output;

use dzk_ir::TensorFile;
use serde_json::Value;

mod common;
use common::{chunk_reads, digits_input, digits_model, dzk, repo, s};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean rejection: exit code 2, one `error:` line naming `needle`, no panic, nothing on stdout.
fn assert_rejected(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
}

/// The digits model as a generic value, to tamper with.
fn digits_value() -> Value {
    rmp_serde::from_slice(&std::fs::read(digits_model()).expect("read model"))
        .expect("decode model")
}

fn write_value(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, rmp_serde::to_vec_named(v).expect("encode")).expect("write");
    p
}

#[test]
fn forward_prints_outputs_and_argmax_and_writes_a_zkml_tensor_file() {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(repo().join("testdata/models/digits_cnn.expected.json")).expect("expected"),
    )
    .expect("json");
    let case = &expected["expected"][0];
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("out.msgpack");
    let o = dzk(&[
        "forward",
        s(&digits_model()),
        s(&digits_input(0)),
        "-o",
        s(&out_file),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("argmax: {}", case["argmax"])),
        "{text}"
    );
    let written = TensorFile::load(&out_file).expect("output file is a zkml tensor file");
    let want: Vec<i64> = case["logits"]
        .as_array()
        .expect("logits")
        .iter()
        .map(|v| v.as_i64().expect("int"))
        .collect();
    assert_eq!(written.tensors()[0].1.data(), &want[..]);
    // No temporary file is left beside the output.
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);

    let o = dzk(&["forward", s(&digits_model()), s(&digits_input(0)), "--json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json on stdout");
    assert_eq!(v["argmax"], case["argmax"]);
    assert_eq!(v["outputs"][0]["data"], case["logits"]);
}

#[test]
fn forward_on_mnist_gives_the_reference_logits() {
    let z = repo().join("../shared/models/zkml/mnist");
    let o = dzk(&[
        "forward",
        s(&z.join("model.msgpack")),
        s(&z.join("inp.msgpack")),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(
        v["outputs"][0]["data"],
        serde_json::json!([-5312, -8056, -8186, -1669, -4260, 6614, -5131, -6862, -3047, -805])
    );
    assert_eq!(v["argmax"], 5);
}

#[test]
fn inspect_describes_models_configs_and_inputs() {
    let o = dzk(&["inspect", s(&digits_model())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(
        t.contains("scale factor 512") && t.contains("FullyConnected") && t.contains("5 layers"),
        "{t}"
    );

    let o = dzk(&[
        "inspect",
        s(&digits_model()),
        "--input",
        s(&digits_input(1)),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["kind"], "model");
    assert_eq!(v["layers"].as_array().expect("layers").len(), 5);
    // ReLU6 after the conv: the first layer's range lies in [0, 6·512].
    let r = &v["layers"][0]["range"];
    assert!(
        r[0].as_i64().expect("lo") >= 0 && r[1].as_i64().expect("hi") <= 3072,
        "{r}"
    );

    let gpt2 = repo().join("../shared/models/zkml/gpt-2/config.msgpack");
    let o = dzk(&["inspect", s(&gpt2), "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["kind"], "config");
    assert_eq!(v["layers"].as_array().expect("layers").len(), 1093);

    let o = dzk(&["inspect", s(&digits_input(2))]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("tensor 0") && stdout(&o).contains("[1,8,8,1]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn hostile_files_are_rejected_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let model = digits_model();
    let input = digits_input(0);
    let bytes = std::fs::read(&model).expect("read");

    // Truncated msgpack.
    let truncated = d.join("truncated.msgpack");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    assert_rejected(
        &dzk(&["forward", s(&truncated), s(&input)]),
        "truncated.msgpack: not a valid zkml model file",
    );

    // Empty file, for both commands.
    let empty = d.join("empty.msgpack");
    std::fs::write(&empty, b"").expect("write");
    assert_rejected(
        &dzk(&["forward", s(&empty), s(&input)]),
        "the file is empty",
    );
    assert_rejected(&dzk(&["inspect", s(&empty)]), "the file is empty");
    assert_rejected(&dzk(&["forward", s(&model), s(&empty)]), "empty.msgpack");

    // A directory instead of a file; a file that does not exist.
    assert_rejected(&dzk(&["forward", s(d), s(&input)]), "cannot read");
    assert_rejected(&dzk(&["inspect", s(d)]), "cannot read");
    assert_rejected(
        &dzk(&["forward", s(&d.join("nope.msgpack")), s(&input)]),
        "nope.msgpack",
    );

    // Wrong field types.
    let mut v = digits_value();
    v["global_sf"] = Value::String("512".into());
    let p = write_value(d, "wrong_type.msgpack", &v);
    assert_rejected(
        &dzk(&["forward", s(&p), s(&input)]),
        "wrong_type.msgpack: not a valid zkml model file",
    );

    // Unknown layer type, named with its layer index.
    let mut v = digits_value();
    v["layers"][1]["layer_type"] = Value::String("Frobnicate".into());
    let p = write_value(d, "unknown_layer.msgpack", &v);
    assert_rejected(
        &dzk(&["forward", s(&p), s(&input)]),
        "layer 1 (Frobnicate): unknown layer type",
    );

    // A weight tensor whose data does not fill its shape.
    let mut v = digits_value();
    v["tensors"][0]["shape"] = serde_json::json!([6, 3, 3, 2]);
    let p = write_value(d, "bad_tensor.msgpack", &v);
    assert_rejected(
        &dzk(&["forward", s(&p), s(&input)]),
        "tensor 1: shape [6, 3, 3, 2] holds 108 values but 54 were given",
    );

    // A layer whose declared input shape disagrees with the tensor.
    let mut v = digits_value();
    v["layers"][3]["inp_shapes"][1] = serde_json::json!([24, 55]);
    let p = write_value(d, "bad_shape.msgpack", &v);
    assert_rejected(
        &dzk(&["forward", s(&p), s(&input)]),
        "layer 3 (FullyConnected)",
    );

    // A missing weight tensor.
    let mut v = digits_value();
    v["tensors"].as_array_mut().expect("tensors").remove(2);
    let p = write_value(d, "missing_tensor.msgpack", &v);
    assert_rejected(
        &dzk(&["forward", s(&p), s(&input)]),
        "tensor 3 has no value",
    );

    // A tensor read before the layer that writes it.
    let mut v = digits_value();
    v["layers"].as_array_mut().expect("layers").swap(0, 1);
    let p = write_value(d, "order.msgpack", &v);
    assert_rejected(
        &dzk(&["forward", s(&p), s(&input)]),
        "reads tensor 8 before layer 1 writes it",
    );

    // An input file that supplies the wrong tensor, and one with a value outside zkml's range.
    let wrong_idx = write_value(
        d,
        "wrong_idx.msgpack",
        &serde_json::json!([{"idx": 5, "shape": [1], "data": [1]}]),
    );
    assert_rejected(&dzk(&["forward", s(&model), s(&wrong_idx)]), "tensor 5");
    let out_of_range = write_value(
        d,
        "range.msgpack",
        &serde_json::json!([{"idx": 0, "shape": [1], "data": [-3_000_000_000_i64]}]),
    );
    assert_rejected(
        &dzk(&["forward", s(&model), s(&out_of_range)]),
        "outside zkml's range",
    );

    // A model given where an input is expected, and the other way round: said in plain words.
    assert_rejected(
        &dzk(&["forward", s(&model), s(&model)]),
        "not a valid zkml input file: this looks like a zkml model file",
    );
    let input = digits_input(0);
    assert_rejected(
        &dzk(&["forward", s(&input), s(&input)]),
        "not a valid zkml model file: this looks like a zkml input file",
    );
    // A missing file: the operating system's reason once.
    let missing = d.join("missing.msgpack");
    let o = dzk(&["forward", s(&model), s(&missing)]);
    assert_rejected(&o, "cannot read");
    assert_eq!(
        stderr(&o).matches("No such file").count(),
        1,
        "{}",
        stderr(&o)
    );
    // Every config file, whatever its first layer, gets the same answer from forward and partition.
    for name in ["gpt-2", "clip", "twitter"] {
        let config = repo().join(format!("../shared/models/zkml/{name}/config.msgpack"));
        assert_rejected(
            &dzk(&["forward", s(&config), s(&input)]),
            "the model has no weights (a config file): give --synthetic-weights SEED",
        );
        assert_rejected(
            &dzk(&[
                "partition",
                s(&config),
                "--chunks",
                "2",
                "-o",
                s(&d.join("run")),
            ]),
            "the model has no weights (a config file): give --synthetic-weights SEED",
        );
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let config = repo().join("../shared/models/zkml/gpt-2/config.msgpack");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dzk"))
        .args(["inspect", s(&config)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dzk");
    // Read one byte, then close the pipe, as `head -c 1` does.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).expect("a first byte");
    drop(stdout);
    let o = child.wait_with_output().expect("wait");
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let o = dzk(&["forward"]);
    assert_eq!(o.status.code(), Some(2));
    let o = dzk(&["no-such-command"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn an_aggregation_tree_takes_a_power_of_two_of_at_least_two_proofs_per_node() {
    // Refused before anything is read or verified.
    for g in ["3", "1", "0"] {
        assert_rejected(
            &dzk(&[
                "aggregate",
                "no-proofs",
                "--run",
                "no-run",
                "--params",
                "no-params",
                "--group",
                g,
            ]),
            &format!("--group {g}: a node aggregates a power of two of proofs, at least 2"),
        );
    }
}

#[test]
fn long_steps_report_progress_as_plain_lines_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let o = dzk(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "2",
        "-o",
        s(&run),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The test reads stderr through a pipe, where indicatif draws nothing: each step is one line instead.
    let steps: Vec<&str> = err.lines().filter(|l| l.starts_with("[00:")).collect();
    assert_eq!(steps.len(), 3, "{err}");
    assert!(
        steps[0].ends_with("] measuring every slice with the cost model"),
        "{err}"
    );
    assert!(steps[1].ends_with("] writing slices"), "{err}");
    assert!(
        steps[2].contains("] fitting the layout of each of ") && steps[2].ends_with(" chunks"),
        "{err}"
    );
}

/// The tiny transformer as a zkml config: every weight's values dropped, its input listed among the tensors
/// with no values (as Twitter's config lists it).
fn tiny_transformer_config(dir: &Path) -> PathBuf {
    let path = repo().join("testdata/models/tiny_transformer.msgpack");
    let mut v: Value = rmp_serde::from_slice(&std::fs::read(path).expect("read")).expect("decode");
    for t in v["tensors"].as_array_mut().expect("tensors") {
        t["data"] = Value::Array(Vec::new());
    }
    v["tensors"]
        .as_array_mut()
        .expect("tensors")
        .push(serde_json::json!({"idx": 0, "shape": [1, 4, 8], "data": []}));
    write_value(dir, "config.msgpack", &v)
}

fn outputs_of(o: &Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str::<Value>(&stdout(o)).expect("json")["outputs"].clone()
}

#[test]
fn synth_writes_a_model_whose_forward_equals_synthetic_weights_and_partition_takes_either() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tiny_transformer_config(tmp.path());
    let input = repo().join("testdata/inputs/tiny_transformer.msgpack");
    let model = tmp.path().join("synth.msgpack");
    let o = dzk(&["synth", s(&config), "--seed", "11", "-o", s(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    // The declared input listed without values stays an input: the input file supplies it.
    let from_file = outputs_of(&dzk(&["forward", s(&model), s(&input), "--json"]));
    let synthetic = outputs_of(&dzk(&[
        "forward",
        s(&config),
        s(&input),
        "--synthetic-weights",
        "11",
        "--json",
    ]));
    assert_eq!(from_file, synthetic);
    // Another seed gives other weights.
    let other = outputs_of(&dzk(&[
        "forward",
        s(&config),
        s(&input),
        "--synthetic-weights",
        "12",
        "--json",
    ]));
    assert_ne!(from_file, other);
    // partition refuses the config alone, saying what to do, and takes it with --synthetic-weights.
    let run = tmp.path().join("run");
    assert_rejected(
        &dzk(&["partition", s(&config), "--chunks", "2", "-o", s(&run)]),
        "--synthetic-weights",
    );
    let o = dzk(&[
        "partition",
        s(&config),
        "--chunks",
        "2",
        "--synthetic-weights",
        "11",
        "-o",
        s(&run),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The slices carry the synthetic weights: chunk 0's slice holds its first layer norm's scale.
    let slice = dzk_ir::Model::load(&run.join("chunk-0.model.msgpack")).expect("slice");
    assert!(slice.tensors().values().any(|t| t.data.is_some()));
    // A config that declares no input (as GPT-2's) synthesised without --input reads no input at all: synth
    // warns, partition refuses it with what to do, and --input keeps the input file's tensors as inputs.
    let mut v: Value =
        rmp_serde::from_slice(&std::fs::read(&config).expect("read")).expect("decode");
    v["inp_idxes"] = serde_json::json!([]);
    v["tensors"]
        .as_array_mut()
        .expect("tensors")
        .retain(|t| t["idx"] != 0);
    let undeclared = write_value(tmp.path(), "undeclared.msgpack", &v);
    let closed = tmp.path().join("closed.msgpack");
    let o = dzk(&["synth", s(&undeclared), "--seed", "11", "-o", s(&closed)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("reads no input"), "{}", stderr(&o));
    let o = dzk(&[
        "partition",
        s(&closed),
        "--chunks",
        "1",
        "-o",
        s(&tmp.path().join("r2")),
    ]);
    assert_rejected(&o, "the model reads no input");
    assert!(stderr(&o).contains("dzk synth --input"), "{}", stderr(&o));
    let open = tmp.path().join("open.msgpack");
    let o = dzk(&[
        "synth",
        s(&undeclared),
        "--seed",
        "11",
        "--input",
        s(&input),
        "-o",
        s(&open),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("reads no input"), "{}", stderr(&o));
    assert_eq!(
        outputs_of(&dzk(&["forward", s(&open), s(&input), "--json"])),
        from_file
    );
}

#[test]
fn partition_lists_every_layer_without_a_chip_path_at_once() {
    // The digits CNN with both fully connected layers reading their weights as data.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut v = digits_value();
    for l in v["layers"].as_array_mut().expect("layers") {
        if l["layer_type"] == "FullyConnected" {
            l["inp_idxes"][0] = l["inp_idxes"][1].clone();
        }
    }
    let model = write_value(tmp.path(), "bent.msgpack", &v);
    let o = dzk(&[
        "partition",
        s(&model),
        "--chunks",
        "2",
        "-o",
        s(&tmp.path().join("run")),
    ]);
    assert_rejected(&o, "2 layers cannot be proven yet");
    let err = stderr(&o);
    assert!(
        err.contains(
            "layer 3 (FullyConnected): the data operand is a constant; layer 4 (FullyConnected)"
        ),
        "{err}"
    );
    assert!(
        !tmp.path().join("run").exists(),
        "a refused partition wrote files"
    );
}

/// Twitter's model (synthetic weights) has a fully connected layer that alone needs more than 2^18 rows:
/// `--max-k 18` splits it across chunks by output channels instead of failing, and every chunk fits.
#[test]
fn max_k_splits_a_layer_too_large_for_the_bound() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let twitter = repo().join("../shared/models/zkml/twitter/config.msgpack");
    let o = dzk(&[
        "partition",
        s(&twitter),
        "--synthetic-weights",
        "1",
        "--max-k",
        "18",
        "-o",
        s(&tmp.path().join("run")),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("across chunks by output channels"),
        "{}",
        stderr(&o)
    );
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    let splits = v["split_layers"].as_array().expect("split layers");
    assert!(!splits.is_empty(), "{v}");
    let chunks = v["chunks"].as_array().expect("chunks");
    assert!(
        chunks.iter().all(|c| c["k"].as_u64().expect("k") <= 18),
        "{v}"
    );
    // Each part reads one boundary (the one before the split layer); the chunk after the parts reads every
    // part's, and the one before only where a tensor of it is still needed after the parts.
    let parts = splits[0]["parts"].as_u64().expect("parts") as usize;
    let first = (0..chunks.len() - parts)
        .find(|&i| (i..i + parts).all(|j| chunk_reads(&chunks[j]) == vec![i as u64]))
        .expect("the parts") as u64;
    let part_outputs: Vec<u64> = (first + 1..=first + parts as u64).collect();
    let join = chunk_reads(&chunks[first as usize + parts]);
    assert!(
        join == part_outputs || join == [vec![first], part_outputs.clone()].concat(),
        "{join:?}"
    );
    let readers = chunks
        .iter()
        .filter(|c| chunk_reads(c).contains(&first))
        .count();
    assert_eq!(readers, parts + usize::from(join.contains(&first)), "{v}");
    // Every edge holds the same tensors on both sides.
    let plan = dzk_verifier::audit::read_plan(&tmp.path().join("run")).expect("plan");
    plan.check().expect("a consistent plan");
}

/// `partition` says what sets each chunk's k and estimates each chunk's keygen and proving resources; it warns
/// exactly when a chunk's estimate exceeds this machine's memory.
#[test]
fn partition_reports_rows_tables_and_resource_estimates_and_warns_about_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let twitter = repo().join("../shared/models/zkml/twitter/config.msgpack");
    let o = dzk(&[
        "partition",
        s(&twitter),
        "--synthetic-weights",
        "1",
        "--chunks",
        "1",
        "-o",
        s(&tmp.path().join("run")),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    let c = &v["chunks"][0];
    let k = c["k"].as_u64().expect("k");
    let rows = c["rows"].as_u64().expect("rows");
    assert!(rows <= 1 << k && rows > 1 << (k - 1), "{c}");
    assert!(c["layout_rows"].as_u64().expect("layout rows") <= rows);
    let e = &c["estimate"];
    let need = e["keygen_bytes"]
        .as_u64()
        .expect("keygen")
        .max(e["prove_bytes"].as_u64().expect("prove"));
    assert!(e["prove_s"].as_f64().expect("time") > 0.0, "{e}");
    let total: u64 = std::fs::read_to_string("/proc/meminfo")
        .expect("meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .expect("MemTotal")
        * 1024;
    let warned = stderr(&o).contains("more than this machine's");
    assert_eq!(
        warned,
        need > total,
        "need {need}, have {total}: {}",
        stderr(&o)
    );
    // The digits CNN fits anywhere: no warning, and the text output names the estimate.
    let o = dzk(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "2",
        "-o",
        s(&tmp.path().join("digits")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("estimated on 2 cores: keygen"),
        "{}",
        stdout(&o)
    );
}

/// `--chunks N` with fewer chunks in the plan (MNIST: its first convolution split, so the chunk after the parts
/// bounds the largest k): the note says why the other machines would not help, in text and in `--json`; a plan
/// of exactly N chunks has no note.
#[test]
fn partition_says_why_it_uses_fewer_chunks_than_asked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnist = repo().join("../shared/models/zkml/mnist/model.msgpack");
    let part = |n: &str, model: &Path, json: bool| {
        let run = tmp.path().join(format!("{n}-{json}"));
        let mut args = vec!["partition", s(model), "--chunks", n, "-o", s(&run)];
        if json {
            args.push("--json");
        }
        let o = dzk(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    let o = part("4", &mnist, true);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    let chunks = v["chunks"].as_array().expect("chunks");
    let k = chunks
        .iter()
        .map(|c| c["k"].as_u64().expect("k"))
        .max()
        .expect("k");
    assert!(chunks.len() < 4, "{v}");
    assert_eq!(v["chunks_asked"], 4);
    let note = v["fewer_chunks"].as_str().expect("a note");
    assert!(
        note.starts_with(&format!(
            "--chunks 4: {} chunks, the largest at k = {k}, and ",
            chunks.len()
        )),
        "{note}"
    );
    // The plan at k − 1 takes more than 4 chunks (or none can be made): more machines would not help.
    assert!(note.contains(&format!("within k = {}", k - 1)), "{note}");
    assert!(
        note.ends_with(&format!(
            "{} more machine{} would not make the largest chunk smaller",
            4 - chunks.len(),
            if 4 - chunks.len() == 1 { "" } else { "s" }
        )),
        "{note}"
    );
    // The same note on stderr without --json.
    let o = part("4", &mnist, false);
    assert!(
        stderr(&o).contains(&format!("note: {note}")),
        "{}",
        stderr(&o)
    );
    // Exactly the chunks asked: no note.
    let o = part("2", &digits_model(), true);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["chunks"].as_array().expect("chunks").len(), 2);
    assert!(v["fewer_chunks"].is_null(), "{v}");
    assert!(!stderr(&o).contains("note:"), "{}", stderr(&o));
}

/// `dzk extract`: the digits CNN's layers after its convolution as a model of their own, their input file from
/// the whole model's forward pass; proven and verified alone, they publish the whole model's outputs.
#[test]
fn an_extracted_run_of_layers_proves_what_it_computes_in_the_whole_model() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| tmp.path().join(n);
    let (model, input) = (digits_model(), digits_input(4));
    common::ok(&[
        "extract",
        s(&model),
        "--layers",
        "1..5",
        "-o",
        s(&p("tail.msgpack")),
        "--input",
        s(&input),
        "--emit-input",
        s(&p("tail_in.msgpack")),
    ]);
    let fwd = |m: &Path, i: &Path| -> Value {
        serde_json::from_str(&common::ok(&["forward", s(m), s(i), "--json"])).expect("json")
    };
    let whole = fwd(&model, &input);
    assert_eq!(
        fwd(&p("tail.msgpack"), &p("tail_in.msgpack"))["outputs"],
        whole["outputs"]
    );
    common::ok(&[
        "partition",
        s(&p("tail.msgpack")),
        "--chunks",
        "1",
        "-o",
        s(&p("run")),
    ]);
    common::ok(&["setup", "--k", "10", "-o", s(&p("params"))]);
    common::ok(&["keygen", s(&p("run")), "--params", s(&p("params"))]);
    common::ok(&[
        "prove",
        s(&p("run")),
        "--input",
        s(&p("tail_in.msgpack")),
        "--params",
        s(&p("params")),
        "-o",
        s(&p("proofs")),
    ]);
    common::ok(&["merkle", s(&p("proofs"))]);
    let report: Value = serde_json::from_str(&common::ok(&[
        "verify-all",
        s(&p("proofs")),
        "--run",
        s(&p("run")),
        "--params",
        s(&p("params")),
        "--json",
    ]))
    .expect("report");
    assert_eq!(report["verdict"], "valid");
    assert_eq!(report["public_outputs"], whole["outputs"][0]["data"]);
    // A range that is not one, and an input file without --emit-input, are usage errors.
    for args in [
        vec!["extract", s(&model), "--layers", "5..1", "-o", s(&p("x"))],
        vec![
            "extract",
            s(&model),
            "--layers",
            "1..5",
            "-o",
            s(&p("x")),
            "--input",
            s(&input),
        ],
    ] {
        let o = dzk(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!p("x").exists());
    }
}
