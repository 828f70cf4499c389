"""Finding the `dzk prove-chunk` process of a chunk, for the tests that kill or cancel it mid-proof."""

import os
from pathlib import Path


def prover_pids(chunk: int) -> list:
    """The pids of the running `dzk prove-chunk ... --chunk N` processes (read from /proc)."""
    needle = ["--chunk", str(chunk)]
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if "prove-chunk" in args and any(args[i:i + 2] == needle for i in range(len(args))):
            found.append(int(pid))
    return found


def parent_of(pid: int) -> int:
    """The parent pid of `pid` (from /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
