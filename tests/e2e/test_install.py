# SPDX-License-Identifier: Apache-2.0
"""`cmake --install` to a fresh prefix: the installed programs find the
installed libttalloc by their RUNPATH (no ldconfig, no LD_LIBRARY_PATH), every
installed program has its manual page, and every SEE ALSO names a page that
exists."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, SANITIZER_ENV, Server, binary

MAN = ROOT / "man"


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    dest = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["cmake", "--install", str(BUILD), "--prefix", str(dest)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    env.update(SANITIZER_ENV)
    env.update(extra)
    return env


def test_installed_programs_run_with_the_installed_library(prefix, tmp_path):
    smi = prefix / "bin" / "tt-smi"
    dyn = subprocess.run(["readelf", "-d", str(smi)], capture_output=True, text=True).stdout
    runpath = re.search(r"\(RUNPATH\)\s+Library runpath: \[(.*)\]", dyn)
    assert runpath and runpath.group(1).startswith("$ORIGIN/"), dyn
    assert "(RPATH)" not in dyn
    libs = subprocess.run(["ldd", str(smi)], capture_output=True, text=True,
                          env=clean_env()).stdout
    line = next(ln for ln in libs.splitlines() if "libttalloc.so" in ln)
    assert str(prefix) in line, libs           # the installed copy, not the build tree's
    # the installed tt-smi against a server, on a simulated tree
    root = tmp_path / "root"
    subprocess.run([str(prefix / "bin" / "tt-alloc-sim"), "sysroot", str(root), "--devices",
                    "n150"], check=True, env=clean_env(), timeout=60)
    srv = Server(tmp_path).start()
    try:
        r = subprocess.run([str(smi), "--sysroot", str(root), "--socket", srv.socket, "--json"],
                           capture_output=True, text=True, env=clean_env(), timeout=60)
        assert r.returncode == 0, r.stderr
        assert '"server": true' in r.stdout and '"board_type": "n150"' in r.stdout
    finally:
        srv.stop()
    # the whole tree moved elsewhere still works ($ORIGIN)
    moved = tmp_path / "moved"
    shutil.copytree(prefix, moved, symlinks=True)
    r = subprocess.run([str(moved / "bin" / "tt-smi"), "--version"], capture_output=True,
                       text=True, env=clean_env(), timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("tt-smi "), r.stderr


def test_installed_recorder_starts_the_installed_server(prefix, tmp_path):
    """No server running: the installed tt-alloc-record finds the installed
    tt-alloc-server beside itself, and passes the command's status through."""
    out = tmp_path / "inst.ttrec"
    env = clean_env(TT_ALLOC_SOCKET=str(tmp_path / "none.sock"), TMPDIR=str(tmp_path))
    r = subprocess.run([str(prefix / "bin" / "tt-alloc-record"), "-o", str(out), "--", "sh",
                        "-c", "exit 4"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 4, r.stderr
    assert f"wrote {out}: 0 events" in r.stderr
    r = subprocess.run([str(prefix / "bin" / "tt-alloc-report"), str(out), "--json"],
                       capture_output=True, text=True, env=clean_env(), timeout=60)
    assert r.returncode == 0 and '"events": 0' in r.stdout, r.stderr


def test_every_installed_program_has_a_manual_page(prefix):
    programs = sorted(p.name for p in (prefix / "bin").iterdir())
    assert "tt-smi" in programs and "tt-alloc-server" in programs
    pages = prefix / "share" / "man" / "man1"
    for name in programs:
        page = pages / f"{name}.1"
        assert page.exists(), f"{name} has no manual page"
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr == "", (name, r.stderr)
        # man finds it in the prefix's man directory by the program's name
        r = subprocess.run(["man", "-M", str(prefix / "share" / "man"), name],
                           capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"),
                           timeout=60)
        text = re.sub(r".\x08", "", r.stdout)      # overstrike bold and underline
        assert r.returncode == 0, r.stderr
        assert re.search(rf"^NAME\n\s+{re.escape(name)}\s+[-\u2010]\s", text, re.M), text[:300]
        assert "SEE ALSO" in text


def test_see_also_names_only_pages_that_exist():
    pages = {p.stem: p for p in MAN.glob("*.[1-8]")}
    for name, page in pages.items():
        text = page.read_text()
        assert ".SH SEE ALSO" in text, name
        see_also = text.split(".SH SEE ALSO", 1)[1].split("\n.SH", 1)[0]
        refs = re.findall(r"^\.BR\s+(\S+)\s+\((\d)\)", see_also, re.M)
        assert refs, name
        for ref, section in refs:
            assert ref in pages, f"{name}.1 names {ref}({section}), which is not in man/"
            assert pages[ref].suffix == f".{section}", f"{name}: {ref}({section})"
    # every flag tt-smi --help names is in its page
    for program, relpath in (("tt-smi", "src/smi/tt-smi"),):
        helptext = subprocess.run([binary(relpath), "--help"], capture_output=True, text=True,
                                  env=clean_env(), timeout=60).stdout
        page = pages[program].read_text().replace("\\-", "-")
        for flag in sorted(set(re.findall(r"(--[a-z][a-z-]+)", helptext))):
            assert flag in page, f"{program}.1 does not document {flag}"

