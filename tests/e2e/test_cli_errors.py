# SPDX-License-Identifier: Apache-2.0
"""Every program answers a bad argument the same way, for scripts and people:
exit 2, nothing on stdout, and exactly one line on stderr,
"PROGRAM: error: WHAT", naming the argument (with a hint to --help when the
option itself is wrong), never a usage dump or getopt's own words."""
import os
import subprocess

import pytest

from conftest import SANITIZER_ENV, binary

PROGRAMS = {
    "tt-smi": "src/smi/tt-smi",
    "tt-alloc-server": "src/server/tt-alloc-server",
    "tt-alloc-monitor": "src/monitor/tt-alloc-monitor",
    "tt-alloc-record": "src/record/tt-alloc-record",
    "tt-alloc-report": "src/report/tt-alloc-report",
    "tt-alloc-sim": "src/sim/tt-alloc-sim",
    "tt-alloc-shm": "src/shm/tt-alloc-shm",
}

CASES = [
    ("tt-smi", ["--bogus"], "--bogus"),
    ("tt-smi", ["-l", "x"], "-l"),
    ("tt-alloc-server", ["--bogus"], "--bogus"),
    ("tt-alloc-server", ["--max-clients", "0"], "--max-clients"),
    ("tt-alloc-server", ["stray"], "stray"),
    ("tt-alloc-monitor", ["--bogus"], "--bogus"),
    ("tt-alloc-monitor", ["-r"], "-r"),
    ("tt-alloc-monitor", ["-r", "5"], "-r"),
    ("tt-alloc-monitor", ["stray"], "stray"),
    ("tt-alloc-record", ["--bogus"], "--bogus"),
    ("tt-alloc-report", ["--bogus"], "--bogus"),
    ("tt-alloc-report", ["a.ttrec", "--top", "x"], "--top"),
    ("tt-alloc-sim", ["bogus"], "bogus"),
    ("tt-alloc-sim", ["run", "--bogus"], "--bogus"),
    ("tt-alloc-sim", ["run", "--rate"], "--rate"),
    ("tt-alloc-sim", ["run", "--rate", "-1"], "--rate"),
    ("tt-alloc-sim", ["run", "stray"], "stray"),
    ("tt-alloc-sim", ["sysroot", "/nonexistent/x", "--bogus"], "--bogus"),
    ("tt-alloc-sim", ["sysroot", "/nonexistent/x", "--devices", "zz"], "--devices"),
    ("tt-alloc-shm", ["bogus"], "bogus"),
    ("tt-alloc-shm", ["dump", "--bogus"], "--bogus"),
    ("tt-alloc-shm", ["write", "--dir", "/tmp"], "--chip-id"),
]


@pytest.mark.parametrize("program,args,names", CASES)
def test_one_error_line(program, args, names):
    r = subprocess.run([binary(PROGRAMS[program]), *args], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, **SANITIZER_ENV))
    assert r.returncode == 2, (args, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{program}: error: "), lines[0]
    assert names in lines[0], lines[0]
