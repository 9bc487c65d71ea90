# SPDX-License-Identifier: Apache-2.0
"""tt-smi for scripts and for users of nvidia-smi and Tenstorrent's tt-smi:
NDJSON in watch mode, CSV header once with timestamps and RFC 4180 quoting,
nvidia-smi's spellings, labels, derived figures, error messages and codes."""
import csv
import io
import json
import os
import re
import subprocess

from conftest import SANITIZER_ENV, binary, wait_for
from test_smi_server import Client, make_root

NVSMI_TIME = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


def run_smi(root, *args, env=None, socket=None, timeout=60):
    cmd = [binary("src/smi/tt-smi"), "--sysroot", str(root)]
    if socket is not None:
        cmd += ["--socket", socket]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env=env or dict(os.environ, **SANITIZER_ENV))


def read_lines(root, n, *args, env, socket):
    """Start tt-smi in a loop, read n lines of its stdout, stop it."""
    proc = subprocess.Popen([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                             socket, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(n)]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return lines


def test_watch_json_is_ndjson(server, tmp_path):
    root = make_root(tmp_path, "n150")
    lines = read_lines(root, 3, "-w", "-r", "50", "--json", env=server.client_env(),
                       socket=server.socket)
    stamps = []
    for line in lines:
        assert line.endswith("\n") and line.count("\n") == 1
        doc = json.loads(line)
        assert doc["schema_version"] == 1 and doc["tracking"]["server"] is True
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["timestamp"])
        stamps.append(doc["timestamp"])
    # -l SEC as well (1 s: two lines are a second apart)
    lines = read_lines(root, 2, "-l", "1", "--json", env=server.client_env(),
                       socket=server.socket)
    first, second = (json.loads(x) for x in lines)
    assert first["timestamp"] < second["timestamp"]


def test_csv_loop_header_once_timestamp_and_quoting(server, tmp_path):
    root = make_root(tmp_path, "n150")
    c = Client(server)
    try:
        assert c.cmd('label a,b"q"') == "ok"
        assert c.cmd("alloc 0 dram 0x1000 1048576") == "ok"
        assert c.cmd("flush") == "flush 0"
        pid = int(c.cmd("print-pid").split()[1])
        # The label goes out with the next connection: wait until the server has it.
        wait_for(lambda: any(p.get("label") == 'a,b"q"' for p in json.loads(
            run_smi(root, "--json", env=server.client_env(), socket=server.socket).stdout)
            ["processes"]), what="the label at the server")
        lines = read_lines(root, 4, "-l", "1", "--query-compute-apps=timestamp,pid,label,"
                           "used_memory", "--format=csv", env=server.client_env(),
                           socket=server.socket)
        assert lines[0] == "timestamp, pid, label, used_memory [MiB]\n"
        rows = list(csv.reader(io.StringIO("".join(lines[1:])), skipinitialspace=True))
        assert len(rows) == 3, lines      # the header is not repeated
        for row in rows:
            assert NVSMI_TIME.match(row[0]), row
            assert row[1:] == [str(pid), 'a,b"q"', "1 MiB"]
        assert rows[0][0] < rows[2][0]
        # the quoting itself, byte for byte (RFC 4180: quotes doubled)
        assert lines[1].rstrip("\n").endswith(f', {pid}, "a,b""q""", 1 MiB')
        gpu = read_lines(root, 3, "-l", "1", "--query-gpu=timestamp,index,memory.used",
                         "--format=csv,noheader", env=server.client_env(),
                         socket=server.socket)
        for line in gpu:
            stamp, index, used = next(csv.reader([line], skipinitialspace=True))
            assert NVSMI_TIME.match(stamp) and index == "0" and used == "1 MiB"
    finally:
        c.close()


def test_nvidia_spellings_equal_ours(server, tmp_path):
    root = make_root(tmp_path, "n150,p150a")
    env = server.client_env(TTSMI_TEST_TIME="1700000000")
    ours = run_smi(root, "--query-device=index,name,memory.total", "--format=csv", env=env,
                   socket=server.socket)
    theirs = run_smi(root, "--query-gpu=index,name,memory.total", "--format=csv", env=env,
                     socket=server.socket)
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout and ours.stdout.count("\n") == 3
    snap = run_smi(root, "-s", env=env, socket=server.socket)
    js = run_smi(root, "--json", env=env, socket=server.socket)
    assert snap.returncode == 0 and json.loads(snap.stdout) == json.loads(js.stdout)


def test_free_counts_every_part(server, tmp_path):
    """DRAM free leaves out TRACE (it lives in DRAM); L1 free leaves out L1_SMALL and CB."""
    root = make_root(tmp_path, "n150")
    c = Client(server)
    try:
        for line in ("alloc 0 dram 0x1000 1048576", "alloc 0 trace 0x0 3145728",
                     "alloc 0 l1 0x2000 1048576", "alloc 0 l1_small 0x0 1048576",
                     "alloc 0 cb 0x0 2097152", "flush"):
            assert c.cmd(line) in ("ok", "flush 0")
        doc = json.loads(run_smi(root, "--json", env=server.client_env(),
                                 socket=server.socket).stdout)
        mem = doc["devices"][0]["memory"]
        dram_free = mem["dram"]["total_bytes"] - mem["dram"]["used_bytes"] - \
            mem["trace"]["used_bytes"]
        l1_free = mem["l1"]["total_bytes"] - mem["l1"]["used_bytes"] - \
            mem["l1_small"]["used_bytes"] - mem["cb"]["used_bytes"]
        q = run_smi(root, "-q", env=server.client_env(), socket=server.socket).stdout
        dram = q[q.index("        DRAM\n"):]
        assert f"Free              : {dram_free >> 20} MiB ({dram_free} B)" in dram
        l1 = q[q.index("        L1\n"):]
        assert f"Free              : {l1_free >> 20} MiB ({l1_free} B)" in l1
        r = run_smi(root, "--query-gpu=memory.free,l1.free", "--format=csv,noheader,nounits",
                    env=server.client_env(), socket=server.socket)
        assert r.stdout == f"{dram_free >> 20}, {l1_free >> 20}\n"
    finally:
        c.close()


def test_labels_in_json_and_csv(server, tmp_path):
    root = make_root(tmp_path, "n150")
    a, b = Client(server), Client(server)
    try:
        assert a.cmd("label llama-70b") == "ok"
        for c in (a, b):
            assert c.cmd("alloc 0 dram 0x1000 4096") == "ok"
            assert c.cmd("flush") == "flush 0"
        pid_a = int(a.cmd("print-pid").split()[1])
        pid_b = int(b.cmd("print-pid").split()[1])

        def labels():
            doc = json.loads(run_smi(root, "--json", env=server.client_env(),
                                     socket=server.socket).stdout)
            return {p["pid"]: p["label"] for p in doc["processes"]}
        got = wait_for(lambda: (lambda l: l if l.get(pid_a) == "llama-70b" else None)(labels()),
                       what="the label")
        assert got[pid_b] is None
        r = run_smi(root, "--query-apps=pid,label", "--format=csv,noheader",
                    env=server.client_env(), socket=server.socket)
        assert f"{pid_a}, llama-70b\n" in r.stdout and f"{pid_b}, [N/A]\n" in r.stdout
    finally:
        a.close()
        b.close()


def test_errors_say_error_and_exit_codes(tmp_path):
    root = make_root(tmp_path, "n150")
    env = dict(os.environ, **SANITIZER_ENV, TT_ALLOC_SOCKET=str(tmp_path / "none.sock"))
    cases = [
        (["--bogus"], 2, "unknown option"),
        (["--query-gpu=nonsense", "--format=csv"], 2, "unknown field"),
        (["-i", "7"], 6, "no device '7'"),
        (["-r", "500"], 2, "does not reset a device"),
        (["-l", "0"], 2, "positive number"),
    ]
    for args, code, text in cases:
        r = run_smi(root, *args, env=env)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("tt-smi: error: ") and text in r.stderr, r.stderr
        assert r.stdout == ""
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_smi(empty, env=env)
    assert r.returncode == 9 and r.stderr.startswith("tt-smi: error: no Tenstorrent")
    # -r with -w is the refresh period, as documented
    proc = subprocess.Popen([binary("src/smi/tt-smi"), "--sysroot", str(root), "-r", "20", "-w",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert json.loads(proc.stdout.readline())["exits"] is None   # no server: unknown
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_label_goes_with_the_first_connection(server, tmp_path):
    """docs/libttalloc.md: the label is in the HELLO; set before
    ttalloc_describe_device and the first record it shows, set after either it
    does not (until a reconnect)."""
    root = make_root(tmp_path, "n150")
    cases = {("label early", "describe 0 board=n150"): "early",
             ("describe 0 board=n150", "label late"): None,
             ("alloc 0 dram 0x0 64", "label late"): None}
    for steps, shown in cases.items():
        c = Client(server)
        try:
            for line in steps + ("alloc 0 dram 0x100 64", "flush"):
                assert c.cmd(line) in ("ok", "flush 0"), line
            pid = int(c.cmd("print-pid").split()[1])
            doc = json.loads(run_smi(root, "--json", env=server.client_env(),
                                     socket=server.socket).stdout)
            [p] = [p for p in doc["processes"] if p["pid"] == pid]
            assert p["label"] == shown, steps
        finally:
            c.close()


def test_output_to_a_full_disk_and_a_closed_pipe(tmp_path):
    """tt-smi > /dev/full fails with the reason (exit 255) in every mode;
    tt-smi | head (the reader leaving) is no error worth a message."""
    root = make_root(tmp_path, "n150")
    env = dict(os.environ, **SANITIZER_ENV)
    for mode in ([], ["--json"], ["-q"], ["--query-device=index,name", "--format=csv"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), *mode],
                               stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, env=env)
        assert r.returncode == 255, (mode, r.stderr)
        assert "cannot write to standard output: No space left on device" in r.stderr, mode
    r = subprocess.run(f"{binary('src/smi/tt-smi')} --sysroot {root} -l 1 | head -c 1",
                       shell=True, capture_output=True, text=True, timeout=60, env=env)
    assert r.stdout and "error" not in r.stderr, r.stderr
