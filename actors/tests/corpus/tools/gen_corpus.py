#!/usr/bin/env python3
"""Generates actors/tests/corpus/grouping.json: many variants of one bug per
group, and distinct bugs with similar text in different groups. Seeded, so the
output is reproducible. Not part of the crate; the JSON is the artifact."""
import json
import random

rng = random.Random(20260105)
entries = []


def add(group, event, note=None):
    entry = {"group": group}
    if note:
        entry["note"] = note
    entry["event"] = event
    entries.append(entry)


def hexs(n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def bundle_hash():
    while True:
        h = hexs(8)
        if any(c.isdigit() for c in h) and any(c.isalpha() for c in h):
            return h


def uuid():
    return f"{hexs(8)}-{hexs(4)}-4{hexs(3)}-a{hexs(3)}-{hexs(12)}"


def ip4():
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ip6():
    return f"2001:db8:{hexs(4)}::{rng.randint(1, 9999):x}"


def email():
    return f"{rng.choice(['alice', 'bob', 'carol', 'dave.smith', 'eve+shop'])}{rng.randint(1, 999)}@{rng.choice(['example.com', 'mail.example.org', 'corp.example.io'])}"


def iso():
    return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"


def js_root():
    return rng.choice([
        f"/srv/shop/releases/2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 235959):06d}",
        "/home/alice/code/shop",
        "/home/bob/shop",
        "/usr/src/app",
    ])


def cdn():
    return rng.choice(["https://shop.example.com", "https://cdn-2.example.net/shop", "https://staging.shop.example.com"])


# ---------------------------------------------------------------- JS browser

def chrome_cart_stack(prop, crash_fn, host, h, line):
    return (
        f"TypeError: Cannot read properties of undefined (reading '{prop}')\n"
        f"    at {crash_fn} ({host}/static/js/main.{h}.js:2:{line})\n"
        f"    at CartView.render ({host}/static/js/main.{h}.js:2:{line + 311})\n"
        f"    at HTMLButtonElement.onClick ({host}/static/js/main.{h}.js:2:{line + 977})\n"
        f"    at {host}/static/js/vendor.{bundle_hash()}.js:1:{rng.randint(100, 9999)}"
    )


def firefox_cart_stack(crash_fn, host, h, line):
    return (
        f"{crash_fn}@{host}/static/js/main.{h}.js:2:{line}\n"
        f"render@{host}/static/js/main.{h}.js:2:{line + 311}\n"
        f"onClick@{host}/static/js/main.{h}.js:2:{line + 977}\n"
        f"@{host}/static/js/vendor.{bundle_hash()}.js:1:{rng.randint(100, 9999)}"
    )


for i in range(6):
    h, host, line = bundle_hash(), cdn(), rng.randint(1000, 90000)
    if i < 4:
        add("js-cart-missing-id", {
            "message": f"Cannot read properties of undefined (reading 'id')",
            "raw_stack": chrome_cart_stack("id", "CartView.loadCart", host, h, line),
            "url": f"{host}/cart/{rng.randint(1, 99999)}", "user_agent": "Chrome/131",
        }, note="Redeploys change bundle hashes, CDN hosts and columns; none may split the group." if i == 0 else None)
    else:
        add("js-cart-missing-id", {
            "exception_type": "TypeError",
            "message": 'can\'t access property "id", cart is undefined',
            "raw_stack": firefox_cart_stack("loadCart", host, h, line),
            "user_agent": "Firefox/133",
        }, note="Firefox words the message differently and prints no receiver (`loadCart` vs `CartView.loadCart`): frames group it with Chrome's." if i == 4 else None)

for i in range(4):
    h, host, line = bundle_hash(), cdn(), rng.randint(1000, 90000)
    add("js-cart-missing-name", {
        "message": "Cannot read properties of undefined (reading 'name')",
        "raw_stack": chrome_cart_stack("name", "CartView.renderItem", host, h, line),
    }, note="Same words as js-cart-missing-id but it crashes in renderItem: a different bug. With a stack the message is not hashed at all." if i == 0 else None)

for i in range(4):
    h = bundle_hash()
    depth = rng.randint(3, 40)
    frames = [{"filename": f"https://shop.example.com/assets/index-{h}.js", "function": "main", "lineno": 1, "colno": 10}]
    frames += [{"filename": f"https://shop.example.com/assets/index-{h}.js", "function": "walkTree", "lineno": 1, "colno": rng.randint(100, 9000)}] * depth
    add("js-tree-recursion", {
        "exception_type": "RangeError", "message": "Maximum call stack size exceeded", "frames": frames,
    }, note="Recursion depth varies per occurrence; repeated frames collapse to one." if i == 0 else None)

for i in range(4):
    vite = rng.choice(["DiwrgTda", "B7xQk2Lm", "CqPz9aRt", "Xy3kLmNo"])
    add("js-checkout-total-nan", {
        "exception_type": "Error",
        "message": f"Invalid total NaN for cart {uuid()}",
        "frames": [
            {"filename": f"https://shop.example.com/assets/index-{vite}.js", "function": "Checkout.submit", "lineno": 1, "colno": rng.randint(1, 9999)},
            {"filename": f"https://shop.example.com/assets/checkout-{vite}.js", "function": "computeTotal", "lineno": 1, "colno": rng.randint(1, 9999)},
        ],
    }, note="Vite names chunks with 8-char base64 hashes, which need not contain a digit." if i == 0 else None)

for i in range(3):
    add("js-script-error", {"message": "Script error.", "url": f"https://shop.example.com/p/{rng.randint(1, 999)}",
                            "user": {"id": str(rng.randint(1, 10**6))}},
        note="Cross-origin errors carry nothing but this text: message-based." if i == 0 else None)

for i in range(3):
    add("js-resize-observer", {"message": "ResizeObserver loop completed with undelivered notifications."})

for prop in ["id", "name", "email", "total"]:
    add("js-undefined-property-no-stack", {
        "message": f"Uncaught TypeError: Cannot read properties of undefined (reading '{prop}')",
    }, note="Quoted values are masked, so without a stack these group together whatever the property. That is the chosen trade-off: quoted text is usually data." if prop == "id" else None)

for i in range(3):
    add("js-json-parse", {
        "exception_type": "SyntaxError",
        "message": rng.choice([
            "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
            "Unexpected token 'u', \"upstream c\"... is not valid JSON",
            "Unexpected token '<', \"<html><hea\"... is not valid JSON",
        ]),
        "module": "api/client", "function": "parseResponse",
    })

for i in range(4):
    h = bundle_hash()
    add("js-chunk-load", {
        "exception_type": "ChunkLoadError",
        "message": f"Loading chunk {rng.randint(100, 999)} failed. ({cdn()}/static/js/{rng.randint(100, 999)}.{h}.chunk.js)",
        "frames": [{"filename": f"{cdn()}/static/js/runtime.{bundle_hash()}.js", "function": "__webpack_require__.f.j", "lineno": 1, "colno": rng.randint(100, 999)}],
    })

# ---------------------------------------------------------------- Node

def node_user_stack(root, line, msg):
    return (
        f"TypeError: {msg}\n"
        f"    at getUser ({root}/src/services/users.js:{line}:{rng.randint(5, 40)})\n"
        f"    at async UsersController.show ({root}/src/controllers/users.js:{line + 13}:{rng.randint(5, 40)})\n"
        f"    at async Layer.handle [as handle_request] ({root}/node_modules/express/lib/router/layer.js:95:5)\n"
        f"    at next ({root}/node_modules/express/lib/router/route.js:149:13)\n"
        f"    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"
    )


for i in range(6):
    add("node-get-user-null", {
        "raw_stack": node_user_stack(js_root(), rng.randint(10, 200), f"Cannot read properties of null (reading 'email')"),
        "message": "", "service": "api", "release": f"2026.1.{i}",
    }, note="Release directories, home directories and line numbers vary; the group is the frames." if i == 0 else None)

for i in range(5):
    root = js_root()
    add("node-db-timeout", {
        "exception_type": "Error",
        "message": f"Connection terminated due to connection timeout after {rng.randint(1000, 30000)}ms (pool {hexs(6)}, waiting {rng.randint(1, 90)})",
        "frames": [
            {"filename": f"{root}/src/repositories/orders.js", "function": "OrdersRepository.findById", "lineno": rng.randint(10, 99)},
            {"filename": f"{root}/src/db/pool.js", "function": "Object.query", "lineno": rng.randint(10, 99)},
            {"filename": f"{root}/node_modules/pg-pool/index.js", "function": "Timeout._onTimeout", "lineno": 45},
        ],
    })

for exc, group in [("TypeError", "node-parse-typeerror"), ("RangeError", "node-parse-rangeerror")]:
    for i in range(3):
        root = js_root()
        add(group, {
            "exception_type": exc, "message": "invalid input",
            "frames": [{"filename": f"{root}/src/lib/parse.js", "function": "parseQuantity", "lineno": rng.randint(1, 99)}],
        }, note="Same message and frames, different exception type: different bugs." if i == 0 else None)

for fn, group in [("charge", "node-payments-charge"), ("refund", "node-payments-refund")]:
    for i in range(3):
        root = js_root()
        add(group, {
            "exception_type": "PaymentError", "message": f"card declined for order {rng.randint(1000, 99999)}",
            "frames": [
                {"filename": f"{root}/src/routes/payments.js", "function": "Router.post", "lineno": rng.randint(1, 99)},
                {"filename": f"{root}/src/services/payments.js", "function": f"PaymentService.{fn}", "lineno": rng.randint(1, 99)},
            ],
        }, note="Same type and message, different crashing in-app function: different bugs." if i == 0 else None)

for i in range(4):
    addr = rng.choice([ip4() + f":{rng.choice([5432, 6379, 3306])}", f"[{ip6()}]:{rng.choice([5432, 6379])}"])
    add("node-econnrefused", {
        "exception_type": "Error", "message": f"connect ECONNREFUSED {addr}",
        "raw_stack": f"Error: connect ECONNREFUSED {addr}\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)",
    }, note="Only node internals on the stack: no in-app frame, so message-based; the address is masked." if i == 0 else None)

for i in range(4):
    add("node-validation", {
        "message": f"ValidationError: order {rng.randint(1, 99999)} has invalid email {email()}",
        "raw_stack": (
            f"ValidationError: order 1 has invalid email x@y.io\n"
            f"    at validateOrder ({js_root()}/src/validators/order.js:{rng.randint(1, 99)}:{rng.randint(1, 40)})\n"
            f"    at OrdersService.create ({js_root()}/src/services/orders.js:{rng.randint(1, 99)}:{rng.randint(1, 40)})"
        ) if i % 2 == 0 else None,
        "frames": [] if i % 2 == 0 else [
            {"filename": f"{js_root()}/src/services/orders.js", "function": "OrdersService.create", "lineno": rng.randint(1, 99), "in_app": True},
            {"filename": f"{js_root()}/src/validators/order.js", "function": "validateOrder", "lineno": rng.randint(1, 99), "in_app": True},
        ],
    }, note="Half send a raw stack, half structured frames; the type comes from the message." if i == 0 else None)

# ---------------------------------------------------------------- Python

def py_root():
    return rng.choice(["/srv/shop", "/home/carol/projects/shop", "/app", "/srv/shop/releases/20260105093000"])


def py_tb(frames, last):
    lines = ["Traceback (most recent call last):"]
    for f, ln, fn, src in frames:
        lines.append(f'  File "{f}", line {ln}, in {fn}')
        lines.append(f"    {src}")
    lines.append(last)
    return "\n".join(lines)


for i in range(5):
    root = py_root()
    venv = rng.choice(["/usr/lib/python3.12", "/home/carol/.venv/lib/python3.12/site-packages", "/usr/local/lib/python3.11"])
    add("py-order-keyerror", {
        "raw_stack": py_tb([
            (f"{venv}/django/core/handlers/base.py", rng.randint(100, 200), "_get_response", "response = wrapped_callback(request)"),
            (f"{root}/shop/views/orders.py", rng.randint(10, 90), "order_detail", "total = summarize(order)"),
            (f"{root}/shop/services/summary.py", rng.randint(10, 90), "summarize", "return data['user_id']"),
        ], f"KeyError: '{rng.choice(['user_id', 'customer_id', 'id'])}'"),
        "message": "",
    }, note="Python prints the crashing frame last; stdlib and site-packages frames are not in-app." if i == 0 else None)

for fn, group in [("parse_amount", "py-parse-amount"), ("parse_quantity", "py-parse-quantity")]:
    for i in range(3):
        add(group, {
            "raw_stack": py_tb([
                (f"{py_root()}/shop/api/forms.py", rng.randint(1, 99), "clean", "value = " + fn + "(raw)"),
                (f"{py_root()}/shop/billing/parse.py", rng.randint(1, 99), fn, "return int(raw)"),
            ], f"ValueError: invalid literal for int() with base 10: '{rng.choice(['abc', '12x', ''])}'"),
        })

for i in range(4):
    root = py_root()
    add("py-db-unavailable", {
        "raw_stack": py_tb([
            (f"{root}/shop/db.py", rng.randint(1, 60), "connect", "conn = psycopg2.connect(dsn)"),
        ], f"psycopg2.OperationalError: could not connect to server at {ip4()}:5432") +
        "\n\nThe above exception was the direct cause of the following exception:\n\n" +
        py_tb([
            (f"{root}/shop/tasks.py", rng.randint(1, 60), "run", "db.session()"),
            (f"{root}/shop/db.py", rng.randint(61, 99), "session", "raise DatabaseUnavailable(str(e)) from e"),
        ], f"shop.errors.DatabaseUnavailable: database at {ip4()} unreachable after {rng.randint(1, 9)} attempts"),
    }, note="Chained traceback: the last exception raised is the one grouped." if i == 0 else None)

for i in range(4):
    depth = rng.randint(2, 30)
    frames = [(f"{py_root()}/shop/categories.py", 40, "build_tree", "return build_tree(children)")] * depth
    add("py-category-recursion", {
        "raw_stack": py_tb([(f"{py_root()}/shop/cli.py", 9, "main", "build_tree(root)")] + frames,
                           "RecursionError: maximum recursion depth exceeded in comparison"),
    })

for i in range(4):
    path = rng.choice(["/srv/shop", "/opt/shop-" + hexs(10), "/home/dave/shop"])
    add("py-welcome-email", {
        "exception_type": "smtplib.SMTPRecipientsRefused",
        "message": f"{{'{email()}': (550, b'5.1.1 user unknown')}}",
        "frames": [
            {"module": "shop.tasks.email", "filename": f"{path}/shop/tasks/email.py", "function": "send_welcome", "lineno": rng.randint(1, 99), "in_app": True},
            {"module": "smtplib", "filename": "/usr/lib/python3.12/smtplib.py", "function": "sendmail", "lineno": 880, "in_app": False},
        ],
    }, note="Sentry-style frames with modules: the module names the code wherever it is installed." if i == 0 else None)

for i in range(3):
    add("py-sort-lambda", {
        "exception_type": "TypeError", "message": "'<' not supported between instances of 'NoneType' and 'int'",
        "frames": [
            {"filename": f"{py_root()}/shop/reports.py", "function": "top_products", "lineno": rng.randint(1, 99)},
            {"filename": f"{py_root()}/shop/reports.py", "function": "<lambda>", "lineno": rng.randint(1, 99)},
        ],
    })

for i in range(4):
    add("py-log-email-retry", {
        "exception_type": None if i % 2 else "MailError",
        "message": ("MailError: " if i % 2 else "") + f"Failed to send email to {email()} after {rng.randint(2, 9)} retries (last error at {iso()})",
        "module": "shop.mailer", "function": "send", "level": "error",
    }, note="Logger events: no stack, so type + masked message + the logger's module and function. Type named or inferred from the message prefix: same group." if i == 0 else None)

for i in range(3):
    add("py-log-email-retry-digest", {
        "exception_type": "MailError",
        "message": f"Failed to send email to {email()} after {rng.randint(2, 9)} retries (last error at {iso()})",
        "module": "shop.mailer", "function": "send_digest", "level": "error",
    }, note="Same message as py-log-email-retry, logged from another function: a different call site." if i == 0 else None)

# ---------------------------------------------------------------- Java

def java_root_stack(exc, msg, frames, cause=None):
    lines = [f"Exception in thread \"{rng.choice(['main', 'http-nio-8080-exec-' + str(rng.randint(1, 20))])}\" {exc}: {msg}"]
    lines += [f"\tat {f}" for f in frames]
    if cause:
        lines.append(f"Caused by: {cause}")
        lines.append("\tat com.acme.db.Pool.get(Pool.java:77)")
    return "\n".join(lines)


for i in range(5):
    add("java-order-total-npe", {
        "raw_stack": java_root_stack(
            "java.lang.NullPointerException",
            f'Cannot invoke "com.acme.shop.Customer.getEmail()" because "customer" is null',
            [
                f"com.acme.shop.OrderService.total(OrderService.java:{rng.randint(40, 120)})",
                f"com.acme.shop.OrderController.show(OrderController.java:{rng.randint(20, 60)})",
                f"jdk.internal.reflect.GeneratedMethodAccessor{rng.randint(1, 300)}.invoke(Unknown Source)",
                "java.base/java.lang.reflect.Method.invoke(Method.java:568)",
                "org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:205)",
            ]),
    })

for i in range(4):
    add("java-load-lambda", {
        "raw_stack": java_root_stack(
            "java.lang.IllegalStateException", f"order {rng.randint(1, 99999)} missing",
            [
                f"com.acme.shop.OrderService.lambda$load${rng.randint(0, 4)}(OrderService.java:{rng.randint(50, 70)})",
                "java.base/java.util.Optional.orElseThrow(Optional.java:403)",
                f"com.acme.shop.OrderService.load(OrderService.java:{rng.randint(40, 49)}) ~[shop.jar:{rng.randint(1, 9)}.0]",
                f"com.acme.shop.OrderService$$EnhancerBySpringCGLIB$${hexs(8)}.load(<generated>)",
            ]),
    }, note="javac renumbers lambdas and CGLIB proxies get new hashes per build: masked." if i == 0 else None)

for i in range(3):
    add("java-inventory-caused-by", {
        "raw_stack": java_root_stack(
            "com.acme.shop.InventoryException", f"sku {rng.randint(10000, 99999)} unavailable",
            [f"com.acme.shop.Inventory.reserve(Inventory.java:{rng.randint(10, 99)})",
             f"com.acme.shop.Inventory$1.run(Inventory.java:{rng.randint(100, 120)})"],
            cause=f"java.sql.SQLTransientConnectionException: pool {hexs(8)} timed out after {rng.randint(1000, 30000)}ms"),
    }, note="The first exception block is grouped; `Inventory$1` anonymous classes are masked." if i == 0 else None)

for i in range(3):
    add("java-reserve-other-exception", {
        "raw_stack": java_root_stack(
            "java.lang.IllegalArgumentException", f"sku {rng.randint(10000, 99999)} unavailable",
            [f"com.acme.shop.Inventory.reserve(Inventory.java:{rng.randint(10, 99)})",
             f"com.acme.shop.Inventory$1.run(Inventory.java:{rng.randint(100, 120)})"]),
    }, note="Same frames as java-inventory-caused-by, different exception class." if i == 0 else None)

# ---------------------------------------------------------------- Go

def go_stack(msg, fn, file):
    gid = rng.randint(1, 5000)
    return (
        f"panic: {msg}\n\ngoroutine {gid} [running]:\n"
        f"github.com/acme/shop/cart.{fn}(0xc{hexs(9)}, 0x{rng.randint(1, 99):x})\n"
        f"\t{rng.choice(['/home/erin/go/src', '/build', '/srv/build/' + hexs(10)])}/shop/cart/{file}:{rng.randint(10, 99)} +0x{hexs(2)}\n"
        f"main.main()\n\t/build/shop/main.go:{rng.randint(5, 30)} +0x{hexs(2)}\nexit status 2"
    )


for i in range(4):
    n = rng.randint(3, 50)
    add("go-cart-index", {"raw_stack": go_stack(f"runtime error: index out of range [{n}] with length {rng.randint(0, n)}", "(*Cart).Item", "cart.go")})
for i in range(3):
    add("go-cart-nil-map", {"raw_stack": go_stack("assignment to entry in nil map", "(*Cart).Add", "cart.go")})

# ---------------------------------------------------------------- fingerprints

for i in range(4):
    add("fp-checkout-timeout", {
        "exception_type": rng.choice(["TimeoutError", "AbortError", "Error"]),
        "message": rng.choice(["checkout timed out", f"request to {ip4()} aborted", "upstream gave up"]),
        "frames": [{"filename": f"{js_root()}/src/{rng.choice(['a', 'b', 'c'])}.js", "function": rng.choice(["f", "g"]), "lineno": 1}],
        "fingerprint": ["checkout-timeout"],
    }, note="An explicit fingerprint overrides everything else." if i == 0 else None)

for tenant in ["tenant-a", "tenant-b"]:
    for i in range(3):
        add(f"fp-default-{tenant}", {
            "exception_type": "TypeError", "message": f"x is undefined for {uuid()}",
            "frames": [{"filename": f"{js_root()}/src/sync/run.js", "function": "syncTenant", "lineno": rng.randint(1, 99)}],
            "fingerprint": ["{{ default }}", tenant],
        }, note="`{{ default }}` plus a tenant: the default grouping, split per tenant." if i == 0 and tenant == "tenant-a" else None)

for i in range(4):
    event = {
        "exception_type": "TypeError", "message": f"x is undefined for {uuid()}",
        "frames": [{"filename": f"{js_root()}/src/sync/run.js", "function": "syncTenant", "lineno": rng.randint(1, 99)}],
    }
    if i % 2:
        event["fingerprint"] = [rng.choice(["{{ default }}", "{{default}}"])]
    add("fp-default-only", event, note="A fingerprint of just `{{ default }}` groups exactly like no fingerprint." if i == 1 else None)

# ---------------------------------------------------------------- message-only logger events

def log(group, messages, module="shop.billing", function="charge", exc="Error", note=None):
    for i, m in enumerate(messages):
        add(group, {"exception_type": exc, "message": m, "module": module, "function": function, "level": "error"},
            note=note if i == 0 else None)


log("log-payment-declined", [
    f"Payment declined for order {rng.randint(1000, 99999)} (card ending {rng.randint(1000, 9999)}), amount {rng.randint(1, 500)}.{rng.randint(0, 99):02d} EUR"
    for _ in range(4)])
log("log-rate-limited", [
    f"Rate limit exceeded for user_{rng.randint(1, 99999)}: {rng.randint(100, 999)} requests in {rng.randint(1, 60)}s"
    for _ in range(4)], module="shop.api.ratelimit", function="check")
log("log-disk-full", [
    f"No space left on device while writing /tmp/tmp{hexs(6)}/upload-{rng.randint(10, 999)}.bin ({rng.randint(1, 900)}MB)"
    for _ in range(3)], module="shop.uploads", function="store", exc="OSError")
log("log-slow-query", [
    f"Slow query took {rng.randint(500, 9000)}ms: SELECT * FROM orders WHERE customer_id = {rng.randint(1, 99999)} AND created_at > '{iso()}'"
    for _ in range(4)], module="shop.db", function="execute", exc="SlowQuery",
    note="Durations, numbers and quoted SQL literals are masked; the SQL shape stays.")
log("log-login-failed", [
    f"Login failed for {email()} from {rng.choice([ip4(), ip6()])}" for _ in range(4)],
    module="shop.auth", function="login", exc="AuthError")
log("log-job-missed", [
    f"Job {bundle_hash()} scheduled at {iso()} missed its window (started {rng.choice(['Mon', 'Tue', 'Fri'])}, {rng.randint(1, 28):02d} Jan 2026 {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} GMT)"
    for _ in range(3)], module="shop.scheduler", function="tick", exc="SchedulerError")
log("log-partner-503", [
    f"GET https://api.partner.example/v2/orders/{rng.randint(1, 99999)}?token={hexs(12)}&page={rng.randint(1, 9)} returned 503 after {rng.randint(1, 9)}.{rng.randint(0, 9)}s"
    for _ in range(4)], module="shop.partners", function="fetch_orders", exc="HTTPError",
    note="URL keeps scheme, host and route words; ids and query values are masked.")
log("log-session-expired", [
    f"Session {uuid()} expired for tenant acme at {rng.randint(0, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}" for _ in range(3)],
    module="shop.sessions", function="touch", exc="SessionError")
log("log-cache-miss-orders", [f"cache miss for key orders:{rng.randint(1, 99999)}" for _ in range(3)],
    module="shop.cache", function="get_orders", exc="CacheMiss")
log("log-cache-miss-users", [f"cache miss for key orders:{rng.randint(1, 99999)}" for _ in range(3)],
    module="shop.cache", function="get_users", exc="CacheMiss",
    note="Same message as log-cache-miss-orders from another function.")
log("log-upstream-timeout", [f"upstream {ip4()} did not answer in {rng.randint(1, 30)}s" for _ in range(3)],
    module="shop.proxy", function="forward", exc="TimeoutError")
log("log-upstream-connection", [f"upstream {ip4()} did not answer in {rng.randint(1, 30)}s" for _ in range(3)],
    module="shop.proxy", function="forward", exc="ConnectionError",
    note="Same message and call site as log-upstream-timeout, different type.")
log("log-mongo-duplicate", [
    f'E11000 duplicate key error collection: shop.users index: email_1 dup key: {{ email: "{email()}" }}' for _ in range(3)],
    module="shop.users", function="create", exc="MongoServerError",
    note="Upper-case error codes (E11000) are kept: another code is another bug.")
log("log-mongo-other-code", [
    f'E11001 duplicate key error collection: shop.users index: email_1 dup key: {{ email: "{email()}" }}' for _ in range(3)],
    module="shop.users", function="create", exc="MongoServerError",
    note="Identical to log-mongo-duplicate except the error code.")
log("log-user-token", [
    f"token {rng.choice(['a8f3k2j9q1x7', 'zz91kq0p2mw4', 'p0o9i8u7y6t5r4'])} for sess-{''.join(rng.choice('abcdefghjkmnpqrstuvwxyz') + str(rng.randint(0, 9)) for _ in range(5))} rejected at {iso()}"
    for _ in range(3)], module="shop.auth", function="verify", exc="TokenError")
log("log-home-path", [
    f"cannot open {rng.choice(['/home/alice', '/home/bob', '/home/carol'])}/.shop/config.toml: permission denied" for _ in range(3)],
    module="shop.config", function="load", exc="ConfigError")

json.dump(entries, open("/work/scratch/sigwork/tests/corpus/grouping.json", "w"), indent=1, ensure_ascii=False)
groups = {e["group"] for e in entries}
print(f"{len(entries)} events in {len(groups)} groups")
