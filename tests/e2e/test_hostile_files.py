# SPDX-License-Identifier: Apache-2.0
"""Hostile files: what another user can write and the server and tt-smi read.
An SHM region truncated and rewritten in a loop by uid 65534 while the server
and tt-smi read it (no SIGBUS, no crash), a 100k-line tt-kmd pids file, and an
empty sysroot (tt-smi --json still prints an object)."""
import json
import os
import subprocess
import sys
import time

from conftest import SANITIZER_ENV, Server, binary
from hostile_util import as_user, child_env, needs_root, open_dir  # noqa: F401
from test_shm_integration import asic_id, make_root, region

# Rewrites the region, then truncates it to odd sizes, in a loop, until killed.
TRUNCATOR = r'''
import os, sys
path, image = sys.argv[1], bytes.fromhex(sys.argv[2])
sizes = [0, 1, 7, 24, 48, 87, 856, 857, 4000, len(image) - 1]
i = 0
while True:
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        f.write(image)
        f.flush()
        f.truncate(sizes[i % len(sizes)])
    i += 1
'''


def smi(root, *args, socket_path=None):
    env = dict(os.environ, **SANITIZER_ENV)
    cmd = [binary("src/smi/tt-smi"), "--sysroot", str(root), *args]
    if socket_path:
        cmd += ["--socket", socket_path]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def test_shm_truncated_in_a_loop_while_server_and_smi_read(open_dir):
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root: the truncating attacker runs as uid 65534")
    root = make_root(open_dir, "n150")
    for d in (open_dir, root, root / "dev"):
        d.chmod(0o755)
    shm = root / "dev/shm"
    shm.mkdir(exist_ok=True)
    shm.chmod(0o1777)
    asic = asic_id(root, 0)
    image = region(4, asic, 0, processes=[(os.getpid(), "victim", {"dram": 4096})])
    path = shm / f"tt_device_{asic}_memory"
    attacker = subprocess.Popen([sys.executable, "-c", TRUNCATOR, str(path), image.hex()],
                                env=child_env(), **as_user())
    srv = Server(open_dir, ["--sysroot", str(root)]).start()
    try:
        deadline = time.monotonic() + 6
        runs = 0
        while time.monotonic() < deadline or runs < 10:
            r = smi(root, "--json", socket_path=srv.socket)
            assert r.returncode == 0, r.stderr
            assert isinstance(json.loads(r.stdout)["devices"], list)
            r = smi(root, "--json")      # without the server: tt-smi reads SHM itself
            assert r.returncode == 0, r.stderr
            json.loads(r.stdout)
            runs += 1
        assert attacker.poll() is None, "the attacker stopped early"
        assert srv.proc.poll() is None, f"server died:\n{srv.log()}"
    finally:
        attacker.kill()
        attacker.wait(timeout=20)
        srv.stop()


def test_empty_sysroot_json_is_an_object(tmp_path):
    r = smi(tmp_path, "--json")
    assert r.returncode == 9, r.stderr
    doc = json.loads(r.stdout)
    assert doc["devices"] == [] and doc["schema_version"] == 1
    assert "no Tenstorrent driver or device found" in r.stderr


def test_pids_file_of_100k_lines(tmp_path):
    root = make_root(tmp_path, "n150")
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        lines = [str(sleeper.pid if i % 2 else os.getpid()) for i in range(100000)]
        lines += ["garbage", "-1", "0", "99999999999"] * 100
        (root / "proc/driver/tenstorrent/0/pids").write_text("\n".join(lines) + "\n")
        r = smi(root, "--json")
        assert r.returncode == 0, r.stderr
        pids = [p["pid"] for p in json.loads(r.stdout)["processes"]]
        assert sleeper.pid in pids
    finally:
        sleeper.kill()
        sleeper.wait()
