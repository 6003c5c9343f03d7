"""The app under gunicorn, several worker processes, on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from shop.config import VARIABLES
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def shop_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The settings a test server runs with: the given store, the test secrets, and anything extra."""
    from tests.conftest import OWNER_PASSWORD
    from tests.stripe_factory import WEBHOOK_SECRET

    return {
        "REDIS_URL": redis_url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OWNER_PASSWORD": OWNER_PASSWORD,
        "SECRET_KEY": "test",
        **extra,
    }


def busy_server(store_url: str, stripe_stub, **extra: str) -> LiveServer:
    """gunicorn as the concurrency tests run it (3 workers x 4 threads) on ``store_url``, Stripe calls to the stand-in.

    ``with busy_server(...) as live:`` starts it and stops it when the block ends.
    """
    env = shop_env(store_url, STRIPE_SECRET_KEY="sk_test_x", STRIPE_API_BASE=stripe_stub.base, **extra)
    return LiveServer(env, workers=3, threads=4)


class LiveServer:
    """``gunicorn app:app`` with a clean environment: only the variables given, never a developer's .env."""

    def __init__(self, env: dict[str, str], workers: int = 3, threads: int = 1, root: Path = ROOT):
        self.root = root  # another checkout of the app (bench: an older revision side by side)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="shop-gunicorn-", suffix=".log", delete=False)
        # Every setting is given, empty when unset: a developer's .env never fills one in
        # (python-dotenv leaves variables that exist alone), and "" counts as not set.
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(root),
            **{name: "" for name in VARIABLES},
            **env,
        }
        self.args = [
            sys.executable,
            "-m",
            "gunicorn",
            "app:app",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            "2",
            "--timeout",
            "30",
        ]
        self.process: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        self.process = subprocess.Popen(
            self.args, cwd=self.root, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.output()}")
            try:
                if requests.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within 30 s:\n{self.output()}")

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def initialize_stock(self, chapter: str, stock: dict[str, int]) -> None:
        """Initialize a chapter through the owner API, with the password this server runs with."""
        requests.post(
            f"{self.url}/api/owner/stock/{chapter}/initialize",
            json={"stock": stock},
            headers={"Authorization": f"Bearer {self.env['OWNER_PASSWORD']}"},
            timeout=10,
        ).raise_for_status()

    def worker_pids(self) -> list[int]:
        import psutil

        return [c.pid for c in psutil.Process(self.process.pid).children()]

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
