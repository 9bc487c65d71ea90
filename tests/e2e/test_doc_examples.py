# SPDX-License-Identifier: Apache-2.0
"""The documentation's runnable examples, run: every fenced block preceded by
`<!-- run in tests -->` is a transcript (`$ command` lines, each followed by
what it prints, standard error included). The commands run in a shell with the
built programs first on PATH, /tmp/tt replaced by a private directory, no
server (TT_ALLOC_SOCKET names a socket that does not exist) and the varying
header fields fixed (TZ=UTC, TTSMI_TEST_HOSTNAME=testhost,
TTSMI_TEST_TIME=1795435200: 2026-11-23 12:00:00). Their output must be the
block's, byte for byte."""
import os
import re
import subprocess

import pytest

from conftest import BUILD, ROOT, SANITIZER_ENV

MARK = "<!-- run in tests -->"
DOCS = ["README.md"] + sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))


def transcripts():
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for i, part in enumerate(text.split(MARK)[1:]):
            m = re.match(r"\s*```[a-z]*\n(.*?)\n```", part, re.S)
            assert m, f"{doc}: {MARK} is not followed by a fenced block"
            found.append(pytest.param(doc, m.group(1), id=f"{doc}#{i}"))
    return found


def steps(block):
    """[(command, expected output)] of a transcript."""
    out = []
    for line in block.split("\n"):
        if line.startswith("$ "):
            out.append([line[2:], []])
        else:
            assert out, f"output before any command: {line!r}"
            out[-1][1].append(line)
    return [(cmd, "\n".join(lines) + "\n" if lines else "") for cmd, lines in out]


def test_the_docs_have_runnable_examples():
    assert len(transcripts()) >= 3


@pytest.mark.parametrize("doc,block", transcripts())
def test_transcript(doc, block, tmp_path):
    programs = [BUILD / "src" / d for d in ("smi", "sim", "server", "monitor", "shm", "record",
                                            "report")] + [BUILD / "tests" / "tools"]
    env = dict(os.environ, **SANITIZER_ENV, TZ="UTC", TTSMI_TEST_HOSTNAME="testhost",
               TTSMI_TEST_TIME="1795435200", TT_ALLOC_SOCKET=str(tmp_path / "no.sock"),
               PATH=os.pathsep.join([str(p) for p in programs] + [os.environ["PATH"]]))
    env.pop("TT_SYSROOT", None)
    root = str(tmp_path / "tt")
    for cmd, expected in steps(block):
        r = subprocess.run(["bash", "-c", cmd.replace("/tmp/tt", root)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
                           timeout=120)
        got = r.stdout.replace(root, "/tmp/tt").replace(str(tmp_path / "no.sock"),
                                                         "/tmp/tt-none.sock")
        assert got == expected, f"{doc}: `{cmd}` printed:\n{got}"
