"""The local cloud as a user runs it (`python -m local`, its own process), for benchmarks and for
tests that need a cloud with other template parameters than the session's."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import psutil

from local.cloud import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]

STACK = "catalog"


class PeakRss:
    """Samples the memory of a process and its children: the summed RSS every 100 ms (`peak`, which
    counts shared memory, such as PostgreSQL's shared buffers, once per process) and the summed
    PSS every 500 ms (`peak_pss`, shared pages divided among the processes that map them: the
    machine's real cost)."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = self.peak_pss = 0
        self.phase_pss = 0      # the peak PSS since the last phase_done()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        tick = 0
        while not self._stop.is_set():
            try:
                processes = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in processes))
                if tick % 5 == 0:   # PSS reads every mapping of every process: every 0.5 s only
                    pss = sum(p.memory_full_info().pss for p in processes)
                    self.peak_pss, self.phase_pss = max(self.peak_pss, pss), max(self.phase_pss, pss)
            except psutil.Error:
                pass
            tick += 1
            self._stop.wait(0.1)

    def phase_done(self) -> int:
        """The peak PSS since the previous call (or the start), in bytes; starts the next phase."""
        peak, self.phase_pss = self.phase_pss, 0
        return peak

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class CloudProcess:
    """`python -m local` in its own process, as a user runs it; talked to over HTTP only."""

    def __init__(self, data_dir: Path, parameters: dict, environment: dict[str, str] | None = None):
        """`environment`: variables added to the process's, e.g. LOCAL_FAULTS (local/faults.py)."""
        self.api_port, self.aws_port, self.dynamodb_port = free_port(), free_port(), free_port()
        self.rds_data_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        args = [sys.executable, "-m", "local", "--api-port", str(self.api_port), "--aws-port", str(self.aws_port),
                "--dynamodb-port", str(self.dynamodb_port), "--rds-data-port", str(self.rds_data_port),
                "--data-dir", str(data_dir)]
        for name, value in parameters.items():
            args += ["--parameter", f"{name}={value}"]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env={**os.environ, **(environment or {})})
        wait_for_port(self.api_port, timeout=120, process=self.process)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)

    def kill(self):
        """SIGKILL, as a crash or a power cut ends it: no clean shutdown (dynalite and PostgreSQL,
        its children, are ended by the kernel when it dies; this waits until they have)."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.kill()
        self.process.wait(timeout=60)
        _, alive = psutil.wait_procs(children, timeout=60)
        assert not alive, f"children of the killed local cloud still running: {alive}"

    def client(self, service: str):
        port = {"dynamodb": self.dynamodb_port, "rds-data": self.rds_data_port}.get(service, self.aws_port)
        return boto3.session.Session().client(service, endpoint_url=f"http://127.0.0.1:{port}",
                                              region_name="us-east-1", aws_access_key_id="local",
                                              aws_secret_access_key="local")

    @staticmethod
    def name(logical_id: str) -> str:
        """The name the local cloud gives a table or queue of the template: `catalog-<LogicalId>`."""
        return f"{STACK}-{logical_id}"

    def queue_url(self, logical_id: str) -> str:
        return self.client("sqs").get_queue_url(QueueName=self.name(logical_id))["QueueUrl"]
