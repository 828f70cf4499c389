"""The Ray driver: schedules ``dzk prove-chunk`` tasks and moves their files through Ray."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import ray


@dataclass
class RunResult:
    """What a run produced."""

    verdict: str
    """``"VALID"`` or ``"REJECTED"`` (from ``dzk verify-all``)."""
    root: Optional[str]
    """The Merkle root over the chunk commitments."""
    proofs_dir: Path
    """Where the proofs, ``merkle.dzk`` and the report are."""
    report: dict = field(default_factory=dict)
    """``dzk verify-all --json``'s report."""
    attempts: Dict[int, int] = field(default_factory=dict)
    """How many times each chunk's task ran (more than 1 after a failure)."""
    backends: Dict[int, str] = field(default_factory=dict)
    """The prover of each chunk's proof (``"cpu"`` or ``"gpu"``), as its task's ``dzk prove-chunk`` reported it."""


def _dzk(dzk: str, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([dzk, *args], capture_output=True, text=True)
    if proc.returncode != 0 and not capture:
        raise RuntimeError(f"dzk {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _get(ref):
    """``ray.get``, with a task's own error (a ``RuntimeError`` saying what ``dzk`` said) instead of Ray's wrapper,
    which carries the worker's traceback."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, RuntimeError):
            raise RuntimeError(str(cause)) from None
        raise


def _read(path: Path) -> bytes:
    return Path(path).read_bytes()


def _binaries(dzk: str) -> Dict[str, bytes]:
    """The ``dzk`` binary, and the GPU prover ``dzk-gpu`` when it is beside it (``cargo xtask gpu``): a task then
    proves on its worker's GPU where one is usable (``--backend auto``), on the CPU elsewhere."""
    out = {"dzk": _read(Path(dzk))}
    gpu = Path(dzk).with_name("dzk-gpu")
    if gpu.is_file():
        out["dzk-gpu"] = _read(gpu)
    return out


def _lay_out(root: Path, files: Dict[str, bytes], binaries: Dict[str, bytes]) -> Path:
    """Writes `files` (relative path to bytes) and the binaries (``dzk``, maybe ``dzk-gpu`` beside it) under
    `root`; returns the ``dzk`` binary's path."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for name, data in binaries.items():
        b = root / name
        b.write_bytes(data)
        b.chmod(b.stat().st_mode | stat.S_IXUSR)
    return root / "dzk"


@ray.remote
def _prove_chunk(chunk: int, files: Dict[str, bytes], binaries: Dict[str, bytes], attempts_dir: Optional[str],
                 backend: str, reads: List[int]) -> dict:
    """Runs on a worker: lay the files out in a private directory, run ``dzk prove-chunk`` on the boundaries
    ``reads`` (``[chunk]`` in a chain; a chunk after a split layer reads several), return the proof and the prover
    that made it (``"cpu"`` or ``"gpu"``)."""
    if attempts_dir is not None:
        # Lets the driver (and the tests) see retries: one marker file per attempt.
        Path(attempts_dir, f"chunk-{chunk}.{os.getpid()}.{time.time_ns()}").touch()
    with tempfile.TemporaryDirectory(prefix=f"dzk-chunk-{chunk}-") as tmp:
        root = Path(tmp)
        dzk = _lay_out(root, files, binaries)
        args = [str(dzk), "prove-chunk", str(root / "run"), "--chunk", str(chunk)]
        for b in reads:
            args += ["--input", str(root / f"boundary-{b}.dzk")]
        args += ["--params", str(root / "params"), "-o", str(root / "proofs"), "--backend", backend, "--json"]
        if f"boundary-{chunk + 1}.dzk" in files:
            args += ["--next", str(root / f"boundary-{chunk + 1}.dzk")]
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"chunk {chunk}: dzk prove-chunk failed ({proc.returncode}): {proc.stderr.strip()}")
        report = json.loads(proc.stdout)
        return {"proof": (root / "proofs" / f"chunk-{chunk}.proof").read_bytes(), "backend": report["backend"],
                "backend_note": report.get("backend_note")}


def prove_on_ray(
    *,
    input_file: Path,
    out_dir: Path,
    model: Optional[Path] = None,
    chunks: Optional[int] = None,
    run_dir: Optional[Path] = None,
    params_dir: Optional[Path] = None,
    address: Optional[str] = None,
    num_cpus: float = 1,
    memory_mib: Optional[int] = None,
    num_gpus: float = 0,
    max_retries: int = 3,
    dzk: Optional[str] = None,
    progress: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
    attempts_dir: Optional[Path] = None,
    backend: str = "auto",
    max_k: Optional[int] = None,
    max_memory: Optional[str] = None,
) -> RunResult:
    """Proves a whole run on a Ray cluster and verifies it.

    Either ``model`` and ``chunks``, or ``max_k`` and/or ``max_memory`` (the driver partitions, with ``--max-k``
    and ``--max-memory`` a layer too large for the bound split across chunks, so the run is a graph; makes a dev
    SRS unless ``params_dir`` is given, and the keys) or ``run_dir`` (already partitioned and keyed) with
    ``params_dir``. With ``max_memory`` (a size such as ``"16G"``) and no ``memory_mib``, each chunk's task asks
    Ray for that chunk's estimated proving memory (``partition``'s estimate), so no worker is given more chunks
    at once than its memory holds. ``address`` joins an existing
    cluster (``None`` starts a local one). Each chunk's task asks for ``num_cpus``, ``memory_mib`` and
    ``num_gpus``; failed tasks are retried up to ``max_retries`` times. ``backend`` is each task's ``dzk
    --backend``: with ``auto`` a task proves on its worker's GPU when ``dzk-gpu`` is beside ``dzk`` and the GPU is
    usable, on the CPU otherwise; ``RunResult.backends`` says which, per chunk.
    """
    dzk = dzk or shutil.which("dzk") or str(Path(__file__).resolve().parents[2] / "target/release/dzk")
    if not Path(dzk).exists():
        raise FileNotFoundError(f"no dzk binary at {dzk} (build it with `cargo build --release -p dzk-cli`)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Each chunk's memory request to Ray, bytes, where the plan was cut by memory (else `memory_mib` for all).
    chunk_memory: Dict[int, int] = {}
    work = out_dir / ".driver"
    work.mkdir(exist_ok=True)

    if run_dir is None:
        if model is None or (chunks is None) == (max_k is None and max_memory is None):
            raise ValueError("give model and either chunks or max_k and/or max_memory, or run_dir")
        run_dir = work / "run"
        if chunks is not None:
            bound = ["--chunks", str(chunks)]
        else:
            bound = (["--max-k", str(max_k)] if max_k is not None else []) + \
                (["--max-memory", str(max_memory)] if max_memory is not None else [])
        progress(f"partition {model} ({' '.join(bound)})")
        # The driver's own run directory: partitioned and keyed afresh each time (--force replaces an earlier one).
        plan = json.loads(_dzk(dzk, "partition", str(model), *bound, "-o", str(run_dir), "--json",
                               "--force").stdout)
        if max_memory is not None and not memory_mib:
            chunk_memory = {c["index"]: c["estimate"]["prove_bytes"] for c in plan["chunks"]}
        if params_dir is None:
            k = max(c["k"] for c in plan["chunks"])
            params_dir = work / "params"
            progress(f"dev setup k = {k} (INSECURE: for demos and tests)")
            _dzk(dzk, "setup", "--k", str(k), "-o", str(params_dir))
        progress("keygen")
        _dzk(dzk, "keygen", str(run_dir), "--params", str(params_dir))
    if params_dir is None:
        raise ValueError("give params_dir with run_dir")
    run_dir, params_dir = Path(run_dir), Path(params_dir)

    progress("boundaries (forward passes)")
    bdir = work / "boundaries"
    _dzk(dzk, "boundaries", str(run_dir), "--input", str(input_file), "-o", str(bdir))
    # Which boundaries each chunk reads: its predecessor's in a chain; after a split layer, several.
    described = json.loads(_dzk(dzk, "inspect", str(run_dir / "plan.dzk"), "--json").stdout)
    reads = [c["reads"] for c in described["plan"]["chunks"]]
    n = len(reads)

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    binaries = ray.put(_binaries(dzk))
    common = {"run/plan.dzk": _read(run_dir / "plan.dzk")}
    for f in params_dir.iterdir():
        common[f"params/{f.name}"] = _read(f)
    options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": max_retries, "retry_exceptions": True}
    if memory_mib:
        options["memory"] = memory_mib * 1024 * 1024
    pending = {}
    for i in range(n):
        files = dict(common)
        for name in (f"chunk-{i}.model.msgpack", f"chunk-{i}.pk", f"chunk-{i}.vk"):
            if (run_dir / name).exists():
                files[f"run/{name}"] = _read(run_dir / name)
        for b in reads[i]:
            files[f"boundary-{b}.dzk"] = _read(bdir / f"boundary-{b}.dzk")
        # Its own output's boundary, made ahead (none for a chunk that states the model's outputs: the last,
        # or a part of a split last layer).
        if (bdir / f"boundary-{i + 1}.dzk").exists():
            files[f"boundary-{i + 1}.dzk"] = _read(bdir / f"boundary-{i + 1}.dzk")
        task = dict(options)
        if i in chunk_memory:
            task["memory"] = chunk_memory[i]
        ref = _prove_chunk.options(**task).remote(i, files, binaries, str(attempts_dir) if attempts_dir else None,
                                                   backend, reads[i])
        pending[ref] = i
    progress(f"{n} chunk tasks submitted")
    done = 0
    backends: Dict[int, str] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            i = pending.pop(ref)
            out = _get(ref)
            tmp = out_dir / f".chunk-{i}.proof.tmp"
            tmp.write_bytes(out["proof"])
            tmp.replace(out_dir / f"chunk-{i}.proof")
            backends[i] = out["backend"]
            done += 1
            progress(f"[{done}/{n}] chunk {i} proven ({out['backend']})")

    progress("merkle")
    _dzk(dzk, "merkle", str(out_dir))
    progress("verify-all")
    proc = _dzk(dzk, "verify-all", str(out_dir), "--run", str(run_dir), "--params", str(params_dir), "--json", capture=True)
    if proc.returncode == 2:
        raise RuntimeError(f"verify-all could not read its inputs: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    verdict = "VALID" if report["verdict"] == "valid" else "REJECTED"
    attempts: Dict[int, int] = {}
    if attempts_dir:
        for m in Path(attempts_dir).iterdir():
            c = int(m.name.split(".")[0].split("-")[1])
            attempts[c] = attempts.get(c, 0) + 1
    return RunResult(verdict=verdict, root=report.get("root"), proofs_dir=out_dir, report=report, attempts=attempts,
                     backends=backends)


@dataclass
class AggregateResult:
    """What an aggregation through a tree of Ray tasks produced."""

    verdict: str
    """``"VALID"`` or ``"REJECTED"`` (from ``dzk verify-all --aggregate``)."""
    root: Optional[str]
    """The Merkle root the aggregated proof states."""
    file: Path
    """The aggregated proof (``PROOFS/aggregate.dzk``)."""
    levels: List[int]
    """Nodes per level, bottom first (the last is the root)."""
    node_seconds: Dict[str, float] = field(default_factory=dict)
    """Each node's proving time as ``dzk aggregate-node`` reported it, by ``"L-J"``."""
    report: dict = field(default_factory=dict)
    """``dzk verify-all --aggregate --json``'s report."""
    node_backends: Dict[str, str] = field(default_factory=dict)
    """The prover of each node (``"cpu"`` or ``"gpu"``), by ``"L-J"``."""


@ray.remote
def _aggregate_node(level: int, node: int, group: int, files: Dict[str, bytes], binaries: Dict[str, bytes],
                    backend: str) -> dict:
    """Runs on a worker: lay the files out in a private directory, run ``dzk aggregate-node``, return what it
    wrote (a node proof, or for the root the aggregated proof and the verifying key it recorded in the run)."""
    with tempfile.TemporaryDirectory(prefix=f"dzk-node-{level}-{node}-") as tmp:
        root = Path(tmp)
        dzk = _lay_out(root, files, binaries)
        args = [str(dzk), "aggregate-node", str(root / "proofs"), "--run", str(root / "run"), "--params",
                str(root / "params"), "--group", str(group), "--level", str(level), "--node", str(node),
                "--backend", backend, "--json"]
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"node {node} of level {level}: dzk aggregate-node failed ({proc.returncode}): "
                               f"{proc.stderr.strip()}")
        report = json.loads(proc.stdout)
        out = {"report": report, "files": {}}
        if report["root"]:
            out["files"]["proofs/aggregate.dzk"] = (root / "proofs/aggregate.dzk").read_bytes()
            if report.get("aggregation_vk"):
                out["files"]["run/plan.dzk"] = (root / "run/plan.dzk").read_bytes()
                vk = Path(report["aggregation_vk"])
                out["files"][f"run/{vk.name}"] = vk.read_bytes()
        else:
            name = f"node-{level}-{node}.dzk"
            out["files"][f"proofs/nodes/{name}"] = (root / "proofs/nodes" / name).read_bytes()
        return out


def aggregate_on_ray(
    *,
    proofs_dir: Path,
    run_dir: Path,
    params_dir: Path,
    group: int = 2,
    address: Optional[str] = None,
    num_cpus: float = 1,
    memory_mib: Optional[int] = None,
    max_retries: int = 3,
    dzk: Optional[str] = None,
    progress: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
    num_gpus: float = 0,
    backend: str = "auto",
) -> AggregateResult:
    """Aggregates a proven run through a tree of aggregations on a Ray cluster and checks the result.

    Every node of a level runs at once as its own task (``dzk aggregate-node``), each level after the one below;
    each task asks for ``num_cpus``, ``memory_mib`` and ``num_gpus``, proves with ``dzk --backend backend`` (as
    ``prove_on_ray`` does) and is retried up to ``max_retries`` times. The root writes
    ``PROOFS/aggregate.dzk`` and records its verifying key in the run; ``dzk verify-all --aggregate`` then checks it.
    """
    dzk = dzk or shutil.which("dzk") or str(Path(__file__).resolve().parents[2] / "target/release/dzk")
    if not Path(dzk).exists():
        raise FileNotFoundError(f"no dzk binary at {dzk} (build it with `cargo build --release -p dzk-cli`)")
    proofs_dir, run_dir, params_dir = Path(proofs_dir), Path(run_dir), Path(params_dir)
    tree = json.loads(_dzk(dzk, "aggregate-node", str(proofs_dir), "--run", str(run_dir), "--params",
                           str(params_dir), "--group", str(group), "--tree", "--json").stdout)
    levels: List[int] = tree["levels"]
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    binaries = ray.put(_binaries(dzk))
    # What every node needs: the plan and the chunks' verifying keys (checked against it), and the SRS.
    common: Dict[str, bytes] = {"run/plan.dzk": _read(run_dir / "plan.dzk")}
    for f in run_dir.glob("chunk-*.vk"):
        common[f"run/{f.name}"] = _read(f)
    for f in params_dir.iterdir():
        if f.is_file():
            common[f"params/{f.name}"] = _read(f)
    options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": max_retries, "retry_exceptions": True}
    if memory_mib:
        options["memory"] = memory_mib * 1024 * 1024
    seconds: Dict[str, float] = {}
    backends: Dict[str, str] = {}
    for level, n in enumerate(levels):
        files = dict(common)
        if level == 0:
            for f in proofs_dir.glob("chunk-*.proof"):
                files[f"proofs/{f.name}"] = _read(f)
        else:
            for f in (proofs_dir / "nodes").glob(f"node-{level - 1}-*.dzk"):
                files[f"proofs/nodes/{f.name}"] = _read(f)
        shared = ray.put(files)
        pending = {_aggregate_node.options(**options).remote(level, j, group, shared, binaries, backend): j for j in range(n)}
        progress(f"level {level + 1}/{len(levels)}: {n} node task(s) submitted")
        done = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                j = pending.pop(ref)
                out = _get(ref)
                for rel, data in out["files"].items():
                    dest = (run_dir / rel[len("run/"):]) if rel.startswith("run/") else proofs_dir / rel[len("proofs/"):]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dest.with_name(f".{dest.name}.tmp")
                    tmp.write_bytes(data)
                    tmp.replace(dest)
                seconds[f"{level}-{j}"] = out["report"].get("prove_s", 0.0)
                backends[f"{level}-{j}"] = out["report"].get("backend", "")
                done += 1
                progress(f"level {level + 1}/{len(levels)}: [{done}/{n}] node {j} aggregated")
    agg = proofs_dir / "aggregate.dzk"
    progress("verify-all --aggregate")
    proc = _dzk(dzk, "verify-all", "--aggregate", str(agg), "--run", str(run_dir), "--params", str(params_dir),
                "--json", capture=True)
    if proc.returncode == 2:
        raise RuntimeError(f"verify-all --aggregate could not read its inputs: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    verdict = "VALID" if report["verdict"] == "valid" else "REJECTED"
    return AggregateResult(verdict=verdict, root=report.get("root"), file=agg, levels=levels,
                           node_seconds=seconds, report=report, node_backends=backends)
