"""A small Python service that reports errors with the real sentry-sdk.

Usage: sentry_py_app.py DSN br|gzip

Sends, in order: the same ValueError three times (one group), a
ZeroDivisionError, a RuntimeError raised from a KeyError (a chain), and
the same capture_message twice. Prints the compression the SDK chose, so
the test can check that the transport really used it.
"""
import sys

import sentry_sdk

dsn, algo = sys.argv[1], sys.argv[2]
sentry_sdk.init(
    dsn=dsn,
    release="shop@1.4.2",
    environment="staging",
    # With the brotli module installed sentry-sdk picks "br" by itself;
    # "gzip" must be asked for.
    _experiments={} if algo == "br" else {"transport_compression_algo": "gzip"},
    default_integrations=False,  # only what we send explicitly: no logging/atexit extras
)
client = sentry_sdk.get_client()
print("compression", client.transport._compression_algo, flush=True)


def load_order(order_id):
    raise ValueError("order not found")


def average(values):
    return sum(values) / len(values)


def charge(card):
    try:
        return card["number"]
    except KeyError as error:
        raise RuntimeError("payment failed") from error


for order_id in (1, 2, 3):
    try:
        load_order(order_id)
    except ValueError:
        sentry_sdk.capture_exception()

try:
    average([])
except ZeroDivisionError:
    sentry_sdk.capture_exception()

try:
    charge({})
except RuntimeError:
    sentry_sdk.capture_exception()

for _ in range(2):
    sentry_sdk.capture_message("checkout degraded", level="warning")

# Waits until every event got its reply (an HTTP 200 from Suture means it is on disk).
sentry_sdk.flush(timeout=10)
