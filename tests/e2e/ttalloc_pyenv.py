# SPDX-License-Identifier: Apache-2.0
"""Running the ttalloc Python package against the build under test.

The package is loaded in child interpreters, never in the pytest process: in
the sanitizer build libttalloc.so is linked against ASan, whose runtime must be
the first library of the process. pyenv() detects that (ldd of the library)
and sets LD_PRELOAD for the child, with leak detection off for the interpreter
(CPython does not free everything at exit; the library's own leaks are caught
by the C examples and the C tests, which run with detect_leaks=1).
"""
import functools
import json
import os
import re
import subprocess
import sys

from conftest import BUILD, ROOT, binary

PYTHON = sys.executable
PACKAGE_DIR = ROOT / "python"


def library():
    return binary("src/lib/libttalloc.so.0")


@functools.lru_cache(maxsize=None)
def sanitizer_preload(lib):
    """The sanitizer runtimes `lib` needs preloaded, ASan first ('' if none)."""
    out = subprocess.run(["ldd", lib], capture_output=True, text=True, check=True).stdout
    found = {}
    for name, path in re.findall(r"^\s*(lib(?:asan|ubsan)\.so[.\d]*)\s*=>\s*(\S+)", out, re.M):
        found[name.split(".")[0]] = path
    return ":".join(found[k] for k in ("libasan", "libubsan") if k in found)


def pyenv(base_env, **extra):
    """Environment for a child interpreter that imports ttalloc from python/
    and loads the build's libttalloc."""
    env = dict(base_env)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["TTALLOC_LIBRARY"] = library()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    preload = sanitizer_preload(env["TTALLOC_LIBRARY"])
    if preload:
        env["LD_PRELOAD"] = preload
        env["ASAN_OPTIONS"] = "detect_leaks=0:halt_on_error=1:abort_on_error=0"
    env.update(extra)
    return env


def run_python(args, env, timeout=60, **kw):
    """Run the interpreter on args (a list; ["-c", code] for a snippet)."""
    return subprocess.run([PYTHON, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, **kw)


def query(server, what, *args):
    """`python3 -m ttalloc WHAT ARGS` against the server, parsed."""
    r = run_python(["-m", "ttalloc", "--socket", server.socket, what, *map(str, args)],
                   pyenv(server.client_env()))
    assert r.returncode == 0, f"python3 -m ttalloc {what} failed:\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


def run_snippet(code, env, timeout=60):
    """Run `code` in a child; it must print one JSON value on its last line."""
    r = run_python(["-c", code], env, timeout=timeout)
    assert r.returncode == 0, f"child failed (rc={r.returncode}):\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


__all__ = ["BUILD", "PYTHON", "PACKAGE_DIR", "library", "sanitizer_preload", "pyenv",
           "run_python", "query", "run_snippet"]
