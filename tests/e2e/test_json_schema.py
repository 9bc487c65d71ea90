# SPDX-License-Identifier: Apache-2.0
"""docs/schema/tt-smi.schema.json is the contract of `tt-smi --json`: real
output validates against it with a server (labels, a leak history), without
one, with SHM-only processes (unmodified TT-Metal apps), and line by line in
watch mode; and the schema is strict enough to reject what breaks it."""
import copy
import json
import os
import signal
import subprocess

import jsonschema
import pytest

from conftest import ROOT, SANITIZER_ENV, binary, wait_for
from test_smi_server import Client, make_root

SCHEMA = json.loads((ROOT / "docs" / "schema" / "tt-smi.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validate(doc):
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def smi_json(root, socket_path, *args):
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        str(socket_path), "--json", *args], capture_output=True, text=True,
                       env=dict(os.environ, **SANITIZER_ENV), timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_schema_is_valid_and_strict():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    good = {"schema_version": 1, "timestamp": "2026-11-23T12:00:00Z", "hostname": "h",
            "driver_version": None,
            "tracking": {"server": False, "socket": None, "sources": []},
            "devices": [], "processes": [], "exits": None}
    validate(good)
    for breakage in (lambda d: d.pop("exits"),
                     lambda d: d.update(extra=1),
                     lambda d: d.update(exits=[{"pid": 1}]),
                     lambda d: d.update(timestamp="yesterday"),
                     lambda d: d["tracking"].update(sources=["guess"])):
        bad = copy.deepcopy(good)
        breakage(bad)
        assert list(VALIDATOR.iter_errors(bad)), bad


def test_with_server_labels_and_leak_history(server, tmp_path):
    root = make_root(tmp_path, "n150,n300,p150a")
    a, b = Client(server), Client(server)
    try:
        assert a.cmd("label resnet-50") == "ok"
        for line in ("alloc 0 dram 0x1000 4096", "alloc 1 l1 0x0 64", "alloc 3 cb 0x0 10",
                     "flush"):
            assert a.cmd(line) in ("ok", "flush 0")
        assert b.cmd("alloc 0 trace 0x0 100") == "ok"
        assert b.cmd("flush") == "flush 0"
        b.proc.send_signal(signal.SIGKILL)           # a leak
        b.proc.wait(timeout=20)
        doc = wait_for(lambda: (lambda d: d if d["exits"] else None)(
            smi_json(root, server.socket)), what="the leak in tt-smi --json")
        validate(doc)
        assert any(p["label"] == "resnet-50" for p in doc["processes"])
        assert doc["exits"][0]["trace_bytes"] == 100
        # -i narrows devices; still the schema's
        validate(smi_json(root, server.socket, "-i", "1"))
    finally:
        a.close()


def test_without_server_and_with_shm_only_processes(tmp_path):
    root = make_root(tmp_path, "n150,p150a")
    none = tmp_path / "none.sock"
    doc = smi_json(root, none)
    validate(doc)
    assert doc["tracking"]["server"] is False and doc["exits"] is None
    # an unmodified TT-Metal app: only TT-Metal's SHM statistics know its memory
    sim = subprocess.Popen(
        [binary("src/sim/tt-alloc-sim"), "run", "--sysroot", str(root), "--socket", str(none),
         "--profile", "llm", "--rate", "500", "--seed", "7", "--quiet", "--shm", "--no-ttalloc",
         "--device", "0", "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, **SANITIZER_ENV, TT_ALLOC_SOCKET=str(none)))
    try:
        doc = wait_for(lambda: (lambda d: d if any(p["pid"] == sim.pid and p["memory"]
                                                   for p in d["processes"]) else None)(
            smi_json(root, none)), what="the SHM-only process with memory")
        validate(doc)
        assert "shm" in doc["tracking"]["sources"]
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=30)


def test_every_ndjson_line_validates(server, tmp_path):
    root = make_root(tmp_path, "n150")
    proc = subprocess.Popen([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                             server.socket, "-w", "-r", "30", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=server.client_env())
    try:
        for _ in range(3):
            validate(json.loads(proc.stdout.readline()))
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.mark.parametrize("doc", ["docs/tt-smi.md", "README.md"])
def test_json_in_the_docs_validates(doc):
    """tt-smi JSON the docs show (whole objects in transcripts, `"exits": [...]`
    fragments) is valid output."""
    text = (ROOT / doc).read_text()
    checked = 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith('{"schema_version"'):
            for j in range(i, len(lines)):     # the object ends where it first parses
                try:
                    obj = json.loads("\n".join(lines[i:j + 1]))
                except json.JSONDecodeError:
                    continue
                validate(obj)
                checked += 1
                break
            else:
                raise AssertionError(f"{doc}:{i + 1}: an object that never parses")
    exit_validator = jsonschema.Draft202012Validator(
        dict(SCHEMA["$defs"]["exit"], **{"$defs": SCHEMA["$defs"]}))
    fragments = []
    for block in text.split("```json\n")[1:]:
        body = block.split("```", 1)[0].strip()
        if body.startswith('"exits"'):
            fragments.append(body)
    # a transcript's `"exits": [` line and what follows it, up to the object's end
    for part in text.split('\n  "exits": [')[1:]:
        fragments.append('"exits": [' + part.split("```", 1)[0].strip())
    for body in fragments:
        for entry in json.loads("{" + body.rstrip("}") + "}")["exits"]:
            assert not list(exit_validator.iter_errors(entry)), entry
            checked += 1
    assert checked, f"{doc} shows no tt-smi JSON"
