"""Shared by the client tests: a real `suture serve` per test (free loopback
ports, its own temporary store), and small helpers to read what landed.

The binary is $SUTURE_BIN, else the debug build in $CARGO_TARGET_DIR (or
./target): run.sh builds it first. Nothing here imitates an SDK: the tests
run the real clients as separate processes against this server.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_MODULES = HERE / "node_modules"
BUILD = HERE / "build"


def suture_bin() -> Path:
    if os.environ.get("SUTURE_BIN"):
        return Path(os.environ["SUTURE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "suture"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.load(reply)


class Suture:
    """One running `suture serve` and what the tests ask of it."""

    def __init__(self, tmp: Path):
        binary = suture_bin()
        if not binary.exists():
            pytest.fail(f"no suture binary at {binary}: run tests/clients/run.sh (it builds it) or set SUTURE_BIN")
        self.http_port = free_port()
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.env = dict(
            os.environ,
            SUTURE_SERVER__HTTP_ADDR=f"127.0.0.1:{self.http_port}",
            SUTURE_SERVER__UDP_ADDR=f"127.0.0.1:{self.udp_port}",
            SUTURE_STORE__PATH=str(tmp / "data"),
            RUST_LOG=os.environ.get("RUST_LOG", "info"),
        )
        self.binary = binary
        self.log_path = tmp / "suture.log"
        self.log = open(self.log_path, "wb")
        # The repo's config.toml: its default project and key are what a new user gets.
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(REPO / "config.toml")],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"suture exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"suture did not answer /healthz in 20 s:\n{self.log_text()}")
                time.sleep(0.05)

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def dsn(self, project: int = 1) -> str:
        """The DSN from `suture dsn`, pointed at this server's port.

        The key comes from the CLI, as a user would copy it; the host is
        rebuilt because the test server listens on a free port."""
        out = subprocess.run(
            [str(self.binary), "dsn", "--project", str(project), "--config", str(REPO / "config.toml")],
            env=self.env, capture_output=True, text=True, timeout=30,
        )
        if out.returncode != 0:
            pytest.fail(f"`suture dsn` failed ({out.returncode}): {out.stderr.strip()}")
        dsn = urllib.parse.urlsplit(out.stdout.strip().split()[-1])
        if not dsn.username or not dsn.path.strip("/"):
            pytest.fail(f"`suture dsn` printed no DSN with a key and a project: {out.stdout!r}")
        return f"http://{dsn.username}@127.0.0.1:{self.http_port}/{dsn.path.strip('/')}"

    def signatures(self) -> list:
        return get_json(self.base + "/v1/signatures")["signatures"]

    def signature(self, sig_id: str) -> dict:
        return get_json(self.base + f"/v1/signatures/{sig_id}")

    def by_title(self) -> dict:
        """{title: signature} (fails if two signatures share a title)."""
        sigs = self.signatures()
        titles = {s["title"]: s for s in sigs}
        assert len(titles) == len(sigs), f"two signatures share a title: {sigs}"
        return titles

    def counts(self) -> dict:
        return {s["title"]: s["count"] for s in self.signatures()}

    def wait_for_total(self, total: int, timeout: float = 20.0, settle: float = 0.5) -> dict:
        """Waits until `total` events have landed (for clients that do not wait
        for the reply: UDP, beacons), then a little longer so that an extra
        event would show. Returns {title: count}."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts()
            if sum(counts.values()) >= total or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(settle)
        return self.counts()


@pytest.fixture
def suture(tmp_path):
    server = Suture(tmp_path)
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # On a failure, show the server's log: it says what it refused and why.
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("suture") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(server, Suture):
        report.sections.append(("suture log (tail)", server.log_text()))


def run(cmd, timeout=60, **kwargs):
    """Runs a client process; its output goes into the failure message."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    return out


def need_node_modules():
    if not (NODE_MODULES / "@sentry").is_dir():
        pytest.fail("tests/clients/node_modules is missing: run tests/clients/run.sh (npm ci)")
    if not Path("/usr/bin/chromium").exists() and "CHROMIUM" not in os.environ:
        pytest.fail("no /usr/bin/chromium: apt-get install -y chromium (or set CHROMIUM)")
