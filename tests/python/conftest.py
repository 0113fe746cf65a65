"""Shared fixtures: a switchyard-sim process for the whole session, plus a per-test control
handle that resets faults and counters around each test.

The binary comes from $SWITCHYARD_SIM_BIN, default <repo>/target/debug/switchyard-sim
(build it with `cargo build -p switchyard-sim`)."""

import json
import os
import pathlib
import subprocess
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _sim_bin() -> str:
    path = os.environ.get("SWITCHYARD_SIM_BIN", str(REPO / "target" / "debug" / "switchyard-sim"))
    if not os.path.exists(path):
        pytest.exit(f"switchyard-sim binary not found at {path}: run `cargo build -p switchyard-sim` "
                    "or set SWITCHYARD_SIM_BIN", returncode=2)
    return path


@pytest.fixture(scope="session")
def sim_url():
    """Base URL (http://127.0.0.1:PORT, no /v1) of a simulator with the built-in models."""
    proc = subprocess.Popen([_sim_bin(), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        prefix = "switchyard-sim listening on "
        if not line.startswith(prefix):
            err = proc.stderr.read() if proc.poll() is not None else ""
            raise RuntimeError(f"unexpected first line from switchyard-sim: {line!r} {err}")
        yield line[len(prefix):]
    finally:
        proc.kill()
        proc.wait(timeout=10)


class SimControl:
    """The simulator's control API (SPEC section 5)."""

    def __init__(self, url: str):
        self.url = url

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def fault(self, kind: str, model: str = "*", rate: float = 1.0, **extra):
        return self._call("POST", "/sim/faults", {"model": model, "kind": kind, "rate": rate, **extra})

    def clear_faults(self):
        return self._call("DELETE", "/sim/faults")

    def reset(self):
        return self._call("POST", "/sim/reset")

    def stats(self):
        return self._call("GET", "/sim/stats")


@pytest.fixture
def sim(sim_url):
    """Control handle; faults and counters are reset before and after the test."""
    ctl = SimControl(sim_url)
    ctl.reset()
    yield ctl
    ctl.reset()


def _gateway_bin() -> str:
    path = os.environ.get("SWITCHYARD_BIN", str(REPO / "target" / "debug" / "switchyard"))
    if not os.path.exists(path):
        pytest.exit(f"switchyard binary not found at {path}: run `cargo build --bin switchyard` "
                    "or set SWITCHYARD_BIN", returncode=2)
    return path


@pytest.fixture(scope="session")
def gateway_url(sim_url, tmp_path_factory):
    """Base URL (http://127.0.0.1:PORT/v1) of `switchyard serve` on the demo config, with
    every provider pointed at the session's simulator."""
    cfg_dir = tmp_path_factory.mktemp("gateway")
    sim_addr = sim_url.removeprefix("http://")
    text = (REPO / "config" / "demo.toml").read_text().replace("127.0.0.1:4001", sim_addr)
    cfg = cfg_dir / "switchyard.toml"
    cfg.write_text(text)
    proc = subprocess.Popen([_gateway_bin(), "serve", "--config", str(cfg), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        prefix = "switchyard listening on "
        if not line.startswith(prefix):
            err = proc.stderr.read() if proc.poll() is not None else ""
            raise RuntimeError(f"unexpected first line from switchyard: {line!r} {err}")
        yield line[len(prefix):] + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
