# SPDX-License-Identifier: Apache-2.0
"""The leak history: processes that ended with buffers still live, kept by the
server across its own restart in a state file, shown by tt-smi --json
(`exits`), tt-smi -q and /metrics; bounded by count; a corrupt or hostile
state file is refused with one log line, never a crash."""
import json
import os
import signal
import stat
import subprocess

from conftest import SANITIZER_ENV, Server, binary, wait_for
from metrics_util import free_port, scrape, value, answers
from test_smi_server import Client, make_root

EXIT_KEYS = ["pid", "name", "label", "uid", "time", "device", "dram_bytes", "l1_bytes",
             "l1_small_bytes", "trace_bytes", "cb_bytes", "buffers"]


def smi(srv, root, *args):
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        srv.socket, *args], capture_output=True, text=True,
                       env=srv.client_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def exits(srv, root):
    return json.loads(smi(srv, root, "--json"))["exits"]


def leak_and_die(srv, label=None, lines=("alloc 0 dram 0x1000 8192", "alloc 0 dram 0x3000 4096",
                                         "alloc 0 l1 0x100 64", "alloc 1 trace 0x0 100")):
    """A client that allocates, then is SIGKILLed: returns its pid."""
    c = Client(srv)
    if label:
        assert c.cmd(f"label {label}") == "ok"
    for line in lines:
        assert c.cmd(line) == "ok"
    assert c.cmd("flush") == "flush 0"
    pid = int(c.cmd("print-pid").split()[1])
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(timeout=20)
    return pid


def test_exits_in_json_q_and_metrics_and_across_restart(tmp_path):
    root = make_root(tmp_path, "2:n150")
    port = free_port()
    srv = Server(tmp_path, extra_args=["--metrics", f"127.0.0.1:{port}"]).start()
    try:
        wait_for(lambda: answers(port), what="the metrics endpoint")
        assert exits(srv, root) == []
        pid = leak_and_die(srv, label="run-7")
        got = wait_for(lambda: exits(srv, root) or None, what="the exit record")
        assert [list(e) for e in got] == [EXIT_KEYS, EXIT_KEYS]    # exactly these, in order
        by_dev = {e["device"]: e for e in got}
        e0, e1 = by_dev[0], by_dev[1]
        assert e0["pid"] == pid and e0["label"] == "run-7" and e0["uid"] == os.getuid()
        assert e0["name"] == "ttalloc-testcli"        # comm, 15 characters
        assert (e0["dram_bytes"], e0["l1_bytes"], e0["buffers"]) == (12288, 64, 3)
        assert (e0["l1_small_bytes"], e0["trace_bytes"], e0["cb_bytes"]) == (0, 0, 0)
        assert (e1["trace_bytes"], e1["dram_bytes"], e1["buffers"]) == (100, 0, 1)
        assert e0["time"].endswith("Z") and e0["time"] == e1["time"]
        q = smi(srv, root, "-q")
        history = q[q.index("Leak History"):]
        assert f"Process ID                : {pid}" in history
        assert "Label                 : run-7" in history
        assert "DRAM                  : 0 MiB (12288 B)" in history
        samples = scrape(port)
        assert value(samples, "ttalloc_leaked_bytes_total", uid=os.getuid(), type="dram") == 12288
        assert value(samples, "ttalloc_leaked_bytes_total", uid=os.getuid(), type="trace") == 100
        # the state file: beside the socket, the server's user's, not writable by others
        state = tmp_path / "tt-alloc-exits.state"
        wait_for(lambda: state.exists(), what="the state file")
        st = state.stat()
        assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o600

        # a clean restart keeps the history, and the counter goes on from where it was
        srv.stop()
        srv.start()
        wait_for(lambda: answers(port), what="the metrics endpoint")
        assert exits(srv, root) == got
        assert value(scrape(port), "ttalloc_leaked_bytes_total", uid=os.getuid(),
                     type="dram") == 12288
        # SIGKILL of the server after a leak: the record was saved when it came
        pid2 = leak_and_die(srv, lines=("alloc 0 cb 0x0 640",))
        wait_for(lambda: len(exits(srv, root)) == 3, what="the second leak")
        srv.kill()
        srv.start()
        after = exits(srv, root)
        assert [e["pid"] for e in after] == [pid, pid, pid2]
        assert after[2]["cb_bytes"] == 640 and after[2]["label"] is None
        assert srv.log().count("refused") == 0
    finally:
        srv.stop()


def test_bounded_by_count_and_custom_state_file(tmp_path):
    root = make_root(tmp_path, "n150")
    state = tmp_path / "elsewhere" / "history"
    state.parent.mkdir()
    srv = Server(tmp_path, extra_args=["--state", str(state), "--exits-max", "2"]).start()
    try:
        pids = [leak_and_die(srv, lines=(f"alloc 0 dram 0x{i}000 {i + 1}",)) for i in range(3)]
        wait_for(lambda: [e["pid"] for e in exits(srv, root)] == pids[1:],
                 what="the two newest records")
        srv.stop()
        assert state.exists() and not (tmp_path / "tt-alloc-exits.state").exists()
        srv.start()
        assert [e["dram_bytes"] for e in exits(srv, root)] == [2, 3]
    finally:
        srv.stop()


def test_aged_records_leave(tmp_path):
    root = make_root(tmp_path, "n150")
    srv = Server(tmp_path, extra_args=["--exits-max-age", "1"]).start()
    try:
        leak_and_die(srv, lines=("alloc 0 dram 0x0 1",))
        wait_for(lambda: len(exits(srv, root)) == 1, what="the record")
        wait_for(lambda: exits(srv, root) == [], timeout=10, what="the record to age out")
    finally:
        srv.stop()


def test_corrupt_and_hostile_state_files_are_refused(tmp_path):
    root = make_root(tmp_path, "n150")
    state = tmp_path / "tt-alloc-exits.state"
    srv = Server(tmp_path)
    for content, mode in ((b"TTALLOCX" + os.urandom(500), 0o600),   # garbage
                          (b"", 0o600),                               # empty
                          (None, 0o600),                              # truncated real file
                          (None, 0o666)):                             # world-writable
        if content is None:
            srv.start()
            leak_and_die(srv, lines=("alloc 0 dram 0x0 4096",))
            wait_for(lambda: len(exits(srv, root)) == 1, what="a record")
            srv.stop()
            data = state.read_bytes()
            if mode == 0o600:
                state.write_bytes(data[:-5])
            state.chmod(mode)
        else:
            state.write_bytes(content)
            state.chmod(mode)
        before = srv.log().count("refused")
        srv.start()
        assert srv.proc.poll() is None
        assert exits(srv, root) == []
        assert srv.log().count("refused") == before + 1      # one line, saying so
        srv.stop()
    # a symlink planted where the state file goes is not followed
    target = tmp_path / "target"
    target.write_bytes(b"x")
    state.unlink()
    state.symlink_to(target)
    srv.start()
    leak_and_die(srv, lines=("alloc 0 dram 0x0 4096",))
    wait_for(lambda: len(exits(srv, root)) == 1, what="a record")
    srv.stop()
    assert target.read_bytes() == b"x"          # the target is untouched
    assert not state.is_symlink()               # the link was replaced by a real file
    srv.start()
    assert len(exits(srv, root)) == 1
    srv.stop()
