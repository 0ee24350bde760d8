"""A real GELF logging library (pygelf, PyPI) over UDP: a small uncompressed
message, and a large one that pygelf compresses (zlib) and splits into chunks."""
import logging
import os

from pygelf import GelfUdpHandler

SMALL = "disk quota exceeded for uploads"
LARGE = "report upload rejected"


def logger_for(suture, name, **handler_args):
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(GelfUdpHandler(host="127.0.0.1", port=suture.udp_port, include_extra_fields=True, **handler_args))
    return logger


def test_small_plain_and_large_chunked_compressed(suture):
    plain = logger_for(suture, "gelf.plain", compress=False)
    chunked = logger_for(suture, "gelf.chunked", compress=True, chunk_size=1300)

    # A warning is a log line, not an exception: it must not become a signature.
    plain.warning("cache warming took longer than usual")
    plain.error(SMALL)
    # 24 KiB of random hex in an additional field: ~12 KiB after zlib, so ~10 chunks.
    payload = os.urandom(12 * 1024).hex()
    chunked.error(LARGE, extra={"payload": payload})
    plain.error(SMALL)

    counts = suture.wait_for_total(3)
    titles = {t: c for t, c in counts.items()}
    small = [t for t in titles if t.endswith(SMALL)]
    large = [t for t in titles if t.endswith(LARGE)]
    assert len(small) == 1 and len(large) == 1 and len(titles) == 2, counts
    assert titles[small[0]] == 2 and titles[large[0]] == 1, counts

    # Only the reassembled, inflated datagram carries the message: its landing
    # is the proof. Its level is the logger's.
    sample = suture.signature(suture.by_title()[large[0]]["id"])["samples"][0]
    assert sample.get("level") in ("error", "err", "3"), sample.get("level")
