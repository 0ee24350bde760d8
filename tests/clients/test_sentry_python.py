"""The real Python sentry-sdk (PyPI) against Suture's Sentry endpoints."""
import json
import sys

from conftest import HERE, run

APP = HERE / "apps" / "sentry_py_app.py"

# What one run of the app must leave: {title: (exception_type, count)}.
EXPECTED = {
    "ValueError: order not found": ("ValueError", 3),
    "ZeroDivisionError: division by zero": ("ZeroDivisionError", 1),
    # A chain: the raised (outer) exception names the group, as in Sentry.
    "RuntimeError: payment failed": ("RuntimeError", 1),
}
MESSAGE = "checkout degraded"


def run_app(suture, algo):
    out = run([sys.executable, str(APP), suture.dsn(), algo], timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"compression {algo}" in out.stdout, out.stdout + out.stderr


def check(suture, runs):
    sigs = suture.by_title()
    message_titles = [t for t in sigs if t.endswith(MESSAGE)]
    assert len(message_titles) == 1, sigs.keys()
    assert set(sigs) == set(EXPECTED) | set(message_titles), sigs.keys()
    for title, (exc_type, count) in EXPECTED.items():
        assert sigs[title]["exception_type"] == exc_type, sigs[title]
        assert sigs[title]["count"] == count * runs, sigs[title]
        assert sigs[title]["releases"] == ["shop@1.4.2"], sigs[title]
    assert sigs[message_titles[0]]["count"] == 2 * runs
    return {title: s["id"] for title, s in sigs.items()}


def test_brotli_then_gzip_land_as_the_same_signatures(suture):
    run_app(suture, "br")
    ids = check(suture, runs=1)
    # The same throws, sent gzip-compressed by a new process: same ids, counts doubled.
    run_app(suture, "gzip")
    assert check(suture, runs=2) == ids


def test_chain_release_environment_and_message_are_kept(suture):
    run_app(suture, "gzip")
    sigs = suture.by_title()

    chained = suture.signature(sigs["RuntimeError: payment failed"]["id"])
    sample = json.dumps(chained["samples"])
    assert "KeyError" in sample, "the cause of the chain is lost: " + sample[:2000]

    value_error = suture.signature(sigs["ValueError: order not found"]["id"])
    first = value_error["samples"][0]
    assert first["release"] == "shop@1.4.2" and first["environment"] == "staging", first
    # The crashing frame is the app's own function.
    assert first["frames"][-1]["function"] == "load_order", first["frames"]

    message = next(s for t, s in sigs.items() if t.endswith(MESSAGE))
    detail = suture.signature(message["id"])
    assert detail["samples"][0]["level"] == "warning", detail["samples"][0]
    assert detail["sample_message"] == MESSAGE
