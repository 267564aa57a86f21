"""A real Prometheus server as a process, for tests and for a look by hand.

`PrometheusServer` runs Debian's `prometheus` binary (installed by `scripts/prometheus ensure`)
on a free loopback port with a temp data directory, scraping the targets it is given under the
job names of `monitoring/prometheus/prometheus.yml` and evaluating `monitoring/prometheus/
rules.yml`. `stop()` (or leaving the `with` block) ends the process group and deletes the data,
so nothing is left running.

    with PrometheusServer(render_config({"tierstream-worker": ["127.0.0.1:6066"]})) as prom:
        prom.wait_for_targets_up(timeout=30)
        prom.query('sum(rate(tierstream_events_consumed_total[1m]))')

By hand: `scripts/prometheus run tierstream-worker=127.0.0.1:6066` (this module's `main`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

__all__ = ["PROMETHEUS_YML", "RULES_YML", "PrometheusError", "PrometheusServer", "render_config"]

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "monitoring" / "prometheus" / "prometheus.yml"
RULES_YML = REPO / "monitoring" / "prometheus" / "rules.yml"
ENSURE = REPO / "scripts" / "prometheus"


class PrometheusError(Exception):
    """Prometheus could not be started, did not answer, or rejected a query."""


def render_config(
    targets: Mapping[str, Sequence[str]],
    *,
    scrape_interval: str = "1s",
    rule_files: Sequence[Path] = (RULES_YML,),
) -> dict[str, Any]:
    """The repo's scrape config with static `targets` per job name instead of service discovery.

    Job names and metrics paths come from monitoring/prometheus/prometheus.yml, so the rules'
    and the dashboard's `job` selectors mean the same here; a job not named there is an error.
    """
    base = yaml.safe_load(PROMETHEUS_YML.read_text())
    known = {job["job_name"]: job for job in base["scrape_configs"]}
    unknown = set(targets) - set(known)
    if unknown:
        raise PrometheusError(
            f"jobs {sorted(unknown)} are not in {PROMETHEUS_YML}: {sorted(known)}"
        )
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": name,
                "metrics_path": known[name].get("metrics_path", "/metrics"),
                "static_configs": [{"targets": list(addresses)}],
            }
            for name, addresses in targets.items()
        ],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """One Prometheus process with its own port and data directory; a context manager."""

    def __init__(self, config: Mapping[str, Any], *, binary: str = "prometheus") -> None:
        self._config = config
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> None:
        """Start it and wait until `/-/ready` answers; retry on a port taken meanwhile."""
        if shutil.which(self._binary) is None:
            subprocess.run([str(ENSURE), "ensure"], check=True, timeout=900)
        self._workdir = Path(tempfile.mkdtemp(prefix="tierstream-prometheus."))
        config_file = self._workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(dict(self._config), sort_keys=False))
        log = self._workdir / "prometheus.log"
        for _attempt in range(3):
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}"
            with log.open("ab") as log_file:
                # Own session: stop() signals the whole group, nothing outlives the test.
                self._process = subprocess.Popen(
                    [
                        self._binary,
                        f"--config.file={config_file}",
                        f"--storage.tsdb.path={self._workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--storage.tsdb.retention.time=1h",
                        "--log.level=warn",
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            if self._wait_ready(timeout):
                return
            address_taken = "address already in use" in log.read_text(errors="replace")
            self._terminate()
            if not address_taken:
                break
        output = log.read_text(errors="replace")[-4000:]
        self.stop()
        raise PrometheusError(f"Prometheus did not become ready in {timeout}s; log:\n{output}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            ready = f"{self.url}/-/ready"
            with contextlib.suppress(OSError), urllib.request.urlopen(ready, timeout=2) as answer:  # noqa: S310 (loopback URL we built)
                if answer.status == 200:
                    return True
            time.sleep(0.2)
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the process (TERM, then KILL after 20 s) and delete its data directory."""
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        """GET `/api/v1/<path>` and return its `data`; an error status raises PrometheusError."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback URL we built)
                body = json.load(answer)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; returns the result samples (a scalar comes back as one sample)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for_targets_up(self, timeout: float) -> list[dict[str, Any]]:
        """Wait until every configured target has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            targets = self.api("targets", state="active")["activeTargets"]
            if targets and all(target["health"] == "up" for target in targets):
                return targets
            time.sleep(0.5)
        raise PrometheusError(f"targets not all up after {timeout}s: {json.dumps(targets)[:2000]}")


def main(argv: Sequence[str] | None = None) -> int:
    """`scripts/prometheus run JOB=HOST:PORT...`: serve until interrupted, then clean up."""
    parser = argparse.ArgumentParser(prog="scripts/prometheus run", description=main.__doc__)
    parser.add_argument("targets", nargs="+", metavar="JOB=HOST:PORT")
    parser.add_argument("--scrape-interval", default="5s")
    args = parser.parse_args(argv)
    jobs: dict[str, list[str]] = {}
    for item in args.targets:
        job, _, address = item.partition("=")
        if not address:
            parser.error(f"{item!r} is not JOB=HOST:PORT")
        jobs.setdefault(job, []).append(address)
    server = PrometheusServer(render_config(jobs, scrape_interval=args.scrape_interval))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.start()
        print(f"Prometheus on {server.url} scraping {jobs}; Ctrl-C stops it", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
