"""Browser check of ``sensorium-search ui`` (``make ui-check``): the experiment page, as headless Chromium
renders it, lists every trial run of a search, and a screenshot of it is saved.

Not a pytest module (it needs Debian's chromium and ~1.5 min); the REST side of the same check runs in
tests/test_search_run.py. Chromium is driven over the DevTools protocol (aiohttp's websocket client, already
in the stack) because the page nests trial runs under their search run: they are expanded before the
names are looked for.

    python ui_check.py [--runs-dir DIR] [--out runs/ui-check/experiment.png]

Without ``--runs-dir`` a tiny search is run first in a temporary folder.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the test helpers that run a tiny search
from search_builders import run_cli, start_ui, tiny_session, tiny_space, write_space  # noqa: E402

EXPAND = "document.querySelectorAll('button[data-component-id*=\"runnamecellrenderer\"]').forEach(b => b.click())"


def rest(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def tiny_search(folder: Path) -> Path:
    """Run the tiny test search into ``folder/runs``; returns that folder."""
    session = tiny_session(folder / "data")
    config = write_space(folder / "tiny.yaml", tiny_space(session.parent, folder / "cache"))
    rc, out, err = run_cli("search", "launch", str(config), "--runs-dir", str(folder / "runs"))
    if rc != 0:
        raise SystemExit(f"the tiny search failed:\n{out}\n{err}")
    return folder / "runs"


async def render(debug_port: int, page_url: str, names: set[str], timeout_s: float) -> tuple[bytes, set[str]]:
    """Open ``page_url``, expand nested runs, wait for ``names``; return a PNG and the names found."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
            target = next(t for t in await response.json() if t["type"] == "page")
        async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params) -> dict:
                number = next(ids)
                await ws.send_json({"id": number, "method": method, "params": params})
                while True:
                    message = await ws.receive_json()
                    if message.get("id") == number:
                        return message.get("result", {})

            async def text() -> str:
                result = await call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''")
                return result["result"].get("value", "")

            await call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
            await call("Page.navigate", url=page_url)
            found: set[str] = set()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and found != names:
                await asyncio.sleep(1.0)
                await call("Runtime.evaluate", expression=EXPAND)
                await asyncio.sleep(0.5)
                page = await text()
                found = {name for name in names if name in page}
            shot = await call("Page.captureScreenshot", format="png")
            return base64.b64decode(shot["data"]), found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, help="a project run folder holding a finished search")
    parser.add_argument("--out", type=Path, default=Path("runs/ui-check/experiment.png"))
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="ui-check-")
    runs = args.runs_dir.absolute() if args.runs_dir else tiny_search(Path(scratch.name))

    ui, url = start_ui(runs, stdout=subprocess.DEVNULL)
    browser = None
    try:
        experiment = rest(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=sensorium-search")["experiment"]
        runs_found = rest(f"{url}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                                                "filter": "tags.role = 'trial'", "max_results": 1000})
        names = {run["info"]["run_name"] for run in runs_found.get("runs", [])}
        profile = Path(scratch.name) / "chromium"
        browser = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                    "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(60):
            if (profile / "DevToolsActivePort").exists():
                break
            time.sleep(0.5)
        debug_port = int((profile / "DevToolsActivePort").read_text().split()[0])
        page = f"{url}/#/experiments/{experiment['experiment_id']}/runs"
        png, shown = asyncio.run(render(debug_port, page, names, timeout_s=90))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(png)
        print(f"{page}: {len(shown)} of {len(names)} trial runs shown; screenshot {args.out.absolute()}")
        missing = sorted(names - shown)
        if missing or not names:
            print(f"ui-check FAILED: not on the page: {', '.join(missing) or 'no trial runs at all'}")
            return 1
        print("ui-check passed")
        return 0
    finally:
        for proc in (browser, ui):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
        scratch.cleanup()


if __name__ == "__main__":
    sys.exit(main())
