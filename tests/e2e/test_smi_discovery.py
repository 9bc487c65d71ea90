# SPDX-License-Identifier: Apache-2.0
"""tt-smi against simulated trees, without a server: devices, telemetry,
processes, the unknowns, and every output format parsed field by field."""
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import SANITIZER_ENV, binary, wait_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
GIB = 1 << 30


def make_root(tmp_path, devices, *extra):
    root = tmp_path / "root"
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices",
                        devices, *extra], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **SANITIZER_ENV))
    assert r.returncode == 0, r.stderr
    return root


def smi(tmp_path, root, *args, **env):
    full = dict(os.environ, **SANITIZER_ENV, TT_ALLOC_SOCKET=str(tmp_path / "no-server.sock"),
                TZ="UTC", TTSMI_TEST_HOSTNAME="testhost", TTSMI_TEST_TIME="1795435200", **env)
    full.pop("NO_COLOR", None)
    full.pop("TT_SYSROOT", None)
    cmd = [binary("src/smi/tt-smi")] + (["--sysroot", str(root)] if root else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=60)


def smi_json(tmp_path, root, *args):
    r = smi(tmp_path, root, "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def hwmon(root, index):
    base = root / f"sys/class/tenstorrent/tenstorrent!{index}/device/hwmon"
    return next(base.iterdir())


def attr(root, index, name):
    return root / f"sys/class/tenstorrent/tenstorrent!{index}" / name


def test_golden_table(tmp_path):
    root = make_root(tmp_path, "n150,n300,4:p150a,galaxy-wormhole")
    r = smi(tmp_path, root)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (GOLDEN / "smi_mixed.txt").read_text()
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert "\033" not in r.stdout   # not a tty: no colour


def test_json_fields(tmp_path):
    root = make_root(tmp_path, "n150,3:p150a")
    doc = smi_json(tmp_path, root)
    assert doc["schema_version"] == 1
    assert doc["timestamp"] == "2026-11-23T12:00:00Z"
    assert doc["hostname"] == "testhost"
    assert doc["driver_version"] == "2.5.0"
    assert doc["tracking"]["server"] is False
    assert doc["tracking"]["socket"] == str(tmp_path / "no-server.sock")
    assert [d["index"] for d in doc["devices"]] == [0, 3]
    n150, p150 = doc["devices"]
    temp_mc = int((hwmon(root, 0) / "temp1_input").read_text())
    assert n150["temperature_c"] == pytest.approx(temp_mc / 1000)
    power_uw = int((hwmon(root, 0) / "power1_input").read_text())
    assert n150["power_w"] == pytest.approx(power_uw / 1e6)
    assert n150["power_limit_w"] == 160.0
    assert n150["voltage_v"] == 0.8
    assert n150["aiclk_mhz"] == 1000
    assert n150["fan_rpm"] is None
    assert n150["arch"] == "wormhole" and p150["arch"] == "blackhole"
    assert n150["board_type"] == "n150" and p150["board_type"] == "p150a"
    assert n150["bus_id"] == "0000:01:00.0" and p150["bus_id"] == "0000:04:00.0"
    assert n150["serial"] == attr(root, 0, "tt_serial").read_text().strip()
    assert n150["firmware"] == "18.3.0.0"
    assert p150["fan_rpm"] == int((hwmon(root, 3) / "fan1_input").read_text())
    # memory: totals from the board table, used unknown without a server
    assert n150["memory"]["dram"] == {"used_bytes": None, "total_bytes": 12 * GIB,
                                      "peak_bytes": None}   # no server: no peak
    assert n150["memory"]["l1"] == {"used_bytes": None, "total_bytes": 72 * 1499136,
                                    "peak_bytes": None}
    assert p150["memory"]["dram"]["total_bytes"] == 8 * 4278190080
    assert p150["memory"]["l1"]["total_bytes"] == 140 * 1572864
    for key in ("l1_small", "trace", "cb"):
        assert n150["memory"][key] == {"used_bytes": None, "total_bytes": None,
                                       "peak_bytes": None}
    assert doc["processes"] == []


def test_csv_fields(tmp_path):
    root = make_root(tmp_path, "n150,p100a")
    fields = ("index,name,pci.bus_id,serial,temperature.asic,power.draw,power.limit,"
              "clocks.aiclk,memory.total,memory.used,memory.free,l1.total,l1.used,l1.free")
    r = smi(tmp_path, root, "--query-device=" + fields, "--format=csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("index, name, pci.bus_id, serial, temperature.asic, power.draw [W], "
                        "power.limit [W], clocks.aiclk [MHz], memory.total [MiB], "
                        "memory.used [MiB], memory.free [MiB], l1.total [MiB], l1.used [MiB], "
                        "l1.free [MiB]")
    rows = [line.split(", ") for line in lines[1:]]
    assert len(rows) == 2
    row = rows[1]
    assert row[0] == "1" and row[1] == "p100a" and row[2] == "0000:02:00.0"
    assert row[3] == attr(root, 1, "tt_serial").read_text().strip()
    assert row[6] == "300.0 W" and row[7] == "1350 MHz"
    assert row[8] == f"{7 * 4278190080 >> 20} MiB"
    assert row[9] == row[10] == row[12] == row[13] == "[N/A]"
    assert row[11] == f"{120 * 1572864 >> 20} MiB"
    r = smi(tmp_path, root, "--query-device=index,power.limit", "--format=csv,noheader,nounits")
    assert r.stdout == "0, 160.0\n1, 300.0\n"


def test_sparse_and_select(tmp_path):
    root = make_root(tmp_path, "2:n150,5:n300,9:p150a")
    doc = smi_json(tmp_path, root)
    assert [d["index"] for d in doc["devices"]] == [2, 5, 9]
    serial9 = attr(root, 9, "tt_serial").read_text().strip()
    doc = smi_json(tmp_path, root, "-i", f"5,{serial9.lower()}")
    assert [d["index"] for d in doc["devices"]] == [5, 9]
    doc = smi_json(tmp_path, root, "-i", "0000:03:00.0")
    assert [d["index"] for d in doc["devices"]] == [2]
    doc = smi_json(tmp_path, root, "-i", "06:00.0")
    assert [d["index"] for d in doc["devices"]] == [5]
    for missing in ("0", "3", "0000:99:00.0", "DEADBEEFDEADBEEF"):
        r = smi(tmp_path, root, "-i", missing)
        assert r.returncode == 6, (missing, r.stderr)
        assert missing in r.stderr
    assert smi(tmp_path, root, "-i", "2,").returncode == 2


def test_no_driver(tmp_path):
    r = smi(tmp_path, tmp_path / "empty")
    assert r.returncode == 9
    assert "no Tenstorrent driver" in r.stderr
    # the module loaded but no device
    (tmp_path / "mod/sys/module/tenstorrent").mkdir(parents=True)
    assert smi(tmp_path, tmp_path / "mod").returncode == 9
    # TT_SYSROOT works like --sysroot
    r = smi(tmp_path, None, TT_SYSROOT=str(tmp_path / "empty"))
    assert r.returncode == 9


@pytest.mark.parametrize("args", [["--bogus"], ["-r", "0"], ["-r", "abc"], ["-l", "-1"],
                                  ["--json", "-q"], ["--query-device=index"],
                                  ["--query-device=index", "--format=xml"],
                                  ["--query-device=nope", "--format=csv"],
                                  ["--query-apps=index", "--format=csv"],
                                  ["--format=csv"], ["extra"], ["-i"]])
def test_bad_arguments(tmp_path, args):
    root = make_root(tmp_path, "n150")
    r = smi(tmp_path, root, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("tt-smi:")


GARBAGE = [b"", b"\n", b"abc\n", b"-5\n", b"99999999999999999999999999\n", b"\x00\xff\xfe\x01",
           b"12 34\n", b"1e6\n", b"x" * 5000]


@pytest.mark.parametrize("junk", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_reads_as_unknown(tmp_path, junk):
    root = make_root(tmp_path, "p150a")
    hw = hwmon(root, 0)
    for name in ("temp1_input", "power1_input", "power1_max", "in0_input", "curr1_input",
                 "fan1_input"):
        (hw / name).write_bytes(junk)
    for name in ("tt_aiclk", "tt_serial", "tt_card_type", "tt_fw_bundle_ver", "tt_asic_id"):
        attr(root, 0, name).write_bytes(junk)
    doc = smi_json(tmp_path, root)
    d = doc["devices"][0]
    for key in ("temperature_c", "power_w", "power_limit_w", "voltage_v", "current_a",
                "aiclk_mhz", "fan_rpm", "serial", "board_type", "firmware", "asic_id"):
        assert d[key] is None, key
    assert d["arch"] == "blackhole"            # from hwmon's name, still readable
    assert d["memory"]["dram"]["total_bytes"] is None   # unknown board: no guess
    r = smi(tmp_path, root)
    assert r.returncode == 0 and "N/A" in r.stdout
    r = smi(tmp_path, root, "-q")
    assert r.returncode == 0 and "Temperature" in r.stdout


def test_missing_attributes(tmp_path):
    root = make_root(tmp_path, "n150")
    hw = hwmon(root, 0)
    for f in list(hw.iterdir()):
        if f.name != "name":
            f.unlink()
    for name in ("tt_aiclk", "tt_serial", "tt_card_type"):
        attr(root, 0, name).unlink()
    attr(root, 0, "device").unlink()
    (root / "sys/module/tenstorrent/version").unlink()
    doc = smi_json(tmp_path, root)
    d = doc["devices"][0]
    assert doc["driver_version"] is None
    assert d["temperature_c"] is None and d["aiclk_mhz"] is None and d["bus_id"] is None
    assert d["serial"] is None and d["board_type"] is None


def test_hwmon_matched_by_label(tmp_path):
    root = make_root(tmp_path, "n150")
    hw = hwmon(root, 0)
    # the temperature on channel 3 instead of 1: found by its label
    (hw / "temp1_label").rename(hw / "temp3_label")
    (hw / "temp1_input").rename(hw / "temp3_input")
    (hw / "temp3_input").write_text("51234\n")
    (hw / "temp1_input").write_text("99000\n")
    (hw / "temp1_label").write_text("board_temp\n")
    doc = smi_json(tmp_path, root)
    assert doc["devices"][0]["temperature_c"] == 51.234


def test_pids_file_processes(tmp_path):
    root = make_root(tmp_path, "n150,n300")
    holder = subprocess.Popen(["sleep", "300"])
    try:
        me = os.getpid()
        # duplicates (one line per fd), garbage, a dead pid, tt-smi itself excluded below
        (root / "proc/driver/tenstorrent/1/pids").write_text(
            f"{holder.pid}\n{holder.pid}\nxyz\n2147483000\n{me}\n")
        doc = smi_json(tmp_path, root)
        procs = {p["pid"]: p for p in doc["processes"]}
        assert set(procs) == {holder.pid, me}
        p = procs[holder.pid]
        assert p["name"] == "sleep" and p["cmdline"] == "sleep 300"
        # holds device 1, no SHM entry, no server: its memory there is unknown
        assert p["devices"] == [1] and p["tracked"] is False
        assert len(p["memory"]) == 1 and p["memory"][0]["device"] == 1
        assert all(v is None for k, v in p["memory"][0].items() if k != "device")
        assert doc["tracking"]["sources"] == ["pids"]
        r = smi(tmp_path, root, "--query-apps=pid,process_name,device,used_memory,used_l1",
                "--format=csv,noheader")
        assert f"{holder.pid}, sleep, 1, [N/A], [N/A]" in r.stdout.splitlines()
        # -i 0 selects only device 0: nobody holds it
        assert smi_json(tmp_path, root, "-i", "0")["processes"] == []
    finally:
        holder.kill()
        holder.wait()


def test_never_lists_itself(tmp_path):
    root = make_root(tmp_path, "n150", "--no-pids")
    # tt-smi started holding the fake node open: the fd scan must skip it
    node = root / "dev/tenstorrent/0"
    with open(node) as f:
        r = subprocess.run([binary("src/smi/tt-smi"), "--json", "--sysroot", str(root)],
                           capture_output=True,
                           text=True, pass_fds=(f.fileno(),),
                           env=dict(os.environ, **SANITIZER_ENV,
                                    TT_ALLOC_SOCKET=str(tmp_path / "none")))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert os.getpid() in [p["pid"] for p in doc["processes"]]   # we (pytest) hold it
    assert all(p["name"] != "tt-smi" for p in doc["processes"])


def test_fd_scan_fallback(tmp_path):
    root = make_root(tmp_path, "n150,p150a", "--no-pids")
    holder = subprocess.Popen(
        ["python3", "-c", "import sys; f = open(sys.argv[1]); g = open(sys.argv[1]); "
         "sys.stdin.read()", str(root / "dev/tenstorrent/1")], stdin=subprocess.PIPE)
    try:
        def listed():
            doc = smi_json(tmp_path, root)
            return [p for p in doc["processes"] if p["pid"] == holder.pid] and doc
        doc = wait_for(listed, what="the holder to appear through the fd scan")
        p = [p for p in doc["processes"] if p["pid"] == holder.pid][0]
        assert p["devices"] == [1]
        assert "fdscan" in doc["tracking"]["sources"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    doc = smi_json(tmp_path, root)
    assert holder.pid not in [p["pid"] for p in doc["processes"]]


def test_json_escaping_of_process_names(tmp_path):
    root = make_root(tmp_path, "n150")
    weird = b'we"ir\\d\x01\xff'
    link = os.path.join(os.fsencode(tmp_path), weird)
    os.symlink(b"/bin/sleep", link)
    holder = subprocess.Popen([link, "300"])
    try:
        (root / "proc/driver/tenstorrent/0/pids").write_text(f"{holder.pid}\n")
        r = smi(tmp_path, root, "--json")
        assert r.returncode == 0
        doc = json.loads(r.stdout)   # must parse whatever the name holds
        p = [p for p in doc["processes"] if p["pid"] == holder.pid][0]
        assert p["name"] == 'we"ir\\d\x01\ufffd'
        assert p["cmdline"].endswith('we"ir\\d\x01\ufffd 300')
    finally:
        holder.kill()
        holder.wait()


def test_32_devices(tmp_path):
    boards = ["n150", "n300", "p150a", "p100a"] * 8
    root = make_root(tmp_path, ",".join(boards))
    doc = smi_json(tmp_path, root)
    assert [d["board_type"] for d in doc["devices"]] == boards
    assert len({d["bus_id"] for d in doc["devices"]}) == 32
    r = smi(tmp_path, root)
    assert r.returncode == 0
    assert sum(1 for line in r.stdout.splitlines() if line[:3].strip().isdigit()) == 32


def test_query_report(tmp_path):
    root = make_root(tmp_path, "n150")
    r = smi(tmp_path, root, "-q")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Driver Version                : 2.5.0" in out
    assert "    Board Type                : n150" in out
    serial = attr(root, 0, "tt_serial").read_text().strip()
    assert f"    Serial                    : {serial}" in out
    assert "        AICLK                 : 1000 MHz" in out
    assert "            Total             : 12288 MiB (12884901888 B)" in out
    assert "            Used              : N/A" in out


def test_watch_without_tty(tmp_path):
    root = make_root(tmp_path, "n150")
    env = dict(os.environ, **SANITIZER_ENV, TT_ALLOC_SOCKET=str(tmp_path / "none"))
    seen = bytearray()

    def frames():
        chunk = p.stdout.read()
        if chunk:
            seen.extend(chunk)
        return seen.count(b"0\n") >= 3
    # -r without -w is not a one-shot: Tenstorrent's tt-smi resets with -r, so it is refused
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "-r", "20",
                        "--query-device=index", "--format=csv,noheader"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 2 and r.stdout == "" and "does not reset" in r.stderr
    p = subprocess.Popen([binary("src/smi/tt-smi"), "--sysroot", str(root), "-w", "-r", "20",
                          "--query-device=index", "--format=csv,noheader"],
                         stdout=subprocess.PIPE, env=env)
    os.set_blocking(p.stdout.fileno(), False)
    wait_for(frames, what="three refreshes")
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == 0
