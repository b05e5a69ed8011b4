"""A one-node SLURM cluster on this machine (Debian's packages), for the test that submits real jobs.

Everything lives in one folder: munge's key and socket, the configuration, spool and state folders,
logs, and with accounting a MariaDB data folder served on a free local port to `slurmdbd`. The
daemons run in the foreground as children of this process (`-D`, `--foreground`), so stopping them
is killing known process ids; nothing is installed as a service and nothing outlives `stop()`.

The node declares more than the machine has (8 CPUs, 64 GB: `SlurmdParameters=config_overrides`)
so the project's SLURM profile runs unchanged (it asks 4 CPUs and up to 32 GB per job), and one
GPU whose device file is /dev/null, so `--gpus=1` / `--gres=gpu:1` requests can be scheduled.
Two partitions, `cpu` and `gpu`, share the node: the names the profile uses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: what `make cluster-packages` installs (config/apt-packages-cluster.txt)
BINARIES = ("munged", "slurmctld", "slurmd", "slurmdbd", "mariadbd", "mariadb-install-db", "sbatch", "sacct",
            "squeue", "scancel", "scontrol", "srun", "sinfo")  # fmt: skip
NODE = "localhost"
#: where `srun` looks when SLURM_CONF is unset: Snakemake's job step drops SLURM_CONF before its nested
#: `srun`, so the cluster's file must be found here (a link, removed again by `stop()`)
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
CPUS, MEMORY_MB = 8, 65536


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]


def system_conf_in_use() -> bool:
    """True where /etc/slurm/slurm.conf is there (a real cluster's, or a running test cluster's link);
    a dangling link, left by a killed run, is not in use."""
    return SYSTEM_CONF.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check, what: str, timeout: float = 60.0, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll `check()` until it returns a true value; fail naming `what` (with the log's tail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{what} did not come up\n{tail}")


@dataclass
class LocalCluster:
    """Start with `start()` (or `with`); `env` is the environment SLURM clients need (SLURM_CONF)."""

    root: Path
    accounting: bool = True
    min_job_age_s: int = 300
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    linked: bool = False

    # ------------------------------------------------------------------ paths
    @property
    def conf(self) -> Path:
        return self.root / "etc/slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": f"/usr/sbin:{os.environ['PATH']}"}

    def _log(self, name: str) -> Path:
        return self.root / "log" / f"{name}.log"

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            for d in ("etc", "log", "run", "munge", "ctld", "slurmd", "db"):
                (self.root / d).mkdir(parents=True, exist_ok=True)
            ports = {"ctld": _free_port(), "slurmd": _free_port(), "dbd": _free_port(), "mysql": _free_port()}
            self._start_munge()
            if self.accounting:
                self._start_mariadb(ports["mysql"])
                self._write_dbd_conf(ports["dbd"], ports["mysql"])
                self._spawn("slurmdbd", ["slurmdbd", "-D"])  # reads slurmdbd.conf beside $SLURM_CONF
                _wait(lambda: self._port_open(ports["dbd"]), "slurmdbd", proc=self.procs["slurmdbd"],
                      log=self._log("slurmdbd"))  # fmt: skip
            self._write_slurm_conf(ports)
            if system_conf_in_use():
                raise RuntimeError(f"{SYSTEM_CONF} exists: this machine has a SLURM configuration of its own")
            SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
            SYSTEM_CONF.unlink(missing_ok=True)  # a dangling link of an earlier, killed run
            SYSTEM_CONF.symlink_to(self.conf)
            self.linked = True
            self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            _wait(lambda: self._port_open(ports["ctld"]), "slurmctld", proc=self.procs["slurmctld"],
                  log=self._log("slurmctld"))  # fmt: skip
            self._spawn("slurmd", ["slurmd", "-D", "-N", NODE, "-f", str(self.conf)])
            _wait(self._node_idle, "the node (idle)", timeout=90, proc=self.procs["slurmd"], log=self._log("slurmd"))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel every job, then stop the daemons (TERM, then KILL), last started first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.run("scancel", "--full", "--user", str(os.getuid()), check=False)
                _wait(lambda: not self.run("squeue", "-h", check=False).strip(), "an empty queue", timeout=30)
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self._kill_strays()
        if self.linked and SYSTEM_CONF.is_symlink() and SYSTEM_CONF.readlink() == self.conf:
            SYSTEM_CONF.unlink()
            self.linked = False

    def alive(self) -> list[int]:
        """Process ids of daemons (or job steps) of this cluster still running."""
        pids = [p.pid for p in self.procs.values() if p.poll() is None]
        return pids + self._strays()

    # ------------------------------------------------------------------ clients
    def run(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        out = subprocess.run(list(args), capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: rc {out.returncode}: {out.stderr.strip()}")
        return out.stdout

    def jobs(self) -> list[dict[str, str]]:
        """Every job the accounting database holds (sacct), one dict per job allocation."""
        fields = ("JobIDRaw", "JobName", "State", "Partition", "ReqTRES", "AllocTRES", "Comment")
        out = self.run("sacct", "-a", "-X", "-n", "-P", "--starttime", "2000-01-01", "--format", ",".join(fields))
        return [dict(zip(fields, line.split("|"), strict=False)) for line in out.splitlines() if line.strip()]

    # ------------------------------------------------------------------ daemons
    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = self._log(name).open("ab")
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, cwd=self.root
        )
        log.close()

    def _start_munge(self) -> None:
        key = self.root / "munge/munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        (self.root / "munge").chmod(0o700)
        m = self.root / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={m}/munge.socket",
                               f"--key-file={key}", f"--pid-file={m}/munged.pid", f"--log-file={self._log('munged')}",
                               f"--seed-file={m}/munged.seed"])  # fmt: skip
        _wait(lambda: (m / "munge.socket").exists(), "munged", proc=self.procs["munged"], log=self._log("munged"))

    def _start_mariadb(self, port: int) -> None:
        data = self.root / "db"
        out = subprocess.run(
            ["mariadb-install-db", f"--datadir={data}", "--user=root", "--auth-root-authentication-method=normal",
             "--skip-test-db"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {out.stderr[-2000:]}")
        self._spawn("mariadbd", ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={data}/mysqld.sock",
                                 f"--pid-file={data}/mysqld.pid", f"--port={port}", "--bind-address=127.0.0.1",
                                 "--user=root", "--skip-log-bin", "--innodb-buffer-pool-size=64M"])  # fmt: skip
        _wait(lambda: self._port_open(port), "MariaDB", proc=self.procs["mariadbd"], log=self._log("mariadbd"))

    @staticmethod
    def _port_open(port: int) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False)
        return any(line.split()[1:] == ["idle"] for line in out.splitlines() if line.strip())

    # ------------------------------------------------------------------ configuration
    def _auth(self) -> str:
        return f"AuthType=auth/munge\nAuthInfo=socket={self.root / 'munge/munge.socket'}\n"

    def _write_dbd_conf(self, dbd_port: int, mysql_port: int) -> None:
        path = self.root / "etc/slurmdbd.conf"
        path.write_text(
            self._auth() + f"DbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={dbd_port}\nSlurmUser=root\n"
            f"LogFile={self._log('slurmdbd-daemon')}\nPidFile={self.root / 'run/slurmdbd.pid'}\n"
            f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort={mysql_port}\n"
            "StorageUser=root\nStorageLoc=slurm_acct_db\n"
        )
        path.chmod(0o600)

    def _write_slurm_conf(self, ports: dict[str, int]) -> None:
        r = self.root
        accounting = (
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
            f"AccountingStoragePort={ports['dbd']}\nAccountingStorageTRES=gres/gpu\n"
            f"AccountingStoragePass={self.root / 'munge/munge.socket'}\n"
            if self.accounting
            else "AccountingStorageType=accounting_storage/none\n"
        )
        self.conf.write_text(
            "ClusterName=lumabench\n"
            f"SlurmctldHost={NODE}(127.0.0.1)\nSlurmctldPort={ports['ctld']}\nSlurmdPort={ports['slurmd']}\n"
            "SlurmUser=root\nSlurmdUser=root\n" + self._auth() + "CredType=cred/munge\n"
            f"StateSaveLocation={r / 'ctld'}\nSlurmdSpoolDir={r / 'slurmd'}\n"
            f"SlurmctldPidFile={r / 'run/slurmctld.pid'}\nSlurmdPidFile={r / 'run/slurmd.pid'}\n"
            f"SlurmctldLogFile={self._log('slurmctld-daemon')}\nSlurmdLogFile={self._log('slurmd-daemon')}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\nMailProg=/bin/true\n"
            "SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n"
            "SchedulerParameters=sched_interval=2\n"
            "ReturnToService=2\nSlurmdParameters=config_overrides\n"
            f"MinJobAge={self.min_job_age_s}\nJobAcctGatherType=jobacct_gather/none\nJobCompType=jobcomp/none\n"
            "GresTypes=gpu\nAccountingStoreFlags=job_comment\n"
            + accounting
            + f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={CPUS} RealMemory={MEMORY_MB} Gres=gpu:1 State=UNKNOWN\n"
            f"PartitionName=cpu Nodes={NODE} Default=YES MaxTime=INFINITE State=UP\n"
            f"PartitionName=gpu Nodes={NODE} MaxTime=INFINITE State=UP\n"
        )
        (r / "etc/gres.conf").write_text(f"NodeName={NODE} Name=gpu File=/dev/null\n")
        # slurmd loads a cgroup plugin even with proctrack/linuxproc; on a cgroup v2 host without systemd
        # (a container) it must not ask systemd for a scope
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        (r / "etc/cgroup.conf").write_text(
            "CgroupPlugin=cgroup/v2\nIgnoreSystemd=yes\n" if v2 else "CgroupPlugin=cgroup/v1\n"
        )

    # ------------------------------------------------------------------ leftovers
    def _strays(self) -> list[int]:
        """slurmstepd processes of this cluster (a job step outliving slurmd): they inherit slurmd's
        environment, whose SLURM_CONF is this cluster's file."""
        mark = f"SLURM_CONF={self.conf}".encode()
        out = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if b"slurmstepd" in (proc / "cmdline").read_bytes() and mark in (proc / "environ").read_bytes():
                    out.append(int(proc.name))
        return out

    def _kill_strays(self) -> None:
        for pid in self._strays():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
