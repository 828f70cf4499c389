"""A real local Ray cluster on the loopback address, and the dzk binary (built once, release)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dzk_bin() -> str:
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dzk-cli"], cwd=REPO, check=True)
    return str(REPO / "target/release/dzk")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """`ray start --head` on 127.0.0.1 with 2 CPUs; yields the address; `ray stop` afterwards."""
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        check=True, env=env, capture_output=True,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], env=env, capture_output=True)
