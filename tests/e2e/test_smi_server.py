# SPDX-License-Identifier: Apache-2.0
"""tt-smi with a server and clients with known allocations: exact figures."""
import json
import os
import subprocess

from conftest import SANITIZER_ENV, binary, wait_for


class Client:
    """ttalloc-testclient: one command per line, one answer per line."""

    def __init__(self, server):
        self.proc = subprocess.Popen([binary("tests/tools/ttalloc-testclient")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=server.client_env())

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=20)


def make_root(tmp_path, devices):
    root = tmp_path / "root"
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices",
                        devices], capture_output=True, text=True,
                       env=dict(os.environ, **SANITIZER_ENV))
    assert r.returncode == 0, r.stderr
    return root


def smi(server, root, *args):
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        server.socket, *args], capture_output=True, text=True,
                       env=server.client_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_exact_figures(server, tmp_path):
    root = make_root(tmp_path, "n150,2:p150a")
    a, b = Client(server), Client(server)
    try:
        assert a.cmd("alloc 0 dram 0x1000 1048576") == "ok"
        assert a.cmd("alloc 0 l1 0x2000 4096") == "ok"
        assert a.cmd("alloc 2 trace 0x1000 12345") == "ok"
        assert a.cmd("flush") == "flush 0"
        assert b.cmd("alloc 2 dram 0x1000 3145728") == "ok"
        assert b.cmd("alloc 2 cb 0x9000 777") == "ok"
        assert b.cmd("flush") == "flush 0"
        pid_a = int(a.cmd("print-pid").split()[1])
        pid_b = int(b.cmd("print-pid").split()[1])
        doc = json.loads(smi(server, root, "--json"))
        assert doc["tracking"]["server"] is True
        assert "server" in doc["tracking"]["sources"]
        d0, d2 = doc["devices"]
        assert d0["memory"]["dram"] == {"used_bytes": 1048576, "total_bytes": 12 << 30,
                                        "peak_bytes": 1048576}
        assert d0["memory"]["l1"]["used_bytes"] == 4096
        assert d0["memory"]["trace"] == {"used_bytes": 0, "total_bytes": None, "peak_bytes": 0}
        assert d2["memory"]["dram"]["used_bytes"] == 3145728
        assert d2["memory"]["trace"]["used_bytes"] == 12345
        assert d2["memory"]["cb"]["used_bytes"] == 777
        procs = {p["pid"]: p for p in doc["processes"]}
        assert set(procs) == {pid_a, pid_b}
        pa = procs[pid_a]
        assert pa["tracked"] is True and pa["devices"] == [0, 2]
        assert pa["memory"] == [
            {"device": 0, "dram_bytes": 1048576, "l1_bytes": 4096, "l1_small_bytes": 0,
             "trace_bytes": 0, "cb_bytes": 0, "dram_peak_bytes": 1048576,
             "l1_peak_bytes": 4096, "l1_small_peak_bytes": 0, "trace_peak_bytes": 0,
             "cb_peak_bytes": 0},
            {"device": 2, "dram_bytes": 0, "l1_bytes": 0, "l1_small_bytes": 0,
             "trace_bytes": 12345, "cb_bytes": 0, "dram_peak_bytes": 0, "l1_peak_bytes": 0,
             "l1_small_peak_bytes": 0, "trace_peak_bytes": 12345, "cb_peak_bytes": 0}]
        assert procs[pid_b]["memory"][0]["cb_bytes"] == 777
        csv = smi(server, root, "--query-apps=pid,device,used_memory,used_l1",
                  "--format=csv,noheader,nounits")
        assert sorted(csv.splitlines()) == sorted(
            [f"{pid_a}, 0, 1, 0", f"{pid_a}, 2, 0, 0", f"{pid_b}, 2, 3, 0"])
        csv = smi(server, root, "--query-device=index,memory.used,memory.free",
                  "--format=csv,noheader")
        assert csv.splitlines() == ["0, 1 MiB, 12287 MiB",
                                    f"2, 3 MiB, {(8 * 4278190080 - 3145728 - 12345) >> 20} MiB"]
        table = smi(server, root)
        assert "Memory: unknown" not in table
        assert "1.0M/12.0G" in table
        # a free is seen
        assert a.cmd("free 0 dram 0x1000") == "ok"
        assert a.cmd("flush") == "flush 0"
        doc = json.loads(smi(server, root, "--json", "-i", "0"))
        assert doc["devices"][0]["memory"]["dram"]["used_bytes"] == 0
        assert [p["pid"] for p in doc["processes"]] == [pid_a]
    finally:
        a.close()
        b.close()


def test_described_device_matches_by_serial(server, tmp_path):
    root = make_root(tmp_path, "n150,n150")
    serial1 = (root / "sys/class/tenstorrent/tenstorrent!1/tt_serial").read_text().strip()
    c = Client(server)
    try:
        # TT-Metal device id 0 is, by its serial, tt-kmd ordinal 1, with its own capacity
        assert c.cmd(f"describe 0 serial=0x{serial1} dram=1000000000") == "ok"
        assert c.cmd("alloc 0 dram 0x1000 65536") == "ok"
        assert c.cmd("flush") == "flush 0"
        doc = json.loads(smi(server, root, "--json"))
        d0, d1 = doc["devices"]
        assert d0["memory"]["dram"]["used_bytes"] == 0
        assert d1["memory"]["dram"] == {"used_bytes": 65536, "total_bytes": 1000000000,
                                        "peak_bytes": 65536}
        assert doc["processes"][0]["devices"] == [1]
    finally:
        c.close()


def test_label_names_the_process(server, tmp_path):
    """A label set with ttalloc_set_label leads the Name column and appears in -q."""
    root = make_root(tmp_path, "n150")
    a, b = Client(server), Client(server)
    try:
        assert a.cmd("label llama-70b") == "ok"
        assert a.cmd("alloc 0 dram 0x1000 4096") == "ok"
        assert a.cmd("flush") == "flush 0"
        assert b.cmd("alloc 0 dram 0x2000 4096") == "ok"
        assert b.cmd("flush") == "flush 0"
        pid_a = int(a.cmd("print-pid").split()[1])
        pid_b = int(b.cmd("print-pid").split()[1])
        rows = {int(line.split()[1]): line for line in smi(server, root).splitlines()
                if len(line.split()) > 2 and line.split()[1].isdigit()}
        assert "llama-70b (ttalloc-tes" in rows[pid_a]  # cut to the 22-column Name
        assert "llama-70b" not in rows[pid_b] and "ttalloc-testcli" in rows[pid_b]
        q = smi(server, root, "-q")
        assert "Label" in q and "llama-70b" in q
        doc = json.loads(smi(server, root, "--json"))
        names = {p["pid"]: p["name"] for p in doc["processes"]}
        assert names[pid_a] == "ttalloc-testcli"  # the schema's name stays comm
    finally:
        a.close()
        b.close()


def test_hostile_label_reaches_no_terminal(server, tmp_path):
    """Any user's label is text for other users' terminals and the root
    daemon's log: an ESC or a C1 control in it is shown as '?' by the table,
    -q and CSV, and written as '?' to the log; JSON keeps the label exact
    (escaped), for scripts."""
    root = make_root(tmp_path, "n150")
    label = "\x1b]0;owned\x07\x1b[2J\u009b31m"
    a = Client(server)
    try:
        assert a.cmd("label " + label) == "ok"
        assert a.cmd("alloc 0 dram 0x1000 4096") == "ok"
        assert a.cmd("flush") == "flush 0"
        pid = int(a.cmd("print-pid").split()[1])
        shown = "?]0;owned??[2J?31m"
        outputs = {"table": smi(server, root), "-q": smi(server, root, "-q"),
                   "csv": smi(server, root, "--query-apps=pid,process_name,label",
                              "--format=csv")}
        for what, text in outputs.items():
            assert "\x1b" not in text and "\x07" not in text and "\u009b" not in text, what
        row = [line for line in outputs["table"].splitlines() if f" {pid} " in line]
        assert len(row) == 1 and shown[:22] in row[0], row
        assert f"            Label             : {shown}\n" in outputs["-q"]
        assert shown in outputs["csv"]
        doc = json.loads(smi(server, root, "--json"))
        labels = {p["pid"]: p["label"] for p in doc["processes"]}
        assert labels[pid] == label
        wait_for(lambda: "label " + shown in server.log(), what="the connect line")
        assert "\x1b" not in server.log()
    finally:
        a.close()
