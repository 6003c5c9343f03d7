"""The real Vercel CLI builds the repository offline into ONE function that serves every route.

`vercel build` runs on a copy (it writes pyproject.toml and uv.lock into the tree it builds); the built
function's own handler is then called, under Python 3.12 as on Vercel, with a signed webhook.
On redis only: this checks the build; the webhook runs on every backend in test_webhook.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OWNER_PASSWORD
from tests.stripe_factory import WEBHOOK_SECRET, checkout_session, event, sign

ROOT = Path(__file__).resolve().parent.parent
CLI_DIR = ROOT / ".cache" / "vercel-cli"
VERCEL_VERSION = "64.0.2"


def python312() -> str:
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12")) or [shutil.which("python3.12") or ""]
    if not found[-1]:
        pytest.fail("the Vercel build check needs a Python 3.12 interpreter (Vercel's default): install python3.12")
    return found[-1]


def vercel_cli() -> Path:
    """The pinned Vercel CLI, installed once into .cache/ (npm, from the registry)."""
    binary = CLI_DIR / "node_modules" / ".bin" / "vercel"
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        pytest.fail("the Vercel build check needs Node.js and npm to install the Vercel CLI")
    CLI_DIR.mkdir(parents=True, exist_ok=True)
    (CLI_DIR / "package.json").write_text(
        json.dumps({"name": "vercel-cli-cache", "private": True, "overrides": {"sandbox": "4.5.0"}})
    )
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", f"vercel@{VERCEL_VERSION}"],
        cwd=CLI_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"npm install vercel@{VERCEL_VERSION} failed:\n{result.stderr[-3000:]}"
    return binary


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """`vercel build --standalone` of a copy of the committed tree plus the working changes."""
    copy = tmp_path_factory.mktemp("vercel") / "shop"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (copy / ".vercel").mkdir()
    (copy / ".vercel" / "project.json").write_text(
        json.dumps({"projectId": "prj_local", "orgId": "team_local", "settings": {}})
    )
    env = {
        **os.environ,
        "VERCEL_TELEMETRY_DISABLED": "1",
        "PATH": os.pathsep.join(
            [str(Path(python312()).parent), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),
    }
    result = subprocess.run(
        [str(vercel_cli()), "build", "--yes", "--standalone"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"vercel build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "requirements.txt" in result.stdout + result.stderr, "the build must install requirements.txt"
    return copy / ".vercel" / "output"


def test_one_function_serves_every_route(built):
    functions = sorted(p.name for p in (built / "functions").rglob("*.func"))
    assert functions == ["flask.func"], functions
    routes = json.loads((built / "config.json").read_text())["routes"]
    catch_all = [r for r in routes if r.get("src") == "/(.*)"]
    assert catch_all and catch_all[0]["dest"] == "/flask"
    assert not any("/api/" in r.get("dest", "") for r in routes)  # no api/*.py became a function of its own


def test_templates_static_catalog_and_dependencies_are_bundled(built):
    func = built / "functions" / "flask.func"
    for needed in (
        "app.py",
        "catalog.json",
        "templates/base.html",
        "templates/product.html",
        "static/shop.css",
        "static/cart.js",
        "shop/store/scripts/event_paid.lua",
        "api/openapi.json",
        "_vendor/flask",
        "_vendor/redis",
        "_vendor/stripe",
        "_vendor/upstash_redis",
    ):
        assert (func / needed).exists(), f"{needed} is not in the function"
    config = json.loads((func / ".vc-config.json").read_text())
    assert config["runtime"] == "python3.12"


def test_tests_benchmarks_and_docs_stay_out_of_the_function(built):
    func = built / "functions" / "flask.func"
    shipped = [name for name in ("tests", "bench", "docs", "instance", ".ci") if (func / name).exists()]
    assert shipped == []


def test_no_source_file_is_published_as_static(built):
    static = built / "static"
    published = [p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()] if static.exists() else []
    leaked = [
        p
        for p in published
        if p.endswith(".py")
        or p.split("/")[-1] in ("requirements.txt", "app.py")
        or p.split("/")[-1].startswith(".env")
    ]
    assert leaked == []


def test_the_built_handler_fulfils_a_signed_webhook(built, redis_server):
    redis_server.client().flushall()
    func = built / "functions" / "flask.func"
    body = json.dumps(event("checkout.session.completed", checkout_session(items="balm-tee/M*2")))
    calls = [
        {
            "method": "POST",
            "path": "/api/owner/stock/chapter-i/initialize",
            "headers": {"authorization": f"Bearer {OWNER_PASSWORD}", "content-type": "application/json"},
            "body": json.dumps({"stock": {"balm-tee/M": 5}}),
        },
        {
            "method": "POST",
            "path": "/api/webhooks/stripe",
            "headers": {"stripe-signature": sign(body), "content-type": "application/json"},
            "body": body,
        },
    ]
    script = (
        "import json, sys, vc__handler__python as h\n"
        "for call in json.loads(sys.argv[1]):\n"
        "    print(json.dumps(h.vc_handler({'body': json.dumps(call)}, None)))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": "_vendor",
        "PYTHONDONTWRITEBYTECODE": "1",
        "VERCEL": "1",
        "REDIS_URL": redis_server.url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OWNER_PASSWORD": OWNER_PASSWORD,
        "SECRET_KEY": "vercel-check-" + "k" * 32,  # 32+ characters: Owner Mode opens in production
        "PUBLIC_URL": "https://shop.example",
    }
    result = subprocess.run(
        [python312(), "-c", script, json.dumps(calls)], cwd=func, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.strip().splitlines() if line.startswith("{")]
    assert [a["statusCode"] for a in answers] == [200, 200], answers
    assert json.loads(answers[1]["body"])["status"] == "applied"
    assert redis_server.client().hget("{shop}:stock", "balm-tee/M") == "3"
