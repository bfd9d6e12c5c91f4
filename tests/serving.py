"""A real `atlas-orch serve` on a free port for API, websocket and browser tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import REPO

ADMIN = "admin-token-for-tests"
READER = "read-token-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, db_url: str, log_dir: Path, *args: str,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "serve.log"
        full = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "ATLAS_ORCH_DATABASE_URL")}
        full.update({"DATABASE_URL": db_url, "ATLAS_ORCH_ADMIN_TOKEN": ADMIN,
                     "ATLAS_ORCH_READ_TOKEN": READER, **(env or {})})
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "listener", "serve", "--port", str(self.port), *args],
            env=full, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self._log,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/api/health/live")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log_path.read_text()}")
            time.sleep(0.1)
        raise RuntimeError("serve did not start")

    def call(self, method: str, path: str, token: str | None = None,
             body: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(30)
        finally:
            self._log.close()
