"""A throwaway PostgreSQL server for tests: Debian's package, run as a non-root user.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the
`postgres` user the Debian package creates. In CI (CI=true) a missing server is
installed with apt-get; elsewhere the tests that need it skip, saying why.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DB_USER = "synthloom"
DB_NAME = "synthloom_test"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _install() -> None:
    """apt-get install postgresql (CI only, as root)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env, capture_output=True
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh cluster on a free loopback port; yields its DSN; stops and removes it."""
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI") != "true":
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql); CI installs it")
        _install()
        bindir = _bindir()
        assert bindir is not None, "apt-get installed postgresql but initdb is not found"
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="synthloom-pg-", dir="/tmp"))
    if root:
        account = pwd.getpwnam("postgres")
        os.chown(base, account.pw_uid, account.pw_gid)
    base.chmod(0o755)

    def as_owner(*cmd: str) -> None:
        argv = ["runuser", "-u", "postgres", "--", *cmd] if root else list(cmd)
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=base)
        assert done.returncode == 0, f"{' '.join(cmd)} failed: {done.stderr or done.stdout}"

    data, port = base / "data", _free_port()
    as_owner(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", DB_USER, "--no-sync")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = str(base / "server.log")
    as_owner(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        as_owner(
            str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", DB_USER, DB_NAME
        )
        yield f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"
    finally:
        as_owner(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
