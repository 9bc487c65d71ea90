# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-server's life: one server per socket, stale sockets replaced,
clean SIGTERM/SIGINT (socket removed, exit 0, sanitizers silent), flags."""
import os
import signal
import socket
import subprocess

from conftest import SANITIZER_ENV, Server, binary, socket_answers, wait_for
import wire


def run_server(*args, timeout=20):
    return subprocess.run([binary("src/server/tt-alloc-server"), *args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **SANITIZER_ENV))


def test_second_server_refuses_to_start(server):
    r = run_server("--socket", server.socket)
    assert r.returncode == 1
    assert "already running on " + server.socket in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    # The first one is unharmed and still owns the socket.
    with wire.Client(server.socket, wire.CONSUMER) as c:
        assert c.snapshot()["server_pid"] == server.proc.pid


def test_stale_socket_is_replaced(tmp_path):
    path = tmp_path / "tt-alloc.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(str(path))
    stale.close()   # the file stays, nobody listens
    assert path.exists() and not socket_answers(path)
    srv = Server(tmp_path).start()
    try:
        assert "removed stale socket" in srv.log()
        with wire.Client(srv.socket, wire.CONSUMER) as c:
            assert c.snapshot()["server_pid"] == srv.proc.pid
    finally:
        srv.stop()


def test_path_that_is_not_a_socket_is_left_alone(tmp_path):
    path = tmp_path / "tt-alloc.sock"
    path.write_text("precious")
    r = run_server("--socket", str(path))
    assert r.returncode == 1
    assert "not a socket" in r.stderr
    assert path.read_text() == "precious"


def test_socket_is_world_writable(server):
    assert (os.stat(server.socket).st_mode & 0o777) == 0o666


def test_sigterm_removes_socket_and_exits_0(server):
    with wire.Client(server.socket, wire.PRODUCER) as p:
        p.send_events([wire.alloc(0, wire.DRAM, 1, 10)])
        p.flush()
        with wire.Client(server.socket, wire.CONSUMER) as c:
            c.send(wire.subscribe(10))
            c.read_snapshot()
            server.stop()   # SIGTERM; asserts exit status 0 (LeakSanitizer silent)
            # Snapshots the 10 ms subscription queued before the signal landed
            # (a loaded machine takes longer than 10 ms), then the end.
            while (data := c.recv()) != b"":
                assert wire.SNAP_BEGIN <= wire.HEADER.unpack_from(data)[0] <= wire.SNAP_END
    assert not os.path.exists(server.socket)


def test_sigint_exits_0(tmp_path):
    srv = Server(tmp_path).start()
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(timeout=20) == 0
    assert not os.path.exists(srv.socket)
    assert "stopping (Interrupt)" in srv.log()
    srv.proc = None


def test_socket_of_another_server_is_not_removed(tmp_path):
    """If our socket file was replaced, exit leaves the new one alone."""
    srv = Server(tmp_path).start()
    os.unlink(srv.socket)
    other = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    other.bind(srv.socket)
    try:
        srv.stop()
        assert os.path.exists(srv.socket)
    finally:
        other.close()


def test_bad_flags_exit_2():
    for args in (["--bogus"], ["--max-clients", "0"], ["--max-clients", "x"],
                 ["--max-buffers", "-5"], ["--max-queue", "12abc"], ["extra"],
                 ["--socket"]):
        r = run_server(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("tt-alloc-server: error: "), (args, r.stderr)
        assert r.stderr.endswith("(tt-alloc-server --help)\n"), (args, r.stderr)


def test_help_and_version():
    r = run_server("--help")
    assert r.returncode == 0
    for flag in ("--socket", "--sysroot", "--max-clients", "--max-buffers", "--max-queue"):
        assert flag in r.stdout
    r = run_server("--version")
    assert r.returncode == 0 and r.stdout.strip() == "tt-alloc-server 0.1.0"


def test_socket_path_too_long(tmp_path):
    r = run_server("--socket", "/tmp/" + "x" * 200)
    assert r.returncode == 1
    assert "longer than" in r.stderr


def test_env_socket_is_used(tmp_path):
    path = str(tmp_path / "env.sock")
    env = dict(os.environ, **SANITIZER_ENV, TT_ALLOC_SOCKET=path)
    proc = subprocess.Popen([binary("src/server/tt-alloc-server")], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: socket_answers(path), what="the socket from TT_ALLOC_SOCKET")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        proc.stderr.close()


def test_systemd_socket_activation(tmp_path):
    """systemd-socket-activate (from systemd) listens and hands the socket
    over on the first connection, as tt-alloc-server.socket does."""
    import shutil
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        import pytest
        pytest.skip("systemd-socket-activate is not installed")
    path = str(tmp_path / "activated.sock")
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([activate, "--seqpacket", "-l", path,
                             binary("src/server/tt-alloc-server"), "-v"],
                            stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, **SANITIZER_ENV))
    log.close()
    try:
        wait_for(lambda: os.path.exists(path), what="the activation socket")
        with wire.Client(path, wire.PRODUCER) as p:     # starts the server
            assert p.ack["server_pid"] > 0
            p.send_events([wire.alloc(0, wire.DRAM, 1, 321)])
            p.flush()
            with wire.Client(path, wire.CONSUMER) as c:
                assert wire.process_bytes(c.snapshot(), os.getpid()) == 321
        text = (tmp_path / "server.log").read_text()
        assert "(from systemd)" in text, text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, (tmp_path / "server.log").read_text()
    # The socket belongs to systemd: the server must not have removed it.
    assert os.path.exists(path)
