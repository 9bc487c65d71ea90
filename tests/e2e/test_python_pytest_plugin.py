# SPDX-License-Identifier: Apache-2.0
"""The pytest plugin (ttalloc.pytest_plugin): a real pytest run in a child
process on a small test file, against a real server."""
import os
import re
import textwrap
import xml.etree.ElementTree as ET

from ttalloc_pyenv import pyenv, run_python

SUITE = textwrap.dedent('''
    import pytest
    import ttalloc

    @pytest.fixture(scope="module")
    def device_pool():
        ttalloc.record_alloc(0, "dram", 0x9000000, 1 << 20)   # meant to outlive the tests
        yield
        ttalloc.record_free(0, "dram", 0x9000000)

    @pytest.fixture
    def scratch():
        ttalloc.record_alloc(0, "l1", 0x5000, 256)
        yield
        ttalloc.record_free(0, "l1", 0x5000)

    def test_clean(scratch):
        ttalloc.record_alloc(0, "dram", 0x1000, 4096)
        ttalloc.record_free(0, "dram", 0x1000)

    def test_uses_module_fixture(device_pool):
        pass

    def test_leaks():
        ttalloc.record_alloc(1, "l1", 0x2000, 8192)
        ttalloc.record_alloc(0, "dram", 0x3000, 4096)
        ttalloc.record_alloc(0, "dram", 0x4000, 100)
        ttalloc.record_free(0, "dram", 0x4000)

    @pytest.mark.ttalloc_allow_leaks
    def test_allowed():
        ttalloc.record_alloc(0, "trace", 0x6000, 64)

    def test_fails_and_leaks():
        ttalloc.record_alloc(0, "cb", 0x7000, 32)
        assert 0, "a plain failure"

    def test_last_is_clean(device_pool):
        pass
''')


def run_pytest(tmp_path, env, *args, source=SUITE):
    test_file = tmp_path / "test_suite.py"
    test_file.write_text(source)
    return run_python(["-m", "pytest", "-p", "no:cacheprovider", "-p", "ttalloc.pytest_plugin",
                       "-v", *args, str(test_file)], env, timeout=120, cwd=str(tmp_path))


def outcomes(stdout):
    """{test name: verbose outcome} from pytest -v lines."""
    found = {}
    for name, word in re.findall(r"^test_suite\.py::(\w+) ([A-Z]+)\s+\[", stdout, re.M):
        found.setdefault(name, []).append(word)
    return found


def test_leaking_test_fails_with_its_buffers_and_clean_ones_pass(server, tmp_path):
    r = run_pytest(tmp_path, pyenv(server.client_env()), "--ttalloc-leaks")
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    got = outcomes(out)
    assert got["test_clean"] == ["PASSED"]
    assert got["test_uses_module_fixture"] == ["PASSED"]       # a module fixture is no leak
    assert got["test_allowed"] == ["PASSED"]                   # marked
    assert got["test_fails_and_leaks"] == ["FAILED"]           # reported once, as it failed
    assert got["test_last_is_clean"] == ["PASSED"]             # earlier leaks not blamed here
    # the leak is test_leaks's own failure: one outcome, no extra failed teardown
    assert got["test_leaks"] == ["FAILED"]
    assert re.search(r"^=+ 2 failed, 4 passed in ", out, re.M), out

    report = re.search(r"^_+ test_leaks _+\n(.*?)\n[_=]", out, re.M | re.S).group(1)
    lines = [ln.strip() for ln in report.splitlines()]
    assert lines[0] == ("2 device buffers (12288 bytes, 12.0 KiB) allocated during "
                        "test_suite.py::test_leaks are still live:")
    assert re.fullmatch(r"device 0 dram\s+4096 bytes \(4\.0 KiB\) at 0x3000", lines[1])
    assert re.fullmatch(r"device 1 l1\s+8192 bytes \(8\.0 KiB\) at 0x2000", lines[2])
    assert len(lines) == 3, report
    assert "FAILED test_suite.py::test_leaks - leaked 2 device buffers (12288 bytes)" in out
    assert "at 0x4000" not in out and "at 0x6000" not in out and "at 0x7000" not in out
    assert "leak check off" not in out
    assert "ttalloc: checking device-memory leaks" in out   # the header says it is on


def test_two_tests_one_leaking_is_one_failure_in_junit_xml(server, tmp_path):
    source = textwrap.dedent('''
        import ttalloc

        def test_ok():
            ttalloc.record_alloc(0, "dram", 0x1000, 64)
            ttalloc.record_free(0, "dram", 0x1000)

        def test_leaky():
            ttalloc.record_alloc(2, "l1", 0x2000, 512)
    ''')
    xml_path = tmp_path / "junit.xml"
    r = run_pytest(tmp_path, pyenv(server.client_env()), "--ttalloc-leaks",
                   f"--junitxml={xml_path}", source=source)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert re.search(r"^=+ 1 failed, 1 passed in ", out, re.M), out
    assert outcomes(out) == {"test_ok": ["PASSED"], "test_leaky": ["FAILED"]}
    root = ET.parse(xml_path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"test_ok", "test_leaky"}
    assert list(cases["test_ok"]) == []
    (failure,) = list(cases["test_leaky"])
    assert failure.tag == "failure"
    assert failure.get("message") == "leaked 1 device buffer (512 bytes)"
    assert "device 2 l1" in failure.text and "at 0x2000" in failure.text
    assert "1 device buffer (512 bytes, 512 B) allocated during" in failure.text


def test_without_server_says_so_once_and_checks_nothing(tmp_path):
    env = pyenv(dict(os.environ), TT_ALLOC_SOCKET=str(tmp_path / "none.sock"))
    r = run_pytest(tmp_path, env, "--ttalloc-leaks")
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert out.count("ttalloc: device-memory leak check off: no tt-alloc-server") == 1, out
    assert str(tmp_path / "none.sock") in out
    got = outcomes(out)
    assert got["test_leaks"] == ["PASSED"]
    assert got["test_fails_and_leaks"] == ["FAILED"]
    assert re.search(r"^=+ 1 failed, 5 passed in ", out, re.M), out


def test_without_library_says_so_once(tmp_path):
    env = pyenv(dict(os.environ), TTALLOC_LIBRARY=str(tmp_path / "libmissing.so"))
    env.pop("LD_PRELOAD", None)
    source = "def test_a():\n    pass\n\ndef test_b():\n    pass\n"
    r = run_pytest(tmp_path, env, "--ttalloc-leaks", source=source)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("ttalloc: device-memory leak check off: ttalloc: cannot load "
                          "libttalloc") == 1, r.stdout
    assert "libmissing.so: no such file" in r.stdout


def test_off_unless_asked_and_loads_nothing(server, tmp_path):
    env = pyenv(server.client_env(), TTALLOC_LIBRARY=str(tmp_path / "libmissing.so"))
    env.pop("LD_PRELOAD", None)
    source = textwrap.dedent('''
        import ttalloc._lib

        def test_no_library_loaded():
            assert ttalloc._lib.path() is None
    ''')
    r = run_pytest(tmp_path, env, source=source)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ttalloc" not in r.stdout.replace("ttalloc._lib", "")
