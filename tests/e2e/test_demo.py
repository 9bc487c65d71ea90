# SPDX-License-Identifier: Apache-2.0
"""make demo (scripts/demo.sh BUILD) without a terminal: it shows tt-smi frames,
exits 0, and leaves nothing behind: no process, no socket, no temporary
directory. Interrupted, it cleans up the same way."""
import json
import os
import signal
import subprocess

from conftest import BUILD, ROOT, SANITIZER_ENV, binary, wait_for


def demo_env(tmp, report_dir=None):
    env = dict(os.environ, **SANITIZER_ENV, TMPDIR=str(tmp),
               DEMO_REPORT_DIR=str(report_dir or tmp.parent / "report"))
    for var in ("CI", "TT_SYSROOT", "TT_ALLOC_SOCKET"):
        env.pop(var, None)
    return env


def processes_under(path):
    """PIDs whose command line or environment mentions path (the demo's
    temporary directory: the tree and the server get it as an argument, the
    workloads as TT_SYSROOT and TT_ALLOC_SOCKET)."""
    needle = str(path).encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue   # gone, or not ours
        if needle in cmdline or needle in environ:
            found.append(int(pid))
    return found


def check_nothing_left(tmp):
    assert processes_under(tmp) == [], "processes left behind"
    assert os.listdir(tmp) == [], f"left in TMPDIR: {os.listdir(tmp)}"


def test_demo_without_a_terminal(tmp_path):
    for b in ("src/sim/tt-alloc-sim", "src/server/tt-alloc-server", "src/smi/tt-smi"):
        binary(b)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = subprocess.run(["sh", str(ROOT / "scripts/demo.sh"), str(BUILD)], cwd=ROOT,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
                       env=demo_env(tmp))
    assert r.returncode == 0, r.stdout + r.stderr
    # five tt-smi frames, with the three boards and the workloads' memory
    assert r.stdout.count("Processes:") == 5, r.stdout
    for board in ("n150", "n300", "p150a"):
        assert board in r.stdout
    assert "tt-alloc-sim" in r.stdout
    # the one that crashed after 6 s left a leak behind, and tt-smi shows it
    # from the server's leak history (-q, then the JSON's `exits`), as the README says
    history = r.stdout[r.stdout.index("Leak History"):]
    assert "Label                 : resnet-crashy" in history, r.stdout
    exits_line = r.stdout[r.stdout.index('  "exits": ['):r.stdout.index("$ tt-alloc-report")]
    exits = json.loads("{" + exits_line.strip().rstrip("}") + "}")["exits"]
    assert [e["label"] for e in exits] == ["resnet-crashy"]
    assert exits[0]["buffers"] > 0 and exits[0]["dram_bytes"] > 0
    # It ends with the recorded workload's report, and says where the page is.
    report = tmp_path / "report"
    page = report / "leaky-service.html"
    assert f"  {page}" in r.stdout, r.stdout
    assert page.stat().st_size > 1000
    assert "leaky-service.ttrec" in r.stdout and "tt-alloc-sim" in r.stdout
    summary = (report / "leaky-service.txt").read_text()
    assert "leaks" in summary and "0 gaps" in summary
    check_nothing_left(tmp)


def test_demo_interrupted_cleans_up(tmp_path):
    binary("src/smi/tt-smi")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "demo.out"
    with open(out, "w") as f:
        proc = subprocess.Popen(["sh", str(ROOT / "scripts/demo.sh"), str(BUILD)], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                env=demo_env(tmp))
    try:
        # once the first frame is out, everything is running
        wait_for(lambda: "Processes:" in out.read_text(), timeout=60, interval=0.05,
                 what="the first tt-smi frame")
        # the tree, the server, five workloads (the shell and its sleep: TMPDIR)
        assert len(processes_under(tmp)) >= 7
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_for(lambda: processes_under(tmp) == [], timeout=15, what="every process gone")
    check_nothing_left(tmp)
