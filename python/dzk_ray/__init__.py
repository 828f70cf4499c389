"""dzk on a Ray cluster.

The driver partitions a model (or takes an existing run directory), makes the keys, computes every cut's
boundary file ahead with ``dzk boundaries`` (forward passes only, seconds), then submits one Ray task per chunk.
Each task receives its files through Ray's object store (no shared filesystem: the plan, the chunk's model
slice and proving key, the SRS, its two boundary files and the ``dzk`` binary itself), runs
``dzk prove-chunk`` in a private temporary directory and returns the proof's bytes. Tasks that fail (a worker
killed, a node lost) are retried by Ray. The driver writes the proofs, runs ``dzk merkle`` and
``dzk verify-all`` and reports the verdict.

``aggregate_on_ray`` then aggregates the run through a tree: every node of a level is a task of its own
(``dzk aggregate-node``), each level after the one below, and ``dzk verify-all --aggregate`` checks the root.
"""

from .driver import AggregateResult, RunResult, aggregate_on_ray, prove_on_ray

__all__ = ["AggregateResult", "RunResult", "aggregate_on_ray", "prove_on_ray"]
