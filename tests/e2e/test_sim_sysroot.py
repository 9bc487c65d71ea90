# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-sim sysroot: the fake tt-kmd tree, one-shot and --live."""
import os
import subprocess

import pytest

from conftest import SANITIZER_ENV, binary, wait_for


def sim(*args, **kw):
    return subprocess.run([binary("src/sim/tt-alloc-sim"), *args], capture_output=True,
                          text=True, env=dict(os.environ, **SANITIZER_ENV), timeout=60, **kw)


def test_tree_layout(tmp_path):
    root = tmp_path / "root"
    r = sim("sysroot", str(root), "--devices", "n150,3:p150a")
    assert r.returncode == 0, r.stderr
    cls = root / "sys/class/tenstorrent"
    assert sorted(os.listdir(cls)) == ["tenstorrent!0", "tenstorrent!3"]
    assert sorted(os.listdir(root / "dev/tenstorrent")) == ["0", "3"]
    assert (root / "dev/tenstorrent/3").is_file()
    dev = cls / "tenstorrent!3"
    assert (dev / "tt_card_type").read_text() == "p150a\n"
    serial = (dev / "tt_serial").read_text().strip()
    assert len(serial) == 16 and serial == serial.upper()
    int(serial, 16)
    # the device link points at the PCI device, named by its bus id
    pci = os.path.realpath(dev / "device")
    assert os.path.basename(pci) == "0000:04:00.0"
    assert "/sys/devices/" in pci
    assert (dev / "device/vendor").read_text() == "0x1e52\n"
    assert (dev / "device/device").read_text() == "0xb140\n"
    hwmons = os.listdir(dev / "device/hwmon")
    assert len(hwmons) == 1 and hwmons[0].startswith("hwmon")
    hw = dev / "device/hwmon" / hwmons[0]
    assert (hw / "name").read_text() == "blackhole\n"
    assert (hw / "temp1_label").read_text() == "asic1_temp\n"
    assert (hw / "power1_label").read_text() == "power1\n"
    assert (hw / "fan1_label").read_text() == "fan_rpm\n"
    assert 20000 < int((hw / "temp1_input").read_text()) < 100000
    assert (root / "proc/driver/tenstorrent/3/pids").read_text() == ""
    assert (root / "sys/module/tenstorrent/version").read_text() == "2.5.0\n"


def test_no_pids_driver(tmp_path):
    root = tmp_path / "root"
    assert sim("sysroot", str(root), "--devices", "n300", "--no-pids").returncode == 0
    assert not (root / "proc/driver/tenstorrent").exists()
    assert (root / "sys/module/tenstorrent/version").read_text() == "2.4.1\n"


@pytest.mark.parametrize("devices", ["", "n151", "n150,0:n300", "n150,", "x:n150", "-1:n150",
                                     "99999:n150", ":n150", "n150:0"])
def test_bad_device_lists(tmp_path, devices):
    r = sim("sysroot", str(tmp_path / "root"), "--devices", devices)
    assert r.returncode == 2
    assert "--devices" in r.stderr or "usage" in r.stderr


def test_bad_usage(tmp_path):
    assert sim("sysroot", "--devices", "n150").returncode == 2
    assert sim("bogus").returncode == 2
    assert sim().returncode == 2
    assert sim("sysroot", str(tmp_path), "--devices", "n150", "--interval", "0").returncode == 2


def test_live_pids_follow_processes(tmp_path):
    root = tmp_path / "root"
    live = subprocess.Popen([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices",
                             "n150,p150a", "--live", "--interval", "20"],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, **SANITIZER_ENV))
    holder = None
    try:
        assert live.stdout.readline().startswith("ready")
        pids1 = root / "proc/driver/tenstorrent/1/pids"
        # a real process holding the fake node open twice: two lines, as tt-kmd writes
        holder = subprocess.Popen(
            ["python3", "-c",
             "import sys; a = open(sys.argv[1]); b = open(sys.argv[1]); sys.stdin.read()",
             str(root / "dev/tenstorrent/1")], stdin=subprocess.PIPE)
        wait_for(lambda: pids1.read_text().split() == [str(holder.pid)] * 2,
                 what="the pids file to list the holder once per fd")
        assert (root / "proc/driver/tenstorrent/0/pids").read_text() == ""
        holder.stdin.close()
        holder.wait(timeout=10)
        wait_for(lambda: pids1.read_text() == "", what="the pids file to empty")
        # telemetry moves
        temp = next((root / "sys/class/tenstorrent/tenstorrent!0/device/hwmon").iterdir())
        first = (temp / "temp1_input").read_text()
        wait_for(lambda: (temp / "temp1_input").read_text() != first, what="temperature to move")
    finally:
        if holder and holder.poll() is None:
            holder.kill()
        live.terminate()
        assert live.wait(timeout=20) == 0
