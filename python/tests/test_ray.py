"""The Ray driver on a real local Ray cluster: a run proves and verifies; a killed worker is retried; the
shell recipe runs against localhost stand-ins."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dzk_ray import aggregate_on_ray, prove_on_ray
from procs import parent_of, prover_pids

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "testdata/models/digits_cnn.msgpack"


def _forward(dzk_bin, input_file):
    out = subprocess.run([dzk_bin, "forward", str(MODEL), str(input_file), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["outputs"][0]["data"]


def test_digits_in_three_chunks_proves_and_verifies_on_ray(ray_cluster, dzk_bin, tmp_path):
    inp = REPO / "testdata/inputs/digits_4.msgpack"
    r = prove_on_ray(model=MODEL, chunks=3, input_file=inp, out_dir=tmp_path / "proofs",
                     address=ray_cluster, dzk=dzk_bin, attempts_dir=_mk(tmp_path / "attempts"))
    assert r.verdict == "VALID", r.report
    assert [c["error"] for c in r.report["chunks"]] == [None, None, None]
    assert r.report["public_outputs"] == _forward(dzk_bin, inp)
    assert r.attempts == {0: 1, 1: 1, 2: 1}
    # No dzk-gpu beside the dzk under test: every task proved on its CPU (`--backend auto`).
    assert r.backends == {0: "cpu", 1: "cpu", 2: "cpu"}
    # An independent audit of what the driver gathered agrees.
    run = tmp_path / "proofs/.driver/run"
    params = tmp_path / "proofs/.driver/params"
    v = subprocess.run([dzk_bin, "verify-all", str(tmp_path / "proofs"), "--run", str(run), "--params", str(params)],
                       capture_output=True, text=True)
    assert v.returncode == 0 and "VALID" in v.stdout, v.stderr


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _kill_first_prover(chunk: int, killed: list, stop: threading.Event):
    """Waits for `dzk prove-chunk ... --chunk N` and SIGKILLs the Ray worker running it (and the prover)."""
    while not stop.is_set():
        for pid in prover_pids(chunk):
            try:
                ppid = parent_of(pid)
                os.kill(ppid, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
                killed.append(ppid)
                return
            except (OSError, ValueError, IndexError):
                continue
        time.sleep(0.005)


def test_a_worker_killed_mid_run_is_retried_and_the_run_completes(ray_cluster, dzk_bin, tmp_path):
    killed, stop = [], threading.Event()
    t = threading.Thread(target=_kill_first_prover, args=(1, killed, stop), daemon=True)
    t.start()
    try:
        r = prove_on_ray(model=MODEL, chunks=2, input_file=REPO / "testdata/inputs/digits_6.msgpack",
                         out_dir=tmp_path / "proofs", address=ray_cluster, dzk=dzk_bin,
                         attempts_dir=_mk(tmp_path / "attempts"))
    finally:
        stop.set()
        t.join(5)
    assert killed, "the worker proving chunk 1 was never caught running"
    assert r.attempts[1] >= 2, r.attempts
    assert r.verdict == "VALID", r.report


def _ssh_stand_ins(dzk_bin, tmp_path, **extra):
    """The environment of examples/ssh-run.sh with stand-ins for ssh and scp: run the command here / copy here,
    ignoring the host part; every host's files under tmp_path/hosts."""
    bin_dir = _mk(tmp_path / "bin")
    (bin_dir / "fake-ssh").write_text('#!/usr/bin/env bash\nshift\nexec bash -c "$*"\n')
    (bin_dir / "fake-scp").write_text(
        '#!/usr/bin/env bash\nargs=()\nfor a in "$@"; do args+=("${a#*:}"); done\nexec cp "${args[@]}"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return dict(os.environ, DZK=dzk_bin, DZK_REMOTE_BIN=dzk_bin, DZK_SSH=str(bin_dir / "fake-ssh"),
                DZK_SCP=str(bin_dir / "fake-scp"), DZK_REMOTE_BASE=str(tmp_path / "hosts"),
                DZK_WORK=str(tmp_path / "work"), **extra)


def test_shell_recipe_against_localhost_stand_ins(dzk_bin, tmp_path):
    env = _ssh_stand_ins(dzk_bin, tmp_path)
    p = subprocess.run(["bash", str(REPO / "examples/ssh-run.sh"), str(MODEL),
                        str(REPO / "testdata/inputs/digits_3.msgpack"), "host-a", "host-b", "host-c"],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "VALID" in p.stdout
    assert sorted(x.name for x in (tmp_path / "work/proofs").glob("*.proof")) == [
        "chunk-0.proof", "chunk-1.proof", "chunk-2.proof"]


WIDE = REPO / "testdata/models/wide_mlp.msgpack"
WIDE_INPUT = REPO / "testdata/inputs/wide_mlp.msgpack"


def _wide_forward(dzk_bin):
    out = subprocess.run([dzk_bin, "forward", str(WIDE), str(WIDE_INPUT), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["outputs"][0]["data"]


def test_a_plan_with_a_split_layer_proves_on_ray(ray_cluster, dzk_bin, tmp_path):
    # --max-k 12 splits the wide layer into two parts: three tasks at once, the last reading three boundaries.
    r = prove_on_ray(model=WIDE, max_k=12, input_file=WIDE_INPUT, out_dir=tmp_path / "proofs",
                     address=ray_cluster, dzk=dzk_bin)
    assert r.verdict == "VALID", r.report
    assert [c["reads"] for c in r.report["chunks"]] == [[0], [0], [0, 1, 2]]
    assert r.report["public_outputs"] == _wide_forward(dzk_bin)
    assert sorted(r.backends) == [0, 1, 2]


def test_a_plan_cut_by_memory_proves_on_ray(ray_cluster, dzk_bin, tmp_path):
    # --max-memory 60M splits the wide layer into three parts of k = 11 (its one chunk needs about 106 MiB by the
    # estimate): four tasks, each asking Ray for its chunk's estimated memory, the last reading four boundaries.
    r = prove_on_ray(model=WIDE, max_memory="60M", input_file=WIDE_INPUT, out_dir=tmp_path / "proofs",
                     address=ray_cluster, dzk=dzk_bin)
    assert r.verdict == "VALID", r.report
    assert [c["reads"] for c in r.report["chunks"]] == [[0], [0], [0], [0, 1, 2, 3]]
    assert r.report["public_outputs"] == _wide_forward(dzk_bin)
    # Chunks and a memory bound together are refused before anything runs.
    with pytest.raises(ValueError):
        prove_on_ray(model=WIDE, chunks=2, max_memory="60M", input_file=WIDE_INPUT, out_dir=tmp_path / "p2",
                     address=ray_cluster, dzk=dzk_bin)


HEAD = REPO / "testdata/models/wide_head.msgpack"
HEAD_INPUT = REPO / "testdata/inputs/wide_head.msgpack"


def test_a_split_last_layer_states_the_outputs_in_parts_on_ray(ray_cluster, dzk_bin, tmp_path):
    # --max-k 10 splits the head, the model's last layer, into four parts that end the plan: each task states
    # its share of the outputs (none has an output boundary to take along) and verify-all joins them.
    r = prove_on_ray(model=HEAD, max_k=10, input_file=HEAD_INPUT, out_dir=tmp_path / "proofs",
                     address=ray_cluster, dzk=dzk_bin)
    assert r.verdict == "VALID", r.report
    assert [c["reads"] for c in r.report["chunks"]] == [[0], [1], [1], [1], [1]]
    out = subprocess.run([dzk_bin, "forward", str(HEAD), str(HEAD_INPUT), "--json"], check=True,
                         capture_output=True, text=True).stdout
    assert r.report["public_outputs"] == json.loads(out)["outputs"][0]["data"]


def _wide_on_two_stand_in_hosts(dzk_bin, tmp_path, **bound):
    """examples/ssh-run.sh on the wide MLP over two stand-in hosts, partitioned under `bound` (its env vars): the
    run must verify."""
    env = _ssh_stand_ins(dzk_bin, tmp_path, **bound)
    p = subprocess.run(["bash", str(REPO / "examples/ssh-run.sh"), str(WIDE), str(WIDE_INPUT), "host-a", "host-b"],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "VALID" in p.stdout


def test_shell_recipe_runs_a_plan_with_a_split_layer(dzk_bin, tmp_path):
    # Two hosts, three chunks: dealt in turn.
    _wide_on_two_stand_in_hosts(dzk_bin, tmp_path, DZK_MAX_K="12")
    # The chunk after the parts got exactly the boundaries it reads and its own is the last: no --next file.
    got = sorted(x.name for x in (tmp_path / "hosts/chunk-2/boundaries").iterdir())
    assert got == ["boundary-0.dzk", "boundary-1.dzk", "boundary-2.dzk"]
    got0 = sorted(x.name for x in (tmp_path / "hosts/chunk-0/boundaries").iterdir())
    assert got0 == ["boundary-0.dzk", "boundary-1.dzk"]


def test_shell_recipe_runs_a_plan_cut_by_memory(dzk_bin, tmp_path):
    # Two hosts, four chunks (the wide layer in three parts within 60 MiB, and the chunk after them): dealt in turn.
    _wide_on_two_stand_in_hosts(dzk_bin, tmp_path, DZK_MAX_MEMORY="60M")
    got = sorted(x.name for x in (tmp_path / "hosts/chunk-3/boundaries").iterdir())
    assert got == ["boundary-0.dzk", "boundary-1.dzk", "boundary-2.dzk", "boundary-3.dzk"]


def test_the_dzk_ray_command(ray_cluster, dzk_bin, tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "dzk_ray.cli", "prove", "--model", str(MODEL), "--chunks", "2",
         "--input", str(REPO / "testdata/inputs/digits_0.msgpack"), "-o", str(tmp_path / "proofs"),
         "--address", ray_cluster, "--dzk", dzk_bin],
        capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("VALID")
    assert "[2/2]" in p.stderr
    assert "proven on: chunk 0 cpu, chunk 1 cpu" in p.stdout, p.stdout
    # --backend gpu where no GPU prover can run: the task's dzk exits 2 with the reason, and so does dzk-ray.
    p = subprocess.run(
        [sys.executable, "-m", "dzk_ray.cli", "prove", "--model", str(MODEL), "--chunks", "1",
         "--input", str(REPO / "testdata/inputs/digits_0.msgpack"), "-o", str(tmp_path / "gpu-proofs"),
         "--address", ray_cluster, "--dzk", dzk_bin, "--backend", "gpu", "--max-retries", "0"],
        capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert "--backend gpu: " in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "gpu-proofs/chunk-0.proof").exists()
    # Bad input: exit 2 with a message, not a traceback.
    p = subprocess.run([sys.executable, "-m", "dzk_ray.cli", "prove", "--model", str(tmp_path / "missing.msgpack"),
                        "--chunks", "2", "--input", str(MODEL), "-o", str(tmp_path / "p2"), "--address", ray_cluster,
                        "--dzk", dzk_bin], capture_output=True, text=True)
    assert p.returncode == 2 and "missing.msgpack" in p.stderr and "Traceback" not in p.stderr


def test_the_gpu_prover_beside_dzk_is_shipped_to_the_workers(tmp_path):
    from dzk_ray.driver import _binaries, _lay_out

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/dzk").write_bytes(b"cpu binary")
    assert set(_binaries(str(tmp_path / "bin/dzk"))) == {"dzk"}
    (tmp_path / "bin/dzk-gpu").write_bytes(b"gpu binary")
    shipped = _binaries(str(tmp_path / "bin/dzk"))
    assert shipped == {"dzk": b"cpu binary", "dzk-gpu": b"gpu binary"}
    # Laid out side by side on the worker, executable, where dzk looks for its GPU prover.
    dzk = _lay_out(tmp_path / "worker", {"run/plan.dzk": b"plan"}, shipped)
    assert dzk == tmp_path / "worker/dzk"
    gpu = dzk.with_name("dzk-gpu")
    assert gpu.read_bytes() == b"gpu binary" and os.access(gpu, os.X_OK) and os.access(dzk, os.X_OK)
    assert (tmp_path / "worker/run/plan.dzk").read_bytes() == b"plan"


def _keyed_for_aggregation(dzk_bin, tmp_path, chunks, k=18):
    """The digits CNN in `chunks` chunks, keyed with an SRS of `k` (aggregation needs 18; a root over two node
    proofs needs 19 on this 23 GiB machine, where it peaks at about 21 GiB)."""
    run, params = tmp_path / "run", tmp_path / "params"
    subprocess.run([dzk_bin, "partition", str(MODEL), "--chunks", str(chunks), "-o", str(run)], check=True,
                   capture_output=True)
    subprocess.run([dzk_bin, "setup", "--k", str(k), "-o", str(params)], check=True, capture_output=True)
    subprocess.run([dzk_bin, "keygen", str(run), "--params", str(params)], check=True, capture_output=True)
    return run, params


@pytest.mark.slow
def test_a_run_aggregates_through_a_tree_whose_nodes_are_ray_tasks(ray_cluster, dzk_bin, tmp_path):
    run, params = _keyed_for_aggregation(dzk_bin, tmp_path, 3, k=19)
    proofs = tmp_path / "proofs"
    r = prove_on_ray(input_file=REPO / "testdata/inputs/digits_5.msgpack", out_dir=proofs, run_dir=run,
                     params_dir=params, address=ray_cluster, dzk=dzk_bin)
    assert r.verdict == "VALID", r.report
    messages = []
    # Two CPUs per node task: on this 2-core, 23 GiB machine one aggregation (up to about 21 GiB) runs at a time; a
    # cluster gives each its own machine.
    a = aggregate_on_ray(proofs_dir=proofs, run_dir=run, params_dir=params, group=2, address=ray_cluster,
                         dzk=dzk_bin, num_cpus=2, progress=messages.append)
    # Two nodes over the chunk proofs (one task each, at once), then the root over their proofs.
    assert a.levels == [2, 1]
    assert sorted(a.node_seconds) == ["0-0", "0-1", "1-0"]
    assert a.verdict == "VALID", a.report
    assert a.root == r.root
    # The root recorded its verifying key in the run: verify-all --aggregate read it.
    assert a.report["vk_source"] == "recorded"
    assert any(m.startswith("level 1/2: [2/2] node") for m in messages), messages
    assert "level 2/2: [1/1] node 0 aggregated" in messages, messages


@pytest.mark.slow
def test_the_dzk_ray_aggregate_command_aggregates_a_one_chunk_run(ray_cluster, dzk_bin, tmp_path):
    # The smoke test of the tree on Ray: one chunk, so the tree is its root alone, one task whose aggregated proof and
    # recorded key come back through Ray. In `cargo xtask slow` with the tree of 3 nodes: its aggregation at k = 18
    # took 4 to 7 minutes of CI, which the Rust aggregation test (crates/aggregate) already spends in CI.
    run, params = _keyed_for_aggregation(dzk_bin, tmp_path, 1)
    proofs = tmp_path / "proofs"
    subprocess.run([dzk_bin, "prove", str(run), "--input", str(REPO / "testdata/inputs/digits_2.msgpack"),
                    "--params", str(params), "-o", str(proofs)], check=True, capture_output=True)
    p = subprocess.run(
        [sys.executable, "-m", "dzk_ray.cli", "aggregate", "--run", str(run), "--params", str(params),
         "--proofs", str(proofs), "--address", ray_cluster, "--dzk", dzk_bin],
        capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("VALID"), p.stdout
    assert "through levels [1] (provers: ['cpu'])" in p.stdout
    assert "level 1/1: [1/1] node 0 aggregated" in p.stderr
    assert (proofs / "aggregate.dzk").exists()
    assert list(run.glob("aggregation-*.vk")), "the root's recorded key did not come back into the run"


def test_the_dzk_ray_aggregate_command_refuses_a_bad_group(dzk_bin, tmp_path):
    # Refused before any proof is made or read: the group must be a power of two.
    run, params = tmp_path / "run", tmp_path / "params"
    subprocess.run([dzk_bin, "partition", str(REPO / "testdata/models/digits_cnn.msgpack"), "--chunks", "1", "-o",
                    str(run)], check=True, capture_output=True)
    (tmp_path / "proofs").mkdir()
    p = subprocess.run(
        [sys.executable, "-m", "dzk_ray.cli", "aggregate", "--run", str(run), "--params", str(params),
         "--proofs", str(tmp_path / "proofs"), "--group", "3", "--dzk", dzk_bin],
        capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert "power of two" in p.stderr and "Traceback" not in p.stderr
