"""Real browsers: @sentry/browser (npm, bundled by esbuild) and Suture's
/capture.js snippet, each on a page served by the test to headless Debian
chromium (driven by playwright-core), pages that throw.

The page's origin (the test's static server) differs from Suture's, so the
reports are cross-origin requests: CORS must let them through."""
import functools
import http.server
import shutil
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import BUILD, HERE, need_node_modules

APPS = HERE / "apps"
# Chromium's message for `({}).items.map` (the page reads a missing property),
# with the quoted name masked as Suture masks quoted values in titles.
TYPE_ERROR = "TypeError: Cannot read properties of undefined (reading <q>)"


@pytest.fixture
def site(tmp_path):
    """A static server for the page and the bundle, on its own port."""
    need_node_modules()
    bundle = BUILD / "sentry-browser.js"
    if not bundle.exists():
        pytest.fail(f"{bundle} is missing: run tests/clients/run.sh (it bundles @sentry/browser with esbuild)")
    shutil.copy(bundle, tmp_path)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def open_page(suture, url, expect_total, timeout=20.0):
    """Loads `url` in chromium and keeps it open until `expect_total` events
    have landed in Suture (or the timeout). Returns {title: count}."""
    browser = subprocess.Popen(
        ["node", str(APPS / "browser.mjs"), url], cwd=HERE,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        counts = suture.wait_for_total(expect_total, timeout=timeout)
    finally:
        out, err = browser.communicate("", timeout=30)
    assert browser.returncode == 0 and "loaded" in out, f"browser failed: {out}\n{err}"
    print(err)
    return counts, err


def test_sentry_browser_uncaught_error(suture, site):
    root, base = site
    shutil.copy(APPS / "sentry_page.html", root / "index.html")
    url = f"{base}/index.html?dsn={urllib.parse.quote(suture.dsn())}"

    counts, log = open_page(suture, url, 1)
    assert counts == {TYPE_ERROR: 1}, log
    sig = suture.by_title()[TYPE_ERROR]
    assert sig["exception_type"] == "TypeError"
    assert sig["releases"] == ["web@3.1.0"]
    sample = suture.signature(sig["id"])["samples"][0]
    assert any(f.get("function") == "renderCart" for f in sample["frames"]), sample

    # The same throw from a second page load: the same signature, count 2.
    counts, log = open_page(suture, url, 2)
    assert counts == {TYPE_ERROR: 2}, log
    assert suture.by_title()[TYPE_ERROR]["id"] == sig["id"]


def test_capture_snippet_error_and_unhandled_rejection(suture, site):
    root, base = site
    page = (APPS / "capture_page.html").read_text().replace("SUTURE", suture.base)
    (root / "index.html").write_text(page)

    expected = {TYPE_ERROR: 1, "Error: cart request failed": 1}
    counts, log = open_page(suture, f"{base}/index.html", 2)
    assert counts == expected, log
    sigs = suture.by_title()
    assert sigs[TYPE_ERROR]["exception_type"] == "TypeError"
    assert sigs["Error: cart request failed"]["exception_type"] == "Error"
    assert sigs[TYPE_ERROR]["releases"] == ["web@3.1.0"], sigs[TYPE_ERROR]

    # Reload: the same two signatures again.
    counts, log = open_page(suture, f"{base}/index.html", 4)
    assert counts == {title: 2 for title in expected}, log
    assert {t: s["id"] for t, s in suture.by_title().items()} == {t: s["id"] for t, s in sigs.items()}
