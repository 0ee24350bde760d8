"""An OpenAI-compatible stand-in model for the soak run.

`POST /v1/chat/completions` answers the analyzer's prompt with one group
holding every exception index it was shown, and the triage prompt with an
`unrelated` verdict, after a short think (LATENCY_S), so the LLM client's
real path (HTTP, parsing, validation, budgets) runs for the whole hour
without a model. Usage: python3 llm_stub.py PORT
"""

import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LATENCY_S = 0.2


def answer(system: str, user: str) -> str:
    if "triage step" in system:
        return json.dumps({
            "decision": "unrelated",
            "confidence": 0.3,
            "reasoning": "soak stub: no line of the diff is named",
            "signatures": [],
            "suspect_lines": [],
        })
    count = re.search(r"(\d+) exceptions passed the gate", user)
    n = int(count.group(1)) if count else 1
    return json.dumps({"groups": [{
        "root_cause": "soak stub: every flagged exception in one group",
        "severity": "medium",
        "affected_exceptions": list(range(n)),
        "suggested_fix": "none (soak run)",
        "files_likely_involved": [],
    }]})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        messages = request.get("messages", [])
        text = [m.get("content") or "" for m in messages]
        system = text[0] if text else ""
        user = text[-1] if text else ""
        time.sleep(LATENCY_S)
        body = json.dumps({
            "id": "soak", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "soak"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer(system, user)}}],
            "usage": {"prompt_tokens": len(system + user) // 4, "completion_tokens": 50,
                      "total_tokens": len(system + user) // 4 + 50},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
