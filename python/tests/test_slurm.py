"""The Slurm recipe (`examples/slurm-array.sbatch`) on a real one-node Slurm cluster: an array job proves a run
whose every chunk starts at once; a task cancelled mid-proof leaves no proof, the array submitted again finishes
the run, and the dependent verification job says VALID."""

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from procs import prover_pids

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO.parent / "shared/models/zkml/mnist/model.msgpack"
INPUT = REPO.parent / "shared/models/zkml/mnist/inp.msgpack"
RECIPE = REPO / "examples/slurm-array.sbatch"
CHUNKS = 3


def _run(args, env, cwd):
    r = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout


def _wait(jid: str, env, timeout=600):
    """Waits until no task of job `jid` is pending or running."""
    deadline = time.time() + timeout
    while subprocess.run(["squeue", "-h", "-j", jid], env=env, capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline, subprocess.run(["squeue"], env=env, capture_output=True, text=True).stdout
        time.sleep(0.5)


def _state(task: str, env) -> str:
    out = subprocess.run(["scontrol", "show", "job", task], env=env, capture_output=True, text=True).stdout
    return next((w.split("=", 1)[1] for w in out.split() if w.startswith("JobState=")), "")


def _cancel_when_proving(jid: str, chunk: int, env, cancelled: list, stop: threading.Event):
    """Waits for the task's `dzk prove-chunk ... --chunk N` process, then cancels the task with scancel."""
    while not stop.is_set():
        pids = prover_pids(chunk)
        if pids:
            subprocess.run(["scancel", f"{jid}_{chunk}"], env=env, check=True)
            cancelled.extend(pids)
            return
        time.sleep(0.005)


def test_the_array_recipe_proves_a_run_and_a_cancelled_task_is_resubmitted(slurm_cluster, dzk_bin, tmp_path):
    env = dict(slurm_cluster, PATH=f"{Path(dzk_bin).parent}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    # The login node's part, as the recipe's header gives it.
    plan = json.loads(_run([dzk_bin, "partition", str(MODEL), "--chunks", str(CHUNKS), "-o", "run", "--json"],
                           env, work))
    k = max(c["k"] for c in plan["chunks"])
    _run([dzk_bin, "setup", "--k", str(k), "-o", "params"], env, work)
    _run([dzk_bin, "keygen", "run", "--params", "params"], env, work)
    _run([dzk_bin, "boundaries", "run", "--input", str(INPUT), "-o", "boundaries"], env, work)
    # One CPU and 2 GiB per task on this 2-core node (the recipe's defaults are for large chunks); held until the
    # watcher knows the job id, then released.
    submit = ["sbatch", "--parsable", f"--array=0-{CHUNKS - 1}", "--cpus-per-task=1", "--mem=2G", str(RECIPE)]
    jid = _run([*submit[:2], "--hold", *submit[2:]], env, work).strip()
    cancelled, stop = [], threading.Event()
    watcher = threading.Thread(target=_cancel_when_proving, args=(jid, 1, env, cancelled, stop), daemon=True)
    watcher.start()
    _run(["scontrol", "release", jid], env, work)
    try:
        _wait(jid, env)
    finally:
        stop.set()
        watcher.join(5)
    assert cancelled, "the task proving chunk 1 was never caught running"
    assert _state(f"{jid}_1", env) == "CANCELLED"
    assert [_state(f"{jid}_{i}", env) for i in (0, 2)] == ["COMPLETED", "COMPLETED"]
    proofs = work / "proofs"
    # The cancelled task left no proof, not even a partial one; the others did their chunks.
    assert sorted(p.name for p in proofs.iterdir() if p.name.startswith("chunk-")) == \
        ["chunk-0.proof", "chunk-2.proof"]
    before = {i: (proofs / f"chunk-{i}.proof").read_bytes() for i in (0, 2)}
    # The same array again, and the verification job after it, as the recipe says.
    again = _run(submit, env, work).strip()
    verify = _run(["sbatch", "--parsable", f"--dependency=afterok:{again}", "--cpus-per-task=1", "--mem=1G",
                   "--output=verify.log", "--wrap",
                   "dzk merkle proofs && dzk verify-all proofs --run run --params params --json"], env, work).strip()
    _wait(again, env)
    _wait(verify, env)
    assert _state(verify, env) == "COMPLETED", (work / "verify.log").read_text()
    # Chunks 0 and 2 kept their proofs; chunk 1 was proven this time.
    for i in (0, 2):
        assert (proofs / f"chunk-{i}.proof").read_bytes() == before[i]
        assert "valid proof already" in (work / f"dzk-chunk-{i}.log").read_text()
    log = (work / "verify.log").read_text()
    report = json.loads([line for line in log.splitlines() if line.startswith("{")][-1])
    assert report["verdict"] == "valid", log
    forward = json.loads(_run([dzk_bin, "forward", str(MODEL), str(INPUT), "--json"], env, work))
    assert report["public_outputs"] == forward["outputs"][0]["data"]


@pytest.mark.slow
def test_the_aggregation_recipe_runs_each_level_of_the_tree_as_an_array_job(slurm_cluster, dzk_bin, tmp_path):
    env = dict(slurm_cluster, PATH=f"{Path(dzk_bin).parent}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    # The digits CNN in 3 chunks with an SRS of k = 19 (a root over two node proofs needs more than this machine's
    # 23 GiB at k = 18), its chunks proven by the array job, then the tree (group 2: two nodes over the chunk
    # proofs at once, then the root) behind it.
    model = REPO / "testdata/models/digits_cnn.msgpack"
    inp = REPO / "testdata/inputs/digits_7.msgpack"
    _run([dzk_bin, "partition", str(model), "--chunks", "3", "-o", "run"], env, work)
    _run([dzk_bin, "setup", "--k", "19", "-o", "params"], env, work)
    _run([dzk_bin, "keygen", "run", "--params", "params"], env, work)
    _run([dzk_bin, "boundaries", "run", "--input", str(inp), "-o", "boundaries"], env, work)
    chunks = _run(["sbatch", "--parsable", "--array=0-2", "--cpus-per-task=1", "--mem=2G", str(RECIPE)], env,
                  work).strip()
    # Two CPUs per node: on this 2-core, 23 GiB node one aggregation (up to about 21 GiB) runs at a time; a cluster
    # gives each its own machine.
    env_agg = dict(env, DZK_SBATCH_ARGS="--cpus-per-task=2 --mem=20G")
    out = subprocess.run(["bash", str(REPO / "examples/slurm-aggregate.sh"), "2", chunks], env=env_agg, cwd=work,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    root = out.stdout.strip().splitlines()[-1]
    assert "level 0: 2 node(s)" in out.stderr and "level 1: 1 node(s)" in out.stderr, out.stderr
    _wait(root, env, timeout=1800)
    assert _state(root, env) == "COMPLETED", "\n".join(p.read_text() for p in work.glob("dzk-aggregate-*.log"))
    assert sorted(p.name for p in (work / "proofs/nodes").iterdir()) == ["node-0-0.dzk", "node-0-1.dzk"]
    report = json.loads(_run([dzk_bin, "verify-all", "--aggregate", "proofs/aggregate.dzk", "--run", "run",
                              "--params", "params", "--json"], env, work))
    assert report["verdict"] == "valid", report
    assert report["vk_source"] == "recorded"
