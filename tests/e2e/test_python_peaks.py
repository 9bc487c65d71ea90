# SPDX-License-Identifier: Apache-2.0
"""ttalloc.memory_allocated, max_memory_allocated and reset_peak_memory_stats
(named and meant as torch.cuda's) against the build's libttalloc, and the
server's view of the same peaks. These call ttalloc_process_memory and
ttalloc_reset_peak, which the per-thread record path provides."""
import errno
import textwrap

from ttalloc_pyenv import pyenv, run_snippet

MiB = 1 << 20


def test_churn_peak_is_exact_and_the_server_agrees(server):
    out = run_snippet(textwrap.dedent("""
        import json, os, ttalloc
        MiB = 1 << 20
        ttalloc.record_alloc(0, "dram", 0x1, 10 * MiB)
        for k in range(100000):        # a 1 MiB buffer at distinct addresses
            ttalloc.record_alloc(0, "dram", (1 << 40) + k * 64, MiB)
            ttalloc.record_free(0, "dram", (1 << 40) + k * 64)
        here = [ttalloc.memory_allocated(0, "dram"), ttalloc.max_memory_allocated(0, "dram"),
                ttalloc.max_memory_allocated()]
        ttalloc.flush()
        with ttalloc.connect() as c:
            raw = c.raw_snapshot()
            mine = [u for u in raw["usage"] if u["pid"] == os.getpid()]
            p = [p for p in c.snapshot()["processes"] if p["pid"] == os.getpid()][0]
        print(json.dumps({"here": here, "server_peak": mine[0]["peak"]["dram"],
                          "json_peak": p["memory"][0]["dram_peak_bytes"]}))
    """), pyenv(server.client_env()), timeout=300)
    assert out["here"] == [10 * MiB, 11 * MiB, 11 * MiB]
    assert out["server_peak"] == 11 * MiB
    assert out["json_peak"] == 11 * MiB


def test_reset_peak_memory_stats(server):
    out = run_snippet(textwrap.dedent("""
        import json, os, ttalloc
        MiB = 1 << 20
        ttalloc.record_alloc(0, "dram", 0x1, MiB)
        ttalloc.record_alloc(0, "dram", 0x2, MiB)
        ttalloc.record_alloc(0, "dram", 0x3, 5 * MiB)
        ttalloc.record_free(0, "dram", 0x3)
        ttalloc.record_alloc(1, "l1", 0x3, 4096)
        ttalloc.record_free(1, "l1", 0x3)
        before = ttalloc.max_memory_allocated(0, "dram")
        ttalloc.reset_peak_memory_stats()
        after_reset = [ttalloc.max_memory_allocated(0, "dram"),
                       ttalloc.max_memory_allocated(1, "l1")]
        ttalloc.record_alloc(0, "dram", 0x4, MiB)
        ttalloc.record_free(0, "dram", 0x4)
        again = ttalloc.max_memory_allocated(0, "dram")
        ttalloc.flush()
        snap = ttalloc.snapshot()
        p = [p for p in snap["processes"] if p["pid"] == os.getpid()][0]
        d0 = [d for d in snap["devices"] if d["index"] == 0][0]
        print(json.dumps({"before": before, "after_reset": after_reset, "again": again,
                          "server": [m["dram_peak_bytes"] for m in p["memory"]]
                                    + [p["memory"][1]["l1_peak_bytes"]],
                          "device": d0["memory"]["dram"]["peak_bytes"]}))
    """), pyenv(server.client_env()))
    assert out["before"] == 7 * MiB
    assert out["after_reset"] == [2 * MiB, 0]      # reset with 2 MiB live reads 2 MiB
    assert out["again"] == 3 * MiB                  # one more 1 MiB alloc/free reads 3 MiB
    assert out["server"] == [3 * MiB, 0, 0]         # the server reset at the same point
    assert out["device"] == 7 * MiB                 # device peaks never reset


def test_four_threads_never_above_their_sum(server):
    out = run_snippet(textwrap.dedent("""
        import json, threading, ttalloc
        MiB = 1 << 20
        def churn(t):
            for k in range(20000):      # each thread holds at most one 1 MiB buffer
                a = (t << 40) + k * 64
                ttalloc.record_alloc(0, "l1", a, MiB)
                ttalloc.record_free(0, "l1", a)
        ts = [threading.Thread(target=churn, args=(t + 1,)) for t in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
        ttalloc.flush()
        import os
        with ttalloc.connect() as c:
            mine = [u for u in c.raw_snapshot()["usage"] if u["pid"] == os.getpid()]
        print(json.dumps([ttalloc.memory_allocated(0, "l1"),
                          ttalloc.max_memory_allocated(0, "l1"), mine[0]["peak"]["l1"]]))
    """), pyenv(server.client_env()), timeout=300)
    live, peak, server_peak = out
    assert live == 0
    assert MiB <= peak <= 4 * MiB
    assert MiB <= server_peak <= 4 * MiB


def test_without_a_server_and_bad_arguments(tmp_path):
    env = pyenv({"TT_ALLOC_SOCKET": str(tmp_path / "nobody.sock"), "PATH": "/usr/bin:/bin"})
    out = run_snippet(textwrap.dedent("""
        import json, ttalloc
        ttalloc.record_alloc(3, "trace", 0x10, 12345)
        got = [ttalloc.memory_allocated(3, "trace"), ttalloc.max_memory_allocated(3, "trace"),
               ttalloc.memory_allocated(3, ttalloc.BufferType.TRACE), ttalloc.memory_allocated()]
        errs = []
        for bad in (lambda: ttalloc.memory_allocated(0, "hbm"),
                    lambda: ttalloc.max_memory_allocated(-1),
                    lambda: ttalloc.memory_allocated(0, 9)):
            try:
                bad()
                errs.append(None)
            except ttalloc.InvalidArgument as e:
                errs.append(e.errno)
        print(json.dumps({"got": got, "errs": errs}))
    """), env)
    assert out["got"] == [12345, 12345, 12345, 0]
    assert out["errs"] == [errno.EINVAL] * 3


def test_an_older_library_says_what_it_lacks(tmp_path):
    """A libttalloc without the peak entry points still loads; only these
    calls fail, with ENOSYS naming the missing function."""
    env = pyenv({"TT_ALLOC_SOCKET": str(tmp_path / "nobody.sock"), "PATH": "/usr/bin:/bin"})
    out = run_snippet(textwrap.dedent("""
        import json, ttalloc, ttalloc._lib as L
        ttalloc.record_alloc(0, "dram", 0x10, 1)     # loads the library
        L.function = lambda name: None               # as an older library would answer
        out = []
        for call in (ttalloc.memory_allocated, ttalloc.max_memory_allocated,
                     ttalloc.reset_peak_memory_stats):
            try:
                call()
            except ttalloc.TTAllocError as e:
                out.append([e.errno, str(e)])
        print(json.dumps(out))
    """), env)
    assert [e for e, _ in out] == [errno.ENOSYS] * 3
    assert "ttalloc_process_memory" in out[0][1] and "ttalloc_reset_peak" in out[2][1]
