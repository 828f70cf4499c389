//! `dzk aggregate-node`: a tree of aggregations proven node by node (as a cluster runs it, each level's nodes at
//! once), whose root is the run's aggregated proof; and the nodes it refuses.

use std::path::{Path, PathBuf};

mod common;
use common::{digits_input, digits_model, dzk, ok, s};

fn refused(args: &[&str], why: &str) {
    let o = dzk(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "dzk {args:?}: {err}");
    assert!(
        err.contains(why),
        "dzk {args:?} does not say {why:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// The digits CNN in 3 chunks, keyed and proven with one SRS of `k` (at least 18, the aggregation circuit's
/// smallest; a root over two node proofs needs more than this machine's 23 GiB at k = 18 and about 21 GiB at 19).
struct Proven {
    _tmp: tempfile::TempDir,
    run: PathBuf,
    params: PathBuf,
    proofs: PathBuf,
}

fn proven(k: u32) -> Proven {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let (run, params, proofs) = (d.join("run"), d.join("params"), d.join("proofs"));
    ok(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "3",
        "-o",
        s(&run),
    ]);
    ok(&["setup", "--k", &k.to_string(), "-o", s(&params)]);
    ok(&["keygen", s(&run), "--params", s(&params)]);
    ok(&[
        "prove",
        s(&run),
        "--input",
        s(&digits_input(3)),
        "--params",
        s(&params),
        "-o",
        s(&proofs),
    ]);
    Proven {
        _tmp: tmp,
        run,
        params,
        proofs,
    }
}

fn node_args<'a>(p: &'a Proven, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "aggregate-node",
        s(&p.proofs),
        "--run",
        s(&p.run),
        "--params",
        s(&p.params),
        "--group",
        "2",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn aggregate_node_describes_the_tree_and_refuses_nodes_it_cannot_prove() {
    let p = proven(18);
    // 3 chunks, 2 proofs per node: two nodes over chunk proofs, then the root.
    let tree: serde_json::Value =
        serde_json::from_str(&ok(&node_args(&p, &["--tree", "--json"]))).expect("json");
    assert_eq!(tree["levels"], serde_json::json!([2, 1]));
    let text = ok(&node_args(&p, &["--tree"]));
    assert_eq!(text, "level 0: 2 nodes\nlevel 1: 1 node (the root)\n");
    // Each refused before any key is made.
    refused(
        &node_args(&p, &["--level", "0", "--node", "2"]),
        "has nodes [2, 1] by level: there is no node 2 of level 0",
    );
    refused(
        &node_args(&p, &["--level", "1", "--node", "0"]),
        "prove node 0 of level 0 first",
    );
    refused(
        &node_args(&p, &["--level", "0", "--node", "1", "--evm"]),
        "--evm, --evm-calldata and -o are for the root (level 1)",
    );
    let mut three = node_args(&p, &["--level", "0", "--node", "0"]);
    three[7] = "3";
    refused(&three, "a node aggregates a power of two of proofs");
    // --tree and a node are exclusive; a node needs both --level and --node.
    assert_eq!(
        dzk(&node_args(&p, &["--tree", "--level", "0"]))
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        dzk(&node_args(&p, &["--level", "0"])).status.code(),
        Some(2)
    );
}

fn node_file(p: &Proven, level: usize, node: usize) -> PathBuf {
    p.proofs
        .join("nodes")
        .join(format!("node-{level}-{node}.dzk"))
}

fn swap(a: &Path, b: &Path) {
    let tmp = a.with_extension("swap");
    std::fs::rename(a, &tmp).expect("rename");
    std::fs::rename(b, a).expect("rename");
    std::fs::rename(&tmp, b).expect("rename");
}

#[test]
#[ignore = "three aggregation proofs at k = 19: about 30 minutes and 21 GiB on a 2-core machine, run by `cargo xtask slow`"]
fn a_tree_proven_node_by_node_gives_a_root_that_verify_all_accepts() {
    let p = proven(19);
    for node in 0..2 {
        let n = node.to_string();
        let out: serde_json::Value = serde_json::from_str(&ok(&node_args(
            &p,
            &["--level", "0", "--node", &n, "--json"],
        )))
        .expect("json");
        assert_eq!(out["root"], false);
        assert_eq!(out["file"], serde_json::json!(node_file(&p, 0, node)));
    }
    // A node whose file is there already is kept (a level submitted again redoes only what failed).
    let before = std::fs::read(node_file(&p, 0, 0)).expect("read");
    let o = dzk(&node_args(&p, &["--level", "0", "--node", "0"]));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is there already; keeping it"));
    assert_eq!(std::fs::read(node_file(&p, 0, 0)).expect("read"), before);
    // `inspect` describes a node file.
    let about = ok(&["inspect", s(&node_file(&p, 0, 1))]);
    assert!(
        about.contains("node 1 of level 0 of a tree over 3 chunk proofs, 2 proofs per node"),
        "{about}"
    );
    // Children in the wrong places are refused before any key is made: each file says which node it is.
    swap(&node_file(&p, 0, 0), &node_file(&p, 0, 1));
    refused(
        &node_args(&p, &["--level", "1", "--node", "0"]),
        "node 1 of level 0 of a tree over 3 chunks with 2 proofs per node, not node 0 of level 0",
    );
    swap(&node_file(&p, 0, 0), &node_file(&p, 0, 1));
    let root: serde_json::Value = serde_json::from_str(&ok(&node_args(
        &p,
        &["--level", "1", "--node", "0", "--json"],
    )))
    .expect("json");
    assert_eq!(root["root"], true);
    let agg = p.proofs.join("aggregate.dzk");
    assert_eq!(root["file"], serde_json::json!(agg));
    // The root is the run's aggregated proof: verify-all --aggregate accepts it with the key the root recorded
    // and with every node's key rebuilt from the chunks' keys and the configurations it carries.
    for extra in [&[][..], &["--rebuild-vk", "--no-vk-cache"][..]] {
        let mut args = vec![
            "verify-all",
            "--aggregate",
            s(&agg),
            "--run",
            s(&p.run),
            "--params",
            s(&p.params),
            "--json",
        ];
        args.extend_from_slice(extra);
        let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
        assert_eq!(report["verdict"], "valid", "{extra:?}");
        assert_eq!(report["root"], root["merkle"]);
    }
    // Its root is the chunk proofs' Merkle root.
    let merkle: serde_json::Value =
        serde_json::from_str(&ok(&["merkle", s(&p.proofs), "--json"])).expect("json");
    assert_eq!(root["merkle"], merkle["root"]);
}
