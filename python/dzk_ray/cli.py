"""``dzk-ray prove``: a whole dzk run on a Ray cluster; ``dzk-ray aggregate``: its tree of aggregations, every
node of a level at once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .driver import aggregate_on_ray, prove_on_ray


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="dzk-ray", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prove", help="partition (or take a run dir), prove every chunk on Ray, merkle, verify-all")
    pr.add_argument("--model", type=Path, help="zkml model file to partition")
    pr.add_argument("--chunks", type=int, help="number of chunks (with --model)")
    pr.add_argument("--max-k", type=int, help="instead of --chunks: every chunk within 2^K rows, layers too large "
                    "for that split across chunks (with --model)")
    pr.add_argument("--max-memory", metavar="SIZE", help="instead of --chunks, alone or with --max-k: every chunk "
                    "within SIZE to key and prove by dzk's estimate (16G is 16 GiB); each task then asks Ray for its "
                    "chunk's estimated memory unless --memory-mib is given (with --model)")
    pr.add_argument("--run", type=Path, help="an existing, keyed run directory (instead of --model)")
    pr.add_argument("--params", type=Path, help="SRS directory (default with --model: an INSECURE dev setup)")
    pr.add_argument("--input", type=Path, required=True, help="the model's zkml input file")
    pr.add_argument("-o", "--output", type=Path, required=True, help="proofs directory")
    pr.add_argument("--address", help="join this Ray cluster (default: start a local one)")
    pr.add_argument("--num-cpus", type=float, default=1, help="CPUs per chunk task")
    pr.add_argument("--memory-mib", type=int, help="memory per chunk task")
    pr.add_argument("--num-gpus", type=float, default=0, help="GPUs per chunk task")
    pr.add_argument("--max-retries", type=int, default=3, help="retries of a failed chunk task")
    pr.add_argument("--dzk", help="the dzk binary (default: on PATH, else target/release/dzk); dzk-gpu beside it "
                    "is shipped too")
    pr.add_argument("--backend", choices=["auto", "cpu", "gpu"], default="auto",
                    help="each task's dzk --backend (auto: the worker's GPU where usable, else its CPU)")
    ag = sub.add_parser("aggregate", help="aggregate a proven run through a tree, each level's nodes as tasks at once")
    ag.add_argument("--run", type=Path, required=True, help="the keyed run directory")
    ag.add_argument("--params", type=Path, required=True, help="SRS directory (k >= 18)")
    ag.add_argument("--proofs", type=Path, required=True, help="the run's proofs directory")
    ag.add_argument("--group", type=int, default=2, help="proofs per node (a power of two, at least 2)")
    ag.add_argument("--address", help="join this Ray cluster (default: start a local one)")
    ag.add_argument("--num-cpus", type=float, default=1, help="CPUs per node task")
    ag.add_argument("--memory-mib", type=int, help="memory per node task")
    ag.add_argument("--max-retries", type=int, default=3, help="retries of a failed node task")
    ag.add_argument("--num-gpus", type=float, default=0, help="GPUs per node task")
    ag.add_argument("--dzk", help="the dzk binary (default: on PATH, else target/release/dzk); dzk-gpu beside it "
                    "is shipped too")
    ag.add_argument("--backend", choices=["auto", "cpu", "gpu"], default="auto",
                    help="each task's dzk --backend (auto: the worker's GPU where usable, else its CPU)")
    a = p.parse_args(argv)
    if a.cmd == "aggregate":
        try:
            r = aggregate_on_ray(proofs_dir=a.proofs, run_dir=a.run, params_dir=a.params, group=a.group,
                                 address=a.address, num_cpus=a.num_cpus, memory_mib=a.memory_mib,
                                 max_retries=a.max_retries, dzk=a.dzk, num_gpus=a.num_gpus, backend=a.backend)
        except (RuntimeError, FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"aggregated {r.file} through levels {r.levels} (provers: {sorted(set(r.node_backends.values()))})")
        print(f"root {r.root}")
        print(r.verdict)
        return 0 if r.verdict == "VALID" else 1
    if a.run is None and (a.model is None or (a.chunks is None) == (a.max_k is None and a.max_memory is None)):
        p.error("give --model and either --chunks or --max-k and/or --max-memory, or --run and --params")
    try:
        r = prove_on_ray(
            input_file=a.input, out_dir=a.output, model=a.model, chunks=a.chunks, max_k=a.max_k,
            max_memory=a.max_memory, run_dir=a.run,
            params_dir=a.params, address=a.address, num_cpus=a.num_cpus, memory_mib=a.memory_mib,
            num_gpus=a.num_gpus, max_retries=a.max_retries, dzk=a.dzk, backend=a.backend,
        )
    except (RuntimeError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"proven on: {', '.join(f'chunk {i} {b}' for i, b in sorted(r.backends.items()))}")
    print(f"root {r.root}")
    print(r.verdict)
    return 0 if r.verdict == "VALID" else 1


if __name__ == "__main__":
    sys.exit(main())
