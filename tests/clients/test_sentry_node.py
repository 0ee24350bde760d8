"""The real @sentry/node (npm): a process that dies of an unhandled error."""
from conftest import HERE, need_node_modules, run

TITLE = "RangeError: invalid quantity"


def crash(suture):
    out = run(["node", str(HERE / "apps" / "node_crash.cjs"), suture.dsn()], timeout=60, cwd=HERE)
    # The crash is the point: exit code 1 and the error on stderr.
    assert out.returncode == 1, out.stdout + out.stderr
    assert "invalid quantity" in out.stderr, out.stderr


def test_unhandled_error_is_flushed_before_exit(suture):
    need_node_modules()
    crash(suture)
    # No waiting: the SDK flushed before the process exited, and Suture's 200 means on disk.
    sigs = suture.by_title()
    assert list(sigs) == [TITLE], sigs
    sig = sigs[TITLE]
    assert (sig["exception_type"], sig["count"], sig["releases"]) == ("RangeError", 1, ["api@2.0.1"])
    sample = suture.signature(sig["id"])["samples"][0]
    assert sample["environment"] == "production", sample
    assert sample["frames"][-1]["function"] == "parseQuantity", sample["frames"]

    crash(suture)
    assert suture.counts() == {TITLE: 2}
    assert suture.by_title()[TITLE]["id"] == sig["id"]
