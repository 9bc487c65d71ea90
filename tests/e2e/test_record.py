# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-record end to end: a real server (shared or the recorder's private
one), real producers (ttalloc-testclient), real signals (SIGSTOP, SIGINT,
SIGKILL), and the answer read back with tt-alloc-report --json (checked
against its schema). Every wait is for a condition with a deadline; every
expected figure is the truth the test's own script made."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jsonschema
import pytest

from conftest import ROOT, SANITIZER_ENV, Server, binary, wait_for
from hostile_util import NOBODY, as_user, needs_root, open_dir  # noqa: F401
from test_client_lib import Client

SCHEMA = json.loads((ROOT / "docs/schema/tt-alloc-report.schema.json").read_text())
MiB = 1 << 20


def recorder(args, env, **kw):
    return subprocess.Popen([binary("src/record/tt-alloc-record"), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(env, **SANITIZER_ENV), **kw)


def report_json(path, *args):
    res = subprocess.run([binary("src/report/tt-alloc-report"), str(path), "--json", *args],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, **SANITIZER_ENV))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def proc_of(doc, pid):
    found = [p for p in doc["processes"] if p["pid"] == pid]
    assert len(found) == 1, f"pid {pid} not in {[p['pid'] for p in doc['processes']]}"
    return found[0]


def mem(proc, device, type_):
    return next(m for m in proc["memory"] if m["device"] == device and m["type"] == type_)


def has_exited(path, pid):
    """Does the recording (read while it is written) hold pid's exit yet?"""
    return any(p["pid"] == pid and p["exit_s"] is not None
               for p in report_json(path)["processes"])


def stop(rec, sig=signal.SIGINT, timeout=60):
    rec.send_signal(sig)
    out, err = rec.communicate(timeout=timeout)
    return rec.returncode, err


def started(path, rec):
    """The file appears once the recorder is subscribed."""
    wait_for(lambda: path.exists() or rec.poll() is not None, timeout=30,
             what="the recording file")
    assert rec.poll() is None, rec.communicate()[1]


def test_scripted_workload_exact_peaks_counts_and_leaks(server, tmp_path):
    out = tmp_path / "run.ttrec"
    rec = recorder(["-o", out], server.client_env())
    started(out, rec)
    c = Client(server.client_env())
    c.ok("label exact-test")
    c.ok("alloc 0 dram 0x100000 4194304")       # 4 MiB
    c.ok("alloc 0 dram 0x500000 1048576")       # 5 MiB: the peak
    c.ok("free 0 dram 0x100000")                # 1 MiB
    c.ok("alloc 0 dram 0x900000 2097152")       # 3 MiB
    c.ok("alloc 1 l1 0x40 4096")
    c.ok("free 1 l1 0x40")
    assert c.flush() == 0
    pid = c.pid
    c.proc.kill()                               # leaves 0x500000 and 0x900000
    c.proc.wait()
    # Readable while being written: wait until the exit is in the file.
    wait_for(lambda: has_exited(out, pid), timeout=30, interval=0.1,
             what="the exit in the recording")
    rc, err = stop(rec)
    assert rc == 0, err
    assert f"wrote {out}" in err and " gaps" in err
    doc = report_json(out)
    assert doc["gaps"] == 0 and doc["lost_events"] == 0
    p = proc_of(doc, pid)
    assert p["label"] == "exact-test"
    assert p["name"].startswith("ttalloc-testcli")
    dram = mem(p, 0, "dram")
    assert dram["peak_bytes"] == 5 * MiB
    assert dram["final_bytes"] == 3 * MiB
    assert (dram["allocs"], dram["frees"]) == (3, 1)
    l1 = mem(p, 1, "l1")
    assert (l1["peak_bytes"], l1["final_bytes"], l1["allocs"], l1["frees"]) == (4096, 0, 1, 1)
    assert sorted((lk["address"], lk["size"]) for lk in p["leaks"]) == \
        [("0x500000", MiB), ("0x900000", 2 * MiB)]
    assert doc["events"] >= 6


def test_recording_begun_mid_run_is_exact(server, tmp_path):
    c = Client(server.client_env())
    c.ok("alloc 0 dram 0x1000 8192")
    c.ok("alloc 0 dram 0x3000 4096")
    assert c.flush() == 0
    out = tmp_path / "mid.ttrec"
    rec = recorder(["-o", out, "--pid", c.pid], server.client_env())
    started(out, rec)
    c.ok("free 0 dram 0x1000")
    c.ok("alloc 0 l1 0x10 64")
    assert c.flush() == 0
    c.proc.kill()
    c.proc.wait()
    wait_for(lambda: has_exited(out, c.pid), timeout=30, interval=0.1,
             what="the exit in the recording")
    rc, err = stop(rec)
    assert rc == 0, err
    p = proc_of(report_json(out), c.pid)
    # The two buffers live at the start count: the peak is 12 KiB.
    assert mem(p, 0, "dram")["peak_bytes"] == 12288
    assert mem(p, 0, "dram")["final_bytes"] == 4096
    assert sorted((lk["type"], lk["address"], lk["size"]) for lk in p["leaks"]) == \
        [("dram", "0x3000", 4096), ("l1", "0x10", 64)]


def test_a_stopped_recorder_costs_producers_nothing_then_gaps_exactly(tmp_path):
    srv = Server(tmp_path, ["--max-queue", str(2 * MiB)]).start()
    try:
        out = tmp_path / "gap.ttrec"
        rec = recorder(["-o", out, "-q"], srv.client_env())
        started(out, rec)
        c = Client(srv.client_env())
        c.ok("alloc 0 dram 0x10 1024")
        assert c.flush() == 0
        rec.send_signal(signal.SIGSTOP)
        try:
            # 1 M alloc/free pairs (2 M events) while the recorder is stopped.
            c.ok("churn 1000000 0 dram 0x100000 64", timeout=600)
            # The producer is answered while the recorder stays stopped: a server
            # that waited for the recorder would never answer this flush.
            assert c.flush(60000) == 0
            c.ok("alloc 0 l1 0x20 2048")
            assert c.flush() == 0
        finally:
            rec.send_signal(signal.SIGCONT)
        c.proc.kill()
        c.proc.wait()

        wait_for(lambda: has_exited(out, c.pid), timeout=120, interval=0.2, what="the exit after the gap")
        rc, err = stop(rec)
        assert rc == 0, err
        doc = report_json(out)
        assert doc["gaps"] >= 1 and doc["lost_events"] > 0
        assert doc["events"] + doc["lost_events"] >= 2_000_000
        p = proc_of(doc, c.pid)
        # After the gap the state is exact: the two buffers it left behind.
        assert sorted((lk["type"], lk["address"], lk["size"]) for lk in p["leaks"]) == \
            [("dram", "0x10", 1024), ("l1", "0x20", 2048)]
        assert mem(p, 0, "dram")["final_bytes"] == 1024
        assert "dropping slow client" not in srv.log()
    finally:
        srv.stop()


@pytest.mark.parametrize("command,status", [
    ("exit 3", 3),
    ("kill -KILL $$", 128 + 9),
    ("exit 0", 0),
])
def test_command_without_a_server_and_its_exit_status(tmp_path, command, status):
    private = tmp_path / "private"
    private.mkdir()
    env = dict(os.environ, TT_ALLOC_SOCKET=str(tmp_path / "none.sock"), TMPDIR=str(private))
    script = tmp_path / "script"
    script.write_text("alloc 0 dram 0x1000 65536\nalloc 0 trace 0x0 4096\nfree 0 trace 0x0\n"
                      "flush\nexit\n")
    out = tmp_path / "cmd.ttrec"
    client = binary("tests/tools/ttalloc-testclient")
    rec = recorder(["-o", out, "--", "sh", "-c", f"{client} < {script} > /dev/null; {command}"],
                   env)
    _, err = rec.communicate(timeout=120)
    assert rec.returncode == status, err
    doc = report_json(out)
    assert len(doc["processes"]) == 1
    p = doc["processes"][0]
    assert p["exit_s"] is not None
    assert mem(p, 0, "dram")["final_bytes"] == 65536
    assert mem(p, 0, "trace")["peak_bytes"] == 4096
    assert [(lk["address"], lk["size"]) for lk in p["leaks"]] == [("0x1000", 65536)]
    # The private server and its directory are gone.
    assert list(private.iterdir()) == []


def test_command_records_its_descendants_only(server, tmp_path):
    outsider = Client(server.client_env())
    outsider.ok("alloc 0 dram 0x7000 777")
    assert outsider.flush() == 0
    client = binary("tests/tools/ttalloc-testclient")
    script = tmp_path / "script"
    script.write_text("alloc 0 dram 0x1000 100\nflush\nexit\n")
    out = tmp_path / "tree.ttrec"
    # A shell starts two clients; one of them through a second shell.
    rec = recorder(["-o", out, "--", "sh", "-c",
                    f"{client} < {script} > /dev/null & sh -c '{client} < {script} > /dev/null';"
                    " wait"], server.client_env())
    _, err = rec.communicate(timeout=120)
    assert rec.returncode == 0, err
    doc = report_json(out)
    assert outsider.pid not in [p["pid"] for p in doc["processes"]]
    assert len(doc["processes"]) == 2
    for p in doc["processes"]:
        assert mem(p, 0, "dram")["allocs"] == 1
    outsider.close()


def test_pid_filter_and_duration(server, tmp_path):
    a = Client(server.client_env())
    b = Client(server.client_env())
    out = tmp_path / "pid.ttrec"
    rec = recorder(["-o", out, "--pid", a.pid, "--duration", "60"], server.client_env())
    started(out, rec)
    a.ok("alloc 0 dram 0x1 10")
    b.ok("alloc 0 dram 0x2 20")
    assert a.flush() == 0 and b.flush() == 0
    wait_for(lambda: report_json(out)["events"] == 1, timeout=30, interval=0.1,
             what="a's event in the file")
    rc, err = stop(rec)
    assert rc == 0, err
    assert [p["pid"] for p in report_json(out)["processes"]] == [a.pid]
    # --duration ends a recording by itself.
    short = tmp_path / "short.ttrec"
    began = time.monotonic()
    r = recorder(["-o", short, "--duration", "0.3", "-q"], server.client_env())
    _, err = r.communicate(timeout=60)
    assert r.returncode == 0, err
    assert time.monotonic() - began >= 0.3
    assert err == ""
    assert report_json(short)["events"] == 0
    a.close()
    b.close()


def test_no_server_without_a_command(tmp_path):
    env = dict(os.environ, TT_ALLOC_SOCKET=str(tmp_path / "none.sock"))
    r = recorder(["-o", tmp_path / "x.ttrec"], env)
    _, err = r.communicate(timeout=60)
    assert r.returncode == 1
    assert "error: no tt-alloc-server at" in err and "tt-alloc-record -- CMD" in err
    assert not (tmp_path / "x.ttrec").exists()


@pytest.mark.parametrize("args,message", [
    (["--pid", "0"], "--pid '0'"),
    (["--pid", "-5"], "--pid '-5'"),
    (["--pid", "12abc"], "--pid '12abc'"),
    (["--pid", "99999999999999999999"], "--pid"),
    (["--duration", "0"], "--duration '0'"),
    (["--duration", "abc"], "--duration 'abc'"),
    (["--duration", "nan"], "--duration 'nan'"),
    (["--duration", "1e99"], "--duration"),
    (["--interval", "5"], "--interval '5'"),
    (["--interval", ""], "--interval ''"),
    (["--interval"], "needs a value"),
    (["-o", ""], "-o needs a file name"),
    (["--bogus"], "unknown option '--bogus'"),
    (["stray"], "unexpected argument 'stray'"),
    (["--"], "'--' must be followed by a command"),
    (["--pid", "1", "--", "true"], "--pid and a command"),
])
def test_bad_arguments_exit_2(tmp_path, args, message):
    r = recorder(args, dict(os.environ, TT_ALLOC_SOCKET=str(tmp_path / "none.sock")),
                 cwd=tmp_path)
    _, err = r.communicate(timeout=60)
    assert r.returncode == 2, err
    assert "error:" in err and message in err, err
    assert list(tmp_path.glob("*.ttrec")) == []


def test_help_and_version():
    r = subprocess.run([binary("src/record/tt-alloc-record"), "--help"], capture_output=True,
                       text=True, env=dict(os.environ, **SANITIZER_ENV))
    assert r.returncode == 0 and "usage: tt-alloc-record" in r.stdout
    r = subprocess.run([binary("src/record/tt-alloc-record"), "--version"], capture_output=True,
                       text=True, env=dict(os.environ, **SANITIZER_ENV))
    assert r.returncode == 0 and r.stdout.startswith("tt-alloc-record ")


def test_an_unwritable_file_is_an_error_and_the_command_does_not_run(server, tmp_path):
    marker = tmp_path / "ran"
    r = recorder(["-o", tmp_path / "no-such-dir" / "x.ttrec", "--", "touch", marker],
                 server.client_env())
    _, err = r.communicate(timeout=60)
    assert r.returncode == 1
    assert "cannot create" in err
    assert not marker.exists()


@needs_root
def test_another_user_records_only_its_own_processes(open_dir):  # noqa: F811
    srv = Server(open_dir).start()
    try:
        root_client = Client(srv.client_env())
        root_client.ok("alloc 0 dram 0x1000 4096")
        assert root_client.flush() == 0
        outdir = open_dir / "out"
        outdir.mkdir()
        os.chown(outdir, NOBODY, NOBODY)
        out = outdir / "nobody.ttrec"
        script = open_dir / "script"
        script.write_text("alloc 0 dram 0x2000 100\nflush\nexit\n")
        script.chmod(0o644)
        client = binary("tests/tools/ttalloc-testclient")
        r = recorder(["-o", out, "--", "sh", "-c", f"{client} < {script} > /dev/null"],
                     srv.client_env(), **as_user())
        _, err = r.communicate(timeout=120)
        assert r.returncode == 0, err
        doc = report_json(out)
        assert root_client.pid not in [p["pid"] for p in doc["processes"]]
        assert len(doc["processes"]) == 1
        # And without a command: everything it may see is its own.
        out2 = outdir / "all.ttrec"
        r = recorder(["-o", out2, "--duration", "0.5"], srv.client_env(), **as_user())
        _, err = r.communicate(timeout=60)
        assert r.returncode == 0, err
        assert report_json(out2)["processes"] == []
        root_client.close()
    finally:
        srv.stop()


def test_sim_run_record(tmp_path):
    """tt-alloc-sim run --record: the run becomes the recorder's command."""
    root = tmp_path / "root"
    subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices", "n150"],
                   check=True, capture_output=True, env=dict(os.environ, **SANITIZER_ENV))
    env = dict(os.environ, TT_ALLOC_SOCKET=str(tmp_path / "none.sock"), TT_SYSROOT=str(root),
               TMPDIR=str(tmp_path))
    out = tmp_path / "sim.ttrec"
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "run", "--record", str(out),
                        "--profile", "churn", "--steps", "2000", "--rate", "0", "--seed", "9",
                        "--quiet"], capture_output=True, text=True, timeout=120,
                       env=dict(env, **SANITIZER_ENV))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stderr
    doc = report_json(out)
    assert len(doc["processes"]) == 1
    p = doc["processes"][0]
    assert p["name"] == "tt-alloc-sim" and p["label"] == "sim-churn"
    assert p["exit_s"] is not None and doc["events"] >= 2000
    # A clean end frees everything the churn profile holds.
    assert all(m["final_bytes"] == 0 for m in p["memory"])
    for bad in (["--record", ""], ["--record", str(out), "--print-events", "--steps", "1"]):
        r = subprocess.run([binary("src/sim/tt-alloc-sim"), "run", *bad], capture_output=True,
                           text=True, env=dict(env, **SANITIZER_ENV))
        assert r.returncode == 2 and "--record" in r.stderr, r.stderr


def test_progress_line_on_a_terminal(server, tmp_path):
    """In a real terminal (tmux): one progress line rewritten in place, then
    erased for the summary when Ctrl-C stops the recording."""
    import shlex
    import uuid
    name = f"ttrec-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "tty.ttrec"

    def tmux(*args, check=True):
        return subprocess.run(["tmux", "-L", name, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check)

    cmd = (f"env TT_ALLOC_SOCKET={shlex.quote(server.socket)} "
           f"{shlex.quote(binary('src/record/tt-alloc-record'))} -o {shlex.quote(str(out))}; "
           f"echo EXIT=$?; sleep 60")
    tmux("new-session", "-d", "-x", "120", "-y", "20", cmd)
    try:
        wait_for(lambda: out.exists(), timeout=30, what="the recording file")
        c = Client(server.client_env())
        c.ok("bulk 5000 0 dram 0x100000 64")
        assert c.flush() == 0
        wait_for(lambda: "recording: 5000 events" in tmux("capture-pane", "-p").stdout,
                 timeout=30, interval=0.05, what="the progress line")
        screen = tmux("capture-pane", "-p").stdout
        assert screen.count("recording:") == 1, screen     # one line, rewritten in place
        assert "events/s" in screen and "written" in screen
        tmux("send-keys", "C-c")
        wait_for(lambda: "EXIT=0" in tmux("capture-pane", "-p").stdout, timeout=30,
                 what="the recorder to stop")
        screen = tmux("capture-pane", "-p").stdout
        assert f"wrote {out}: 5000 events" in screen, screen
        assert "recording:" not in screen, screen          # erased for the summary
        c.close()
    finally:
        tmux("kill-server", check=False)
        sock = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", name)
        if os.path.exists(sock):
            os.unlink(sock)


@needs_root
def test_a_full_disk_stops_the_recording_not_the_command(server, tmp_path):
    """A filesystem that fills up mid-recording (a 128 KiB tmpfs): the command
    runs to its end, the file keeps what was written, and the exit status
    says the recording failed."""
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        out = disk / "full.ttrec"
        client = binary("tests/tools/ttalloc-testclient")
        script = tmp_path / "script"
        # 400 k events at scattered addresses: several MiB of recording.
        script.write_text("".join(f"bulk 20000 0 dram {0x10000000 + i * 0x1000000:#x} 4160\n"
                                  f"bulkfree 20000 0 dram {0x10000000 + i * 0x1000000:#x} 4160\n"
                                  "flush\n" for i in range(10)) + "exit\n")
        marker = tmp_path / "command-finished"
        r = recorder(["-o", out, "--interval", "10", "--", "sh", "-c",
                      f"{client} < {script} > /dev/null && touch {marker}"], server.client_env())
        _, err = r.communicate(timeout=300)
        assert marker.exists(), err                 # the command ran to its end
        assert r.returncode == 1, err
        assert "No space left on device" in err and "holds what was written" in err, err
        res = subprocess.run([binary("src/report/tt-alloc-report"), str(out), "--json"],
                             capture_output=True, text=True, env=dict(os.environ, **SANITIZER_ENV))
        assert res.returncode == 0, res.stderr      # the prefix is a readable recording
        assert 0 < json.loads(res.stdout)["events"] < 400_000
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_shm_only_processes_and_telemetry_are_sampled(tmp_path):
    """An unmodified TT-Metal app (SHM statistics only, no events) and the
    board's telemetry, sampled every --interval into the recording."""
    from ttalloc_pyenv import pyenv, run_snippet
    root = tmp_path / "root"
    sim = binary("src/sim/tt-alloc-sim")
    subprocess.run([sim, "sysroot", str(root), "--devices", "n150"], check=True,
                   capture_output=True, env=dict(os.environ, **SANITIZER_ENV))
    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    app = None
    try:
        env = srv.client_env(TT_SYSROOT=str(root))
        app = subprocess.Popen([sim, "run", "--shm", "--no-ttalloc", "--device", "0",
                                "--profile", "llm", "--rate", "200", "--seed", "3",
                                "--duration", "60"], stdout=subprocess.PIPE, text=True,
                               env=dict(env, **SANITIZER_ENV))
        assert app.stdout.readline().startswith("tt-alloc-sim run:")
        shm = root / "dev/shm"
        wait_for(lambda: any(shm.glob("tt_device_*_memory")), timeout=30,
                 what="the app's SHM region")
        out = tmp_path / "shm.ttrec"
        r = recorder(["-o", out, "--interval", "50", "--duration", "1.5", "-q"], env)
        _, err = r.communicate(timeout=60)
        assert r.returncode == 0, err
    finally:
        if app is not None:
            app.terminate()
            app.wait(timeout=30)
            app.stdout.close()
        srv.stop()
    code = f"""
import json, math, ttalloc
events = list(ttalloc.read_recording({str(out)!r}))
shm = [[e.pid, e.device, sum(e.bytes)] for e in events if e.kind == "shm_sample"]
tel = [[e.device, e.temperature_c, e.power_w] for e in events if e.kind == "telemetry"]
print(json.dumps({{"shm": shm, "tel": tel,
                  "allocs": sum(e.kind == "alloc" for e in events)}}))
"""
    got = run_snippet(code, pyenv(os.environ))
    assert got["allocs"] == 0                         # it sends no events
    mine = [s for s in got["shm"] if s[0] == app.pid]
    assert len(mine) >= 5, got["shm"]                 # ~30 samples in 1.5 s at 50 ms
    assert all(s[1] == 0 and s[2] > 0 for s in mine)
    assert len(got["tel"]) >= 5
    assert all(t[0] == 0 and 0 < t[1] < 150 and t[2] > 0 for t in got["tel"])


def test_the_server_going_away_ends_the_recording_cleanly(tmp_path):
    srv = Server(tmp_path).start()
    out = tmp_path / "gone.ttrec"
    rec = recorder(["-o", out], srv.client_env())
    started(out, rec)
    c = Client(srv.client_env())
    c.ok("alloc 0 dram 0x1000 4096")
    assert c.flush() == 0
    wait_for(lambda: report_json(out)["events"] == 1, timeout=30, interval=0.1,
             what="the alloc in the file")
    srv.kill()
    _, err = rec.communicate(timeout=60)
    assert rec.returncode == 1, err
    assert "the server closed the stream" in err and "the recording ends here" in err, err
    assert f"wrote {out}: 1 events" in err
    assert report_json(out)["events"] == 1
    c.proc.kill()
    c.proc.wait()
