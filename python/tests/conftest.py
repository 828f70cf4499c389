"""A real local Ray cluster and a real one-node Slurm cluster on the loopback address, and the dzk binary (built
once, release, unless `DZK_BIN` names one)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dzk_bin() -> str:
    """The release binary, built here; `DZK_BIN` names another (`cargo xtask ci` passes `target/debug/dzk`, which
    its Rust tests have just built, rather than compile a release build from nothing)."""
    if os.environ.get("DZK_BIN"):
        return os.environ["DZK_BIN"]
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


SLURM_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
SLURM_PACKAGES = ("slurm-wlm", "munge")


def _missing_slurm_tools() -> list:
    return [t for t in SLURM_TOOLS if shutil.which(t) is None]


def _install_slurm() -> str:
    """Installs Slurm and munge from Debian when they are missing and this is root; says why not otherwise."""
    if not _missing_slurm_tools():
        return ""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root or no apt-get"
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *SLURM_PACKAGES]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(apt, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        r = subprocess.run(apt, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            return r.stderr.strip()[-500:]
    return ""


def _slurm_conf(d: Path, host: str) -> str:
    mem_mib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal:"))) // 1024
    return f"""ClusterName=dzktest
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket={d}/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={max(mem_mib - 1024, 1024)} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm cluster on 127.0.0.1 (munged, slurmctld and slurmd as root, with a configuration and
    state of its own under a temporary directory); yields the environment the client commands need
    (`SLURM_CONF`). Installs `slurm-wlm` and `munge` from Debian when they are missing; skips, saying why, only
    where they cannot be installed."""
    why = _install_slurm()
    missing = _missing_slurm_tools()
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing) and could not be: {why}")
    if os.geteuid() != 0:
        pytest.skip("the one-node Slurm cluster runs its daemons as root; these tests are not running as root")
    d = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (d / sub).mkdir()
    key = d / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    munge = ["munged", "--force", f"--socket={d}/munge.sock", f"--key-file={key}", f"--pid-file={d}/munged.pid",
             f"--log-file={d}/munged.log", f"--seed-file={d}/munged.seed"]
    subprocess.run(munge, check=True, capture_output=True)
    host = socket.gethostname().split(".")[0]
    conf = d / "slurm.conf"
    conf.write_text(_slurm_conf(d, host))
    env = dict(os.environ, SLURM_CONF=str(conf))
    outs = [open(d / f"{daemon}.out", "w") for daemon in ("slurmctld", "slurmd")]
    daemons = [subprocess.Popen([daemon, "-D", "-f", str(conf)], env=env, stdout=out, stderr=subprocess.STDOUT)
               for daemon, out in zip(("slurmctld", "slurmd"), outs)]
    try:
        deadline = time.time() + 60
        while True:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if state.strip() == "idle":
                break
            if time.time() > deadline:
                logs = "\n".join(f"{p.name}: {p.read_text()[-2000:]}" for p in sorted([*d.glob("*.log"), *d.glob("*.out")]))
                raise RuntimeError(f"the Slurm node did not come up (sinfo: {state!r})\n{logs}")
            time.sleep(0.5)
        yield env
    finally:
        subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
        for p in daemons:
            p.terminate()
        for p in daemons:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["munged", "--stop", f"--socket={d}/munge.sock"], capture_output=True)
        for out in outs:
            out.close()
