"""The manual (mkdocs.yml, docs/) builds with --strict, fetches nothing from the network, and opens in a browser
with no console error. Its commands are checked against the CLI in test_docs.py."""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_report import CHROMIUM, console_errors, run_chromium

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).parent / "netguard"

# What makes a browser fetch a URL: src= of any element, href= of a <link> (stylesheets, icons, preconnect,
# manifests; not rel=canonical/alternate, which are never fetched), CSS @import and url(...), and JS imports,
# importScripts and fetch. A plain <a href="https://..."> is a link the reader may follow, not a request: allowed.
_URL = r"""["']?(https?:)?//"""
FETCHES = [
    re.compile(r"<[a-z]+\b[^>]*\ssrc(set)?\s*=\s*" + _URL, re.I),
    re.compile(r"<link\b(?![^>]*\brel\s*=\s*[\"']?(canonical|alternate)\b)[^>]*\shref\s*=\s*" + _URL, re.I),
    re.compile(r"@import\s+(url\()?\s*" + _URL, re.I),
    re.compile(r"url\(\s*" + _URL, re.I),
    re.compile(r"""(\bimport\s*\(?|\bfrom|importScripts\(|fetch\()\s*["'](https?:)?//""", re.I),
]


def network_requests(site: Path) -> list[str]:
    """Every place in the built site's HTML, CSS and JS that would make a browser fetch from the network."""
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix in (".html", ".css", ".js"):
            text = path.read_text(errors="replace")
            for pattern in FETCHES:
                found += [f"{path.relative_to(site)}: {m.group(0)[:120]}" for m in pattern.finditer(text)]
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """`mkdocs build --strict` into a temporary folder, under the network guard (nothing may leave the host)."""
    out = tmp_path_factory.mktemp("site")
    log = out.parent / "net.log"
    env = dict(os.environ, EDGEYOLO_NET_LOG=str(log), NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join([str(NETGUARD), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    args = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out / "site")]
    p = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert not log.exists(), f"the build reached the network: {log.read_text()}"
    return out / "site"


def test_the_site_builds_strict_with_every_page(site):
    nav = re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages <= set(nav), f"pages not in the nav: {pages - set(nav)}"
    for page in nav:
        assert (site / page).with_suffix(".html").is_file(), page
    # ARCHITECTURE.md is copied in at build time, not duplicated by hand.
    assert not (ROOT / "docs" / "architecture.md").exists()
    assert "Only <code>_backend/</code> imports ultralytics" in (site / "architecture.html").read_text()
    assert not (site / "hooks.py").exists()


def test_the_references_are_generated_from_the_code(site):
    from click.testing import CliRunner

    from edgeyolo.cli import main

    cli = (site / "reference" / "cli.html").read_text()
    for name in main.list_commands(None):
        assert f"<code>edgeyolo {name}</code>" in cli, name
    bench_help = CliRunner().invoke(main, ["bench", "--help"], terminal_width=100).output
    option_line = next(line for line in bench_help.splitlines() if "--min-duration" in line).strip()
    assert option_line.split()[0] in cli
    api = (site / "reference" / "api.html").read_text()
    for name in ("TrainConfig", "export", "benchmark_remote", "run_pipeline", "load_runtime"):
        assert f'id="edgeyolo.api.{name}"' in api, name


def test_the_site_fetches_nothing_from_the_network(site, tmp_path):
    assert network_requests(site) == []
    # The scan catches what it is there for.
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.html").write_text(
        '<a href="https://example.org/">fine</a><script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/css"><link rel="canonical" href="https://example.org/">'
    )
    (bad / "a.css").write_text(
        '@import url("https://fonts.example/f.css"); b{background:url(https://x/y.png)}'
    )
    found = network_requests(bad)
    assert len(found) == 5 and not any("example.org" in f for f in found), (
        found
    )  # @import url(...) counts twice


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (apt install chromium; CI's .ci/run does)"
)
def test_a_page_opens_in_a_headless_browser_without_errors(site, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/guides/raspberry-pi.html"
        # Any name other than 127.0.0.1 fails to resolve: the browser cannot reach the network from this test (what
        # the pages would fetch is checked statically above).
        p = run_chromium(
            url, tmp_path / "p", "--dump-dom", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
        )
    finally:
        server.shutdown()
    assert p.returncode == 0, p.stderr[-2000:]
    assert console_errors(p.stderr) == [], console_errors(p.stderr)
    assert "md-header" in p.stdout and "edgeyolo device setup" in p.stdout
