# SPDX-License-Identifier: Apache-2.0
"""pytest plugin: fail tests that leave device buffers allocated.

    pytest -p ttalloc.pytest_plugin --ttalloc-leaks
    (once the package is installed the plugin is registered by its pytest11
    entry point, so `pytest --ttalloc-leaks` is enough)

For each test, the plugin asks tt-alloc-server for this process's live
buffers before the test's setup and after its teardown (after a flush, so
every event recorded so far counts). A buffer that appeared in between and is
still live is a leak: the test is reported FAILED with a list of the leaked
buffers (device, type, size, address). The leak is the test's own failure
(its call report), not an extra failed teardown: two tests of which one
leaks give "1 failed, 1 passed", and JUnit XML counts two tests.

Not counted:
- buffers made by a fixture of a wider scope (module, session...) while it is
  set up: they are meant to outlive the test;
- tests that already failed or were skipped (a traceback keeps objects alive);
- tests marked @pytest.mark.ttalloc_allow_leaks.

Without a server, or without libttalloc, the plugin says so once and checks
nothing. Importing this module loads nothing: the library is loaded only
when --ttalloc-leaks is given.
"""
import os
import sys

import pytest

MARKER = "ttalloc_allow_leaks"


def pytest_addoption(parser):
    group = parser.getgroup("ttalloc", "tt-alloc device memory leak check")
    group.addoption("--ttalloc-leaks", action="store_true", default=False,
                    help="fail tests that leave Tenstorrent device buffers allocated "
                         "(needs tt-alloc-server)")
    group.addoption("--ttalloc-socket", default=None, metavar="PATH",
                    help="tt-alloc-server socket (default: $TT_ALLOC_SOCKET or the "
                         "standard paths)")
    group.addoption("--ttalloc-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="how long to wait for the server per query (default 10)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{MARKER}: do not fail this test for device buffers it leaves live")
    if config.getoption("ttalloc_leaks"):
        config.pluginmanager.register(LeakChecker(config), "ttalloc-leak-checker")


class _ItemState:
    def __init__(self, before):
        self.before = before
        self.exempt = set()
        self.check = True


class LeakChecker:
    def __init__(self, config):
        self.config = config
        self.socket = config.getoption("ttalloc_socket")
        self.timeout = config.getoption("ttalloc_timeout")
        self.conn = None
        self.off = None            # why the check is off, once it is
        self.items = {}            # nodeid -> _ItemState
        self.current = None        # the _ItemState of the test running now

    # -- talking to the server ------------------------------------------

    def _say(self, line):
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(line, yellow=True)
        else:
            print(line, file=sys.stderr)

    def _turn_off(self, why):
        if self.off is None:
            self.off = why
            self._say(f"ttalloc: device-memory leak check off: {why}")
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _live(self):
        """This process's live buffers, or None once the check is off."""
        if self.off is not None:
            return None
        import ttalloc
        try:
            return ttalloc.live_set(self.conn, self.timeout)
        except ttalloc.TTAllocError as e:
            self._turn_off(f"lost tt-alloc-server ({e})")
            return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session):
        try:
            import ttalloc
            self.conn = ttalloc.connect(self.socket)
            ttalloc.flush(self.timeout)
        except ImportError as e:  # LibraryNotFound included
            self._turn_off(str(e))
        except OSError as e:
            self._turn_off(f"no tt-alloc-server ({e})")

    def pytest_report_header(self, config):
        if self.off is None and self.conn is not None:
            import ttalloc
            return (f"ttalloc: checking device-memory leaks of pid {os.getpid()} "
                    f"with tt-alloc-server at {self.conn.path} (library {ttalloc.library_path()})")
        return None

    def pytest_sessionfinish(self, session):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- per test ------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        before = self._live()
        if before is not None and item.get_closest_marker(MARKER) is None:
            self.current = self.items[item.nodeid] = _ItemState(before)
        else:
            self.current = None
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        state = self.current
        if state is None or fixturedef.scope == "function":
            yield
            return
        pre = self._live()
        yield
        post = self._live()
        if pre is not None and post is not None:
            state.exempt |= post - pre

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        """pytest's own protocol, with the reports held back until teardown
        is done: a leak is known only once the test's fixtures are torn down,
        and it is the test's failure, so it goes into the call's report
        before any report is logged (one test, one outcome: "1 failed, 1
        passed" for two tests, JUnit tests=2)."""
        if self.off is not None:
            return None
        from _pytest.runner import runtestprotocol
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        leaks = getattr(item, "_ttalloc_leaks", None)
        if leaks:
            for rep in reports:
                if rep.when == "call" and rep.passed:
                    rep.outcome = "failed"
                    rep.longrepr = LeakRepr(leaks, item.nodeid)
                    rep.ttalloc_leaks = len(leaks)
        for rep in reports:
            item.ihook.pytest_runtest_logreport(report=rep)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        state = self.items.get(item.nodeid)
        if state is None:
            return
        if call.when in ("setup", "call") and not rep.passed:
            state.check = False
        if call.when != "teardown":
            return
        del self.items[item.nodeid]
        self.current = None
        if not state.check or not rep.passed:
            return
        after = self._live()
        if after is None:
            return
        import ttalloc
        leaks = [b for b in ttalloc.new_buffers(state.before, after) if b not in state.exempt]
        if leaks:
            item._ttalloc_leaks = leaks     # pytest_runtest_protocol fails the call with it


class _Crash:
    def __init__(self, message):
        self.message = message


class LeakRepr:
    """The failure text of a leaking test; .reprcrash.message is its one-line
    summary (pytest's short test summary shows it)."""

    def __init__(self, leaks, nodeid):
        import ttalloc
        self.text = ttalloc.format_leaks(leaks, nodeid)
        total = sum(b.size for b in leaks)
        self.reprcrash = _Crash(f"leaked {len(leaks)} device buffer"
                                f"{'s' if len(leaks) != 1 else ''} ({total} bytes)")

    def toterminal(self, out):
        for line in self.text.splitlines():
            out.line(line)

    def __str__(self):
        return self.text
