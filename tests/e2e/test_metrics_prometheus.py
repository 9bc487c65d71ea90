# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus server (Debian's `prometheus`) scrapes the real
tt-alloc-server on loopback every second while clients allocate; its HTTP API
must return exactly the bytes the clients hold. Also: the shipped
contrib/prometheus/prometheus.yml passes `promtool check config`."""
import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, wait_for
import wire
from metrics_util import free_port, metrics_server

MIB = 1 << 20
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Prometheus:
    def __init__(self, tmp_path, target_port):
        self.port = free_port()
        self.dir = tmp_path / "prometheus"
        self.dir.mkdir()
        config = self.dir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: tt-alloc\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.log_path = self.dir / "prometheus.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.dir}/data",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.ready, timeout=120, interval=0.2, what="Prometheus to be ready")

    def ready(self):
        assert self.proc.poll() is None, f"prometheus exited:\n{self.log_path.read_text()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, expr):
        """The instant vector of expr as {frozenset(labels): float}."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?" +
               urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10) as r:
            reply = json.load(r)
        assert reply["status"] == "success", reply
        return {frozenset(s["metric"].items()): float(s["value"][1])
                for s in reply["data"]["result"]}

    def scalar(self, expr):
        """The single value of expr, or None when it has no sample."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return next(iter(result.values())) if result else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


@pytest.fixture
def stack(tmp_path):
    mport = free_port()
    srv = metrics_server(tmp_path, mport)
    prom = Prometheus(tmp_path, mport)
    yield srv, prom
    prom.stop()
    assert srv.proc.poll() is None, f"server died:\n{srv.log()}"
    srv.stop()


def test_prometheus_sees_exactly_what_clients_hold(stack):
    srv, prom = stack
    a = wire.ChildProducer(srv.socket, "a")
    b = wire.ChildProducer(srv.socket, "b")
    try:
        assert a.allocs([(0, wire.DRAM, 0x1000, 3 * MIB + 5), (0, wire.L1, 0x10, 4096),
                         (1, wire.DRAM, 0x1000, 7 * MIB)]) == "ok"
        assert b.allocs([(0, wire.DRAM, 0x9000, 2 * MIB), (1, wire.CB, 0x20, 777)]) == "ok"

        wait_for(lambda: prom.scalar('up{job="tt-alloc"}') == 1, timeout=60, interval=0.2,
                 what="Prometheus to scrape tt-alloc")
        wait_for(lambda: prom.scalar('ttalloc_device_memory_used_bytes{device="0",type="dram"}')
                 == 5 * MIB + 5, timeout=60, interval=0.2, what="device 0 DRAM in Prometheus")
        assert prom.scalar('ttalloc_device_memory_used_bytes{device="1",type="dram"}') == 7 * MIB
        assert prom.scalar('ttalloc_device_memory_used_bytes{device="1",type="cb"}') == 777
        wait_for(lambda: prom.scalar(f'sum(ttalloc_process_memory_used_bytes{{pid="{a.pid}"}})')
                 == 10 * MIB + 5 + 4096, timeout=60, interval=0.2, what="process a's bytes")
        assert prom.scalar(f'sum(ttalloc_process_memory_used_bytes{{pid="{b.pid}"}})') == \
            2 * MIB + 777
        per_process = prom.query('sum by (pid, comm) (ttalloc_process_memory_used_bytes)')
        assert per_process == {
            frozenset({"pid": str(a.pid), "comm": "python3"}.items()): 10 * MIB + 5 + 4096,
            frozenset({"pid": str(b.pid), "comm": "python3"}.items()): 2 * MIB + 777,
        }

        # a frees, b dies holding its buffers: Prometheus follows
        assert a.events([(wire.OP_FREE, 0, wire.DRAM, 0x1000, 0)]) == "ok"
        b.kill()
        wait_for(lambda: prom.scalar('ttalloc_device_memory_used_bytes{device="0",type="dram"}')
                 == 0, timeout=60, interval=0.2, what="device 0 DRAM back to 0")
        wait_for(lambda: prom.scalar('ttalloc_process_exits_total{leaked="true"}') == 1,
                 timeout=60, interval=0.2, what="the leaked exit in Prometheus")
        assert prom.scalar('ttalloc_device_memory_peak_bytes{device="0",type="dram"}') == \
            5 * MIB + 5
        assert prom.scalar('max_over_time(ttalloc_device_memory_used_bytes{device="1",'
                           'type="cb"}[5m])') == 777
        wait_for(lambda: prom.scalar(f'sum(ttalloc_process_memory_used_bytes{{pid="{b.pid}"}})')
                 is None, timeout=60, interval=0.2, what="process b's series to go stale")
    finally:
        a.close()
        b.kill()


def test_shipped_prometheus_config_is_valid(tmp_path):
    config = ROOT / "contrib" / "prometheus" / "prometheus.yml"
    # the file_sd target list it names must exist for promtool; use the shipped example
    work = tmp_path / "cfg"
    shutil.copytree(ROOT / "contrib" / "prometheus", work)
    r = subprocess.run([PROMTOOL, "check", "config", str(work / config.name)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([PROMTOOL, "check", "rules", str(work / "tt-alloc-rules.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_grafana_dashboard_queries_name_real_metrics():
    """Every metric a dashboard panel queries is one the server exports."""
    dash = json.loads((ROOT / "contrib" / "grafana" / "tt-alloc.json").read_text())
    exported = set()
    src = (ROOT / "src" / "server" / "metrics.c").read_text()
    import re
    exported = set(re.findall(r'metrics_family\(b, "(ttalloc_[a-z_]+)"', src))
    assert "ttalloc_process_memory_used_bytes" in exported
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            if "expr" in node:
                exprs.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(dash)
    assert len(exprs) >= 6
    for expr in exprs:
        names = set(re.findall(r"\b(ttalloc_[a-z_]+)", expr))
        assert names, expr
        assert names <= exported, (expr, names - exported)
