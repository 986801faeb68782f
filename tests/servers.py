"""Real servers for the tests, on 127.0.0.1 only: PostgreSQL, MLflow's tracking server on it, SLURM.

Each is started by a fixture in a throw-away folder, on free ports, and stopped by its pid.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lrchain.testing import clean_env

HOST = "127.0.0.1"
START_SECONDS = 180  # a busy 2-core machine takes 10-30 s to start mlflow server


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(ready, what: str, proc: subprocess.Popen, log: Path) -> None:
    """Poll `ready()` until it holds; fail with the log's tail if `proc` dies or time runs out."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not start in {START_SECONDS} s:\n{log.read_text()[-3000:]}")


def listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, group: bool = False) -> None:
    """Stop a process this module started (and the process group it leads when `group`)."""
    if proc is None or (proc.poll() is not None and not group):
        return
    send = os.killpg if group else os.kill
    try:
        send(proc.pid, sig)
        proc.wait(timeout=60)
    except ProcessLookupError:  # the whole group has ended already
        return
    except subprocess.TimeoutExpired:
        send(proc.pid, signal.SIGKILL)
        proc.wait()


def start(args: list[str], log: Path, **kwargs) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)


def program(name: str, *folders: str) -> str | None:
    """The path of an installed program, also in `folders` (Debian keeps some off PATH)."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *folders]))


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, postgres, createdb), newest first."""
    initdb = program("initdb", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    return Path(initdb).resolve().parent if initdb else None  # past /usr/local/bin links


@dataclass
class Postgres:
    """A throw-away PostgreSQL cluster: initdb in a temporary folder, on 127.0.0.1 only."""

    folder: Path
    port: int
    user: str | None  # the system user it runs as (root may not run PostgreSQL)
    proc: subprocess.Popen | None = None

    @classmethod
    def create(cls) -> Postgres:
        bin_dir = postgres_bin()
        if bin_dir is None:
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        user = "postgres" if os.geteuid() == 0 else None
        folder = Path(tempfile.mkdtemp(prefix="lrchain-postgres-"))
        if user is not None:
            shutil.chown(folder, user)
        db = cls(folder, free_port(), user)
        args = [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres"]
        args += ["--auth=trust", "-E", "UTF8", "--no-sync"]  # throw-away, loopback only
        subprocess.run(args, check=True, capture_output=True, user=user)
        return db

    def start(self) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        args = [str(bin_dir / "postgres"), "-D", str(self.folder / "data"), "-p", str(self.port)]
        args += ["-c", f"listen_addresses={HOST}", "-k", str(self.folder), "-c", "fsync=off"]
        log = self.folder / "postgres.log"
        self.proc = start(args, log, user=self.user, start_new_session=True)
        wait_until(lambda: listening(self.port), "postgres", self.proc, log)
        args = [str(bin_dir / "createdb"), "-h", HOST, "-p", str(self.port), "-U", "postgres"]
        subprocess.run(args + ["mlflow"], check=True, capture_output=True)

    def uri(self, database: str = "mlflow") -> str:
        # postgresql+psycopg2: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
        return f"postgresql+psycopg2://postgres@{HOST}:{self.port}/{database}"

    def stop(self) -> None:
        stop(self.proc, signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class TrackingServer:
    """`mlflow server` on PostgreSQL with artifacts proxied by it: the README's team set-up."""

    folder: Path
    backend_uri: str
    port: int
    proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        args = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend_uri]
        args += ["--artifacts-destination", str(self.folder / "artifacts")]
        args += ["--host", HOST, "--port", str(self.port), "--workers", "1"]
        # GenAI job runners (huey consumers) are not needed to track runs
        env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        log = self.folder / "server.log"
        self.proc = start(args, log, cwd=self.folder, env=env, start_new_session=True)
        wait_until(self.healthy, "mlflow server", self.proc, log)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop(self.proc, group=True)  # uvicorn and its workers


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory) -> Iterator[TrackingServer]:
    """One PostgreSQL cluster and one `mlflow server` on it for the whole test run."""
    pytest.importorskip("psycopg2", reason="no psycopg2: pip install -e .[server]")
    database = Postgres.create()
    server = None
    try:
        database.start()
        server = TrackingServer(tmp_path_factory.mktemp("server"), database.uri(), free_port())
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        database.stop()


SLURM_CONF = """\
ClusterName=lrchaintest
SlurmctldHost=localhost({host})
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
# bind to the address localhost resolves to (127.0.0.1), not to every address
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
NodeName=localhost NodeAddr={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Slurm:
    """A single-node SLURM cluster (munged, slurmctld, slurmd) on 127.0.0.1, in a temp folder."""

    folder: Path
    procs: list[subprocess.Popen]

    @property
    def env(self) -> dict[str, str]:
        """What sbatch, squeue and scancel need to find this cluster."""
        return {"SLURM_CONF": str(self.folder / "slurm.conf")}

    def run(self, *args: str) -> str:
        return subprocess.run(
            args, env=os.environ | self.env, capture_output=True, text=True, check=True
        ).stdout

    def idle(self) -> bool:
        """Whether the node is up and free (slurmd registered with slurmctld)."""
        try:
            return self.run("sinfo", "-h", "-o", "%t").strip() == "idle"
        except subprocess.CalledProcessError:
            return False

    def stop(self) -> None:
        try:
            for job in self.run("squeue", "-h", "-o", "%i").split():
                self.run("scancel", job)
        except (OSError, subprocess.CalledProcessError):
            pass
        for proc in reversed(self.procs):
            stop(proc)


def slurm_missing() -> str | None:
    """Why a SLURM cluster cannot run here, or None."""
    sbin = ("/usr/sbin", "/sbin")
    missing = [p for p in ("munged", "slurmctld", "slurmd", "sbatch") if not program(p, *sbin)]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurmctld slurmd munge)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs"
    return None


@pytest.fixture
def slurm_cluster(tmp_path_factory) -> Iterator[Slurm]:
    """munged + slurmctld + slurmd, one node `localhost` with this machine's cores."""
    reason = slurm_missing()
    if reason:
        pytest.skip(reason)
    sbin = ("/usr/sbin", "/sbin")
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    ports = {"ctld_port": free_port(), "d_port": free_port()}
    conf = SLURM_CONF.format(host=HOST, folder=folder, cpus=os.cpu_count(), **ports)
    (folder / "slurm.conf").write_text(conf)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    cluster = Slurm(folder, [])
    log = folder / "daemons.log"
    env = os.environ | cluster.env
    # --force: munged refuses a socket in a folder other users cannot enter (pytest's are 0700);
    # only root's jobs talk to this one
    munged = [program("munged", *sbin), "--foreground", "--force", f"--key-file={key}"]
    munged += [f"--socket={folder}/munge.socket", f"--pid-file={folder}/munged.pid"]
    munged += [f"--seed-file={folder}/munged.seed", f"--log-file={folder}/munged.log"]
    try:
        cluster.procs.append(start(munged, log))
        wait_until(lambda: (folder / "munge.socket").exists(), "munged", cluster.procs[-1], log)
        ctld = [program("slurmctld", *sbin), "-D", "-i", "-f", str(folder / "slurm.conf")]
        cluster.procs.append(start(ctld, log, env=env))
        wait_until(lambda: listening(ports["ctld_port"]), "slurmctld", cluster.procs[-1], log)
        node = [program("slurmd", *sbin), "-D", "-N", "localhost"]
        cluster.procs.append(start([*node, "-f", str(folder / "slurm.conf")], log, env=env))
        wait_until(cluster.idle, "slurmd", cluster.procs[-1], log)
        yield cluster
    finally:
        cluster.stop()
