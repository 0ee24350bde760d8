//! Realistic event payloads.
//!
//! Forty error templates from four kinds of application (browser JS with V8
//! stacks, Node services, Python workers logging through a module/function,
//! Java services). Within a template the type and stack frames are fixed, so
//! the server should find about forty signatures; the message carries
//! randomised ids, emails, numbers and uuids, so every text is unique and the
//! server's normaliser has real work to do. Events come out at roughly
//! 400–900 bytes of JSON.
//!
//! Generation writes straight into a reusable `String` with a tiny xorshift
//! PRNG: the client shares two cores with the server, so it must stay cheap.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// xorshift64* — small, fast and good enough to vary payloads.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 scramble so nearby seeds give unrelated streams; never 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift rather than modulo.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Platform {
    Browser,
    Node,
    Python,
    Java,
}

/// One stack frame: function, file, line. Innermost frame first.
type Frame = (&'static str, &'static str, u32);

struct Template {
    platform: Platform,
    service: &'static str,
    ty: &'static str,
    /// Message with placeholders: `{id}` `{n}` `{uuid}` `{email}` `{hex}`
    /// `{ip}` `{ms}` `{user}`.
    msg: &'static str,
    /// Page or request URL, same placeholders; empty for background work.
    url: &'static str,
    frames: &'static [Frame],
}

const fn t(
    platform: Platform,
    service: &'static str,
    ty: &'static str,
    msg: &'static str,
    url: &'static str,
    frames: &'static [Frame],
) -> Template {
    Template {
        platform,
        service,
        ty,
        msg,
        url,
        frames,
    }
}

use Platform::{Browser as B, Java as J, Node as N, Python as P};

const WEB: &str = "web-storefront";
const API: &str = "orders-api";
const GW: &str = "edge-gateway";
const WRK: &str = "billing-worker";
const ETL: &str = "catalog-etl";
const JVM: &str = "inventory-service";

static TEMPLATES: [Template; 40] = [
    // --- Browser, V8 stacks from minified bundles ---
    t(
        B,
        WEB,
        "TypeError",
        "Cannot read properties of undefined (reading 'price') in cart line {id}",
        "https://shop.example.com/cart/{id}",
        &[
            ("renderLineItem", "main.4f3a9c1e.js", 1423),
            ("CartView.render", "main.4f3a9c1e.js", 1388),
            ("Ko", "vendor.8812ab0c.js", 2),
            ("Array.map", "<anonymous>", 0),
            ("Cs", "vendor.8812ab0c.js", 2),
        ],
    ),
    t(
        B,
        WEB,
        "TypeError",
        "Failed to fetch https://api.example.com/v2/cart/{uuid}",
        "https://shop.example.com/checkout",
        &[
            ("fetchCart", "main.4f3a9c1e.js", 812),
            ("async loadCheckout", "main.4f3a9c1e.js", 901),
            ("async Promise.all", "<anonymous>", 0),
        ],
    ),
    t(
        B,
        WEB,
        "ChunkLoadError",
        "Loading chunk {n} failed. (missing: https://shop.example.com/static/js/{n}.{hex}.chunk.js)",
        "https://shop.example.com/product/{id}",
        &[
            ("__webpack_require__.f.j", "runtime.2b1c77d0.js", 1),
            ("__webpack_require__.e", "runtime.2b1c77d0.js", 1),
            ("lazyProduct", "main.4f3a9c1e.js", 77),
        ],
    ),
    t(
        B,
        WEB,
        "SyntaxError",
        "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON (request {uuid})",
        "https://shop.example.com/account/orders",
        &[
            ("JSON.parse", "<anonymous>", 0),
            ("parseOrders", "main.4f3a9c1e.js", 2210),
            ("async OrdersPage.load", "main.4f3a9c1e.js", 2188),
        ],
    ),
    t(
        B,
        WEB,
        "RangeError",
        "Invalid time value for order {id} placed at {n}",
        "https://shop.example.com/account/orders/{id}",
        &[
            ("Date.toISOString", "<anonymous>", 0),
            ("formatOrderDate", "main.4f3a9c1e.js", 3051),
            ("OrderRow", "main.4f3a9c1e.js", 3102),
            ("Ko", "vendor.8812ab0c.js", 2),
        ],
    ),
    t(
        B,
        WEB,
        "TypeError",
        "e.items is not iterable (wishlist {id} of {email})",
        "https://shop.example.com/wishlist",
        &[
            ("mergeWishlist", "main.4f3a9c1e.js", 4410),
            ("WishlistProvider", "main.4f3a9c1e.js", 4380),
            ("Ko", "vendor.8812ab0c.js", 2),
            ("Cs", "vendor.8812ab0c.js", 2),
        ],
    ),
    t(
        B,
        WEB,
        "Error",
        "Request failed with status code 502: GET /api/products/{id}",
        "https://shop.example.com/product/{id}",
        &[
            ("createError", "vendor.8812ab0c.js", 15),
            ("settle", "vendor.8812ab0c.js", 15),
            ("XMLHttpRequest.onloadend", "vendor.8812ab0c.js", 15),
        ],
    ),
    t(
        B,
        WEB,
        "ReferenceError",
        "gtag is not defined (session {hex}{hex})",
        "https://shop.example.com/",
        &[
            ("trackPageView", "main.4f3a9c1e.js", 95),
            ("HTMLDocument.<anonymous>", "main.4f3a9c1e.js", 104),
        ],
    ),
    t(
        B,
        WEB,
        "TypeError",
        "Cannot set properties of null (setting 'innerHTML') on #promo-{n}",
        "https://shop.example.com/deals?ref={hex}",
        &[
            ("renderPromo", "promo.91c0aa3e.js", 41),
            ("PromoSlot.mount", "promo.91c0aa3e.js", 18),
            ("HTMLDocument.<anonymous>", "main.4f3a9c1e.js", 104),
        ],
    ),
    t(
        B,
        WEB,
        "Error",
        "Payment intent pi_{hex}{hex} could not be confirmed: card_declined",
        "https://shop.example.com/checkout/pay",
        &[
            ("confirmPayment", "checkout.5e7d3b21.js", 688),
            ("async onSubmit", "checkout.5e7d3b21.js", 702),
        ],
    ),
    t(
        B,
        WEB,
        "QuotaExceededError",
        "Failed to execute 'setItem' on 'Storage': setting 'cart:{uuid}' exceeded the quota",
        "https://shop.example.com/cart",
        &[
            ("Storage.setItem", "<anonymous>", 0),
            ("persistCart", "main.4f3a9c1e.js", 1502),
            ("CartStore.save", "main.4f3a9c1e.js", 1490),
        ],
    ),
    t(
        B,
        WEB,
        "TypeError",
        "Cannot read properties of null (reading 'addEventListener') for widget {n}",
        "https://shop.example.com/search?q={hex}",
        &[
            ("bindSearch", "search.0d4e12aa.js", 233),
            ("initSearch", "search.0d4e12aa.js", 201),
            ("HTMLDocument.<anonymous>", "main.4f3a9c1e.js", 104),
        ],
    ),
    // --- Node services ---
    t(
        N,
        API,
        "Error",
        "connect ECONNREFUSED {ip}:5432",
        "https://api.example.com/v2/orders/{id}",
        &[(
            "TCPConnectWrap.afterConnect [as oncomplete]",
            "node:net",
            1611,
        )],
    ),
    t(
        N,
        API,
        "TypeError",
        "Cannot destructure property 'sku' of 'line' as it is undefined. (order {id})",
        "https://api.example.com/v2/orders",
        &[
            ("priceLine", "/srv/app/src/pricing/lines.js", 42),
            ("Array.map", "<anonymous>", 0),
            ("priceOrder", "/srv/app/src/pricing/index.js", 88),
            ("createOrder", "/srv/app/src/routes/orders.js", 131),
        ],
    ),
    t(
        N,
        API,
        "Error",
        "Order {id} not found for customer {email}",
        "https://api.example.com/v2/orders/{id}",
        &[
            ("OrderRepo.get", "/srv/app/src/db/orders.js", 64),
            ("async getOrder", "/srv/app/src/routes/orders.js", 52),
            (
                "async Layer.handle",
                "/srv/app/node_modules/express/lib/router/layer.js",
                95,
            ),
        ],
    ),
    t(
        N,
        API,
        "TimeoutError",
        "Query timed out after {ms}ms: SELECT * FROM orders WHERE customer_id = {id}",
        "https://api.example.com/v2/customers/{id}/orders",
        &[
            (
                "Timeout._onTimeout",
                "/srv/app/node_modules/pg-pool/index.js",
                212,
            ),
            ("listOrders", "/srv/app/src/db/orders.js", 101),
            ("processTimers", "node:internal/timers", 519),
        ],
    ),
    t(
        N,
        API,
        "ValidationError",
        "\"quantity\" must be less than or equal to 99 (got {n}) for SKU-{id}",
        "https://api.example.com/v2/cart/{uuid}/lines",
        &[
            ("Object.validate", "/srv/app/src/validation/cart.js", 27),
            ("addLine", "/srv/app/src/routes/cart.js", 73),
            (
                "Layer.handle",
                "/srv/app/node_modules/express/lib/router/layer.js",
                95,
            ),
        ],
    ),
    t(
        N,
        GW,
        "Error",
        "upstream orders-api responded 503 after {ms}ms (trace {hex}{hex})",
        "https://api.example.com/v2/orders/{id}",
        &[
            ("ProxyStream.onResponse", "/srv/gw/src/proxy.js", 144),
            ("ClientRequest.emit", "node:events", 519),
            (
                "HTTPParser.parserOnIncomingClient",
                "node:_http_client",
                702,
            ),
        ],
    ),
    t(
        N,
        GW,
        "JsonWebTokenError",
        "jwt malformed for user {user} from {ip}",
        "https://api.example.com/v2/me",
        &[
            (
                "Object.verify",
                "/srv/gw/node_modules/jsonwebtoken/verify.js",
                70,
            ),
            ("authenticate", "/srv/gw/src/auth.js", 33),
            (
                "Layer.handle",
                "/srv/gw/node_modules/express/lib/router/layer.js",
                95,
            ),
        ],
    ),
    t(
        N,
        API,
        "RangeError",
        "Maximum call stack size exceeded while serialising category {id}",
        "https://api.example.com/v2/categories/{id}/tree",
        &[
            ("serialiseNode", "/srv/app/src/catalog/tree.js", 18),
            ("serialiseNode", "/srv/app/src/catalog/tree.js", 24),
            ("serialiseNode", "/srv/app/src/catalog/tree.js", 24),
            ("getTree", "/srv/app/src/routes/catalog.js", 61),
        ],
    ),
    t(
        N,
        API,
        "Error",
        "Redis reply error: OOM command not allowed when used memory > 'maxmemory' (key session:{uuid})",
        "https://api.example.com/v2/session",
        &[
            (
                "RedisClient.onReply",
                "/srv/app/node_modules/@redis/client/dist/lib/client/index.js",
                410,
            ),
            ("saveSession", "/srv/app/src/session.js", 58),
        ],
    ),
    t(
        N,
        GW,
        "Error",
        "ETIMEDOUT: rate-limit lookup for {ip} exceeded {ms}ms",
        "https://api.example.com/v2/search?q={hex}",
        &[
            ("RateLimiter.check", "/srv/gw/src/ratelimit.js", 91),
            ("async rateLimit", "/srv/gw/src/middleware.js", 22),
        ],
    ),
    // --- Python workers (tags carry logger module and function) ---
    t(
        P,
        WRK,
        "KeyError",
        "'tax_region' missing for invoice {id} (account {email})",
        "",
        &[
            ("tax_for", "/app/billing/tax.py", 57),
            ("render_invoice", "/app/billing/invoices.py", 212),
            ("run", "/app/billing/jobs.py", 88),
        ],
    ),
    t(
        P,
        WRK,
        "ValueError",
        "invalid literal for int() with base 10: '{hex}' in row {n}",
        "",
        &[
            ("parse_amount", "/app/billing/csvimport.py", 31),
            ("import_rows", "/app/billing/csvimport.py", 77),
            ("handle", "/app/billing/jobs.py", 140),
        ],
    ),
    t(
        P,
        WRK,
        "stripe.error.CardError",
        "Your card was declined. (customer cus_{hex}, charge ch_{hex}{hex})",
        "",
        &[
            (
                "request",
                "/usr/local/lib/python3.12/site-packages/stripe/api_requestor.py",
                122,
            ),
            ("charge", "/app/billing/payments.py", 64),
            ("collect", "/app/billing/dunning.py", 103),
        ],
    ),
    t(
        P,
        WRK,
        "psycopg.errors.UniqueViolation",
        "duplicate key value violates unique constraint \"invoices_number_key\" DETAIL: Key (number)=(INV-{id}) already exists.",
        "",
        &[
            (
                "execute",
                "/usr/local/lib/python3.12/site-packages/psycopg/cursor.py",
                732,
            ),
            ("save", "/app/billing/models.py", 190),
            ("render_invoice", "/app/billing/invoices.py", 240),
        ],
    ),
    t(
        P,
        WRK,
        "TimeoutError",
        "SMTP send to {email} timed out after {ms} ms",
        "",
        &[
            ("send", "/app/notify/mail.py", 45),
            ("notify_overdue", "/app/billing/dunning.py", 151),
        ],
    ),
    t(
        P,
        ETL,
        "AttributeError",
        "'NoneType' object has no attribute 'strip' (product {id})",
        "",
        &[
            ("clean_title", "/app/etl/normalise.py", 19),
            ("transform", "/app/etl/pipeline.py", 66),
            ("run_batch", "/app/etl/pipeline.py", 120),
        ],
    ),
    t(
        P,
        ETL,
        "botocore.exceptions.ClientError",
        "An error occurred (SlowDown) when calling the PutObject operation: key images/{uuid}.jpg",
        "",
        &[
            (
                "_make_api_call",
                "/usr/local/lib/python3.12/site-packages/botocore/client.py",
                1023,
            ),
            ("upload_image", "/app/etl/images.py", 52),
            ("load", "/app/etl/pipeline.py", 141),
        ],
    ),
    t(
        P,
        ETL,
        "json.decoder.JSONDecodeError",
        "Expecting ',' delimiter: line 1 column {n} (char {n}) in feed {hex}",
        "",
        &[
            (
                "raw_decode",
                "/usr/local/lib/python3.12/json/decoder.py",
                353,
            ),
            ("fetch_feed", "/app/etl/feeds.py", 38),
            ("extract", "/app/etl/pipeline.py", 44),
        ],
    ),
    t(
        P,
        ETL,
        "requests.exceptions.ConnectionError",
        "HTTPSConnectionPool(host='supplier-{n}.example.net', port=443): Max retries exceeded with url: /export?since={id}",
        "",
        &[
            (
                "send",
                "/usr/local/lib/python3.12/site-packages/requests/adapters.py",
                519,
            ),
            ("fetch_supplier", "/app/etl/suppliers.py", 71),
            ("extract", "/app/etl/pipeline.py", 50),
        ],
    ),
    t(
        P,
        WRK,
        "ZeroDivisionError",
        "division by zero computing proration for subscription sub_{hex} ({n} days)",
        "",
        &[
            ("prorate", "/app/billing/proration.py", 28),
            ("change_plan", "/app/billing/subscriptions.py", 97),
        ],
    ),
    // --- Java services ---
    t(
        J,
        JVM,
        "java.lang.NullPointerException",
        "Cannot invoke \"com.acme.inventory.Sku.getWarehouse()\" because \"sku\" is null (sku {id})",
        "https://inventory.internal/v1/stock/{id}",
        &[
            (
                "com.acme.inventory.StockService.reserve",
                "StockService.java",
                118,
            ),
            (
                "com.acme.inventory.api.StockController.reserve",
                "StockController.java",
                54,
            ),
            (
                "jdk.internal.reflect.DirectMethodHandleAccessor.invoke",
                "DirectMethodHandleAccessor.java",
                103,
            ),
        ],
    ),
    t(
        J,
        JVM,
        "java.lang.IllegalStateException",
        "Reservation {uuid} already committed for order {id}",
        "https://inventory.internal/v1/reservations/{uuid}",
        &[
            (
                "com.acme.inventory.Reservation.commit",
                "Reservation.java",
                77,
            ),
            (
                "com.acme.inventory.StockService.commit",
                "StockService.java",
                160,
            ),
        ],
    ),
    t(
        J,
        JVM,
        "org.springframework.dao.DataIntegrityViolationException",
        "could not execute statement; constraint [stock_nonnegative] for warehouse {n} sku {id}",
        "https://inventory.internal/v1/stock/{id}",
        &[
            (
                "org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException",
                "HibernateJpaDialect.java",
                290,
            ),
            (
                "com.acme.inventory.StockRepository.decrement",
                "StockRepository.java",
                41,
            ),
        ],
    ),
    t(
        J,
        JVM,
        "java.util.concurrent.TimeoutException",
        "Timed out waiting for warehouse {n} after {ms} ms",
        "",
        &[
            (
                "java.util.concurrent.CompletableFuture.timedGet",
                "CompletableFuture.java",
                1960,
            ),
            (
                "com.acme.inventory.sync.WarehouseSync.pull",
                "WarehouseSync.java",
                88,
            ),
        ],
    ),
    t(
        J,
        JVM,
        "java.lang.NumberFormatException",
        "For input string: \"{hex}\" (batch {id})",
        "",
        &[
            ("java.lang.Long.parseLong", "Long.java", 711),
            ("com.acme.inventory.sync.CsvRow.quantity", "CsvRow.java", 33),
            (
                "com.acme.inventory.sync.Importer.apply",
                "Importer.java",
                59,
            ),
        ],
    ),
    t(
        J,
        JVM,
        "java.io.IOException",
        "Broken pipe writing response to {ip} (request {uuid})",
        "https://inventory.internal/v1/stock",
        &[
            (
                "sun.nio.ch.SocketDispatcher.write0",
                "SocketDispatcher.java",
                0,
            ),
            (
                "org.apache.catalina.connector.OutputBuffer.flush",
                "OutputBuffer.java",
                305,
            ),
        ],
    ),
    t(
        J,
        JVM,
        "java.lang.IllegalArgumentException",
        "Unknown warehouse code WH-{n} for tenant {user}",
        "https://inventory.internal/v1/warehouses/WH-{n}",
        &[
            (
                "com.acme.inventory.Warehouses.byCode",
                "Warehouses.java",
                49,
            ),
            (
                "com.acme.inventory.api.WarehouseController.get",
                "WarehouseController.java",
                31,
            ),
        ],
    ),
    t(
        J,
        JVM,
        "java.sql.SQLTransientConnectionException",
        "HikariPool-1 - Connection is not available, request timed out after {ms}ms (order {id})",
        "",
        &[
            (
                "com.zaxxer.hikari.pool.HikariPool.createTimeoutException",
                "HikariPool.java",
                696,
            ),
            (
                "com.acme.inventory.StockRepository.find",
                "StockRepository.java",
                27,
            ),
            (
                "com.acme.inventory.StockService.reserve",
                "StockService.java",
                101,
            ),
        ],
    ),
];

/// Number of distinct templates, i.e. the signatures the server should find.
pub const TEMPLATE_COUNT: usize = TEMPLATES.len();

const FIRST: &[&str] = &[
    "ana", "bo", "chen", "dara", "eli", "femi", "gus", "hana", "ivo", "jo", "kai", "lena",
];
const DOMAINS: &[&str] = &["example.com", "mail.example.org", "corp.example.net"];
const BROWSERS: &[&str] = &["Chrome 131", "Firefox 133", "Safari 18.1", "Edge 131"];
const OSES: &[&str] = &["Windows 11", "macOS 15", "iOS 18", "Android 14"];
const REGIONS: &[&str] = &["eu-west-1", "us-east-1", "ap-south-1"];
const RELEASES: &[&str] = &["2025.11.3", "2025.11.4", "2025.12.0"];

/// Writes events as JSON text. One per sending task: it owns its PRNG and
/// scratch buffers, so generation never allocates once warmed up.
pub struct PayloadGen {
    rng: Rng,
    scratch: String,
    msg: String,
}

impl PayloadGen {
    pub fn new(seed: u64) -> Self {
        PayloadGen {
            rng: Rng::new(seed),
            scratch: String::with_capacity(1024),
            msg: String::with_capacity(256),
        }
    }

    /// Appends one event object to `out`.
    pub fn write_event(&mut self, out: &mut String) {
        let tpl = &TEMPLATES[self.rng.below(TEMPLATES.len() as u64) as usize];
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);

        let mut msg = std::mem::take(&mut self.msg);
        msg.clear();
        self.render(tpl.msg, &mut msg);

        out.push_str("{\"type\":");
        push_json_str(out, tpl.ty);
        out.push_str(",\"message\":");
        push_json_str(out, &msg);

        out.push_str(",\"stack\":");
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        write_stack(&mut s, tpl, &msg);
        push_json_str(out, &s);

        if !tpl.url.is_empty() {
            s.clear();
            self.render(tpl.url, &mut s);
            out.push_str(",\"url\":");
            push_json_str(out, &s);
        }
        self.scratch = s;

        let release = self.rng.pick(RELEASES);
        let env = if self.rng.below(10) == 0 {
            "staging"
        } else {
            "production"
        };
        let _ = write!(
            out,
            ",\"timestamp\":{now_ms},\"release\":\"{}@{release}\",\"environment\":\"{env}\",\"service\":\"{}\"",
            tpl.service, tpl.service
        );
        out.push_str(",\"user\":\"");
        self.placeholder("email", out);
        out.push_str("\",\"tags\":{");
        match tpl.platform {
            Platform::Browser => {
                let _ = write!(
                    out,
                    "\"browser\":\"{}\",\"os\":\"{}\",\"locale\":\"en-GB\"",
                    self.rng.pick(BROWSERS),
                    self.rng.pick(OSES)
                );
            }
            Platform::Node => {
                let _ = write!(
                    out,
                    "\"runtime\":\"node 22.11.0\",\"host\":\"{}-{}\",\"region\":\"{}\"",
                    tpl.service,
                    self.rng.below(8),
                    self.rng.pick(REGIONS)
                );
            }
            Platform::Python => {
                let (func, file, _) = tpl.frames[0];
                let module = file
                    .trim_start_matches("/app/")
                    .trim_end_matches(".py")
                    .replace('/', ".");
                let _ = write!(
                    out,
                    "\"logger\":\"{module}\",\"function\":\"{func}\",\"host\":\"worker-{}\"",
                    self.rng.below(6)
                );
            }
            Platform::Java => {
                let _ = write!(
                    out,
                    "\"thread\":\"http-nio-8080-exec-{}\",\"jvm\":\"21.0.5\",\"region\":\"{}\"",
                    self.rng.below(200),
                    self.rng.pick(REGIONS)
                );
            }
        }
        out.push_str("}}");
        self.msg = msg;
    }

    /// Appends a JSON array of `n` events to `out`.
    pub fn write_batch(&mut self, n: usize, out: &mut String) {
        out.push('[');
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            self.write_event(out);
        }
        out.push(']');
    }

    /// Expands `{name}` placeholders of a template string.
    fn render(&mut self, tpl: &str, out: &mut String) {
        let mut rest = tpl;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    self.placeholder(&after[..close], out);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
    }

    fn placeholder(&mut self, name: &str, out: &mut String) {
        let r = &mut self.rng;
        let _ = match name {
            "id" => write!(out, "{}", 10_000 + r.below(9_990_000)),
            "n" => write!(out, "{}", r.below(1000)),
            "ms" => write!(out, "{}", 500 + r.below(30_000)),
            "hex" => write!(out, "{:08x}", r.next_u64() as u32),
            "ip" => write!(
                out,
                "10.{}.{}.{}",
                r.below(256),
                r.below(256),
                1 + r.below(254)
            ),
            "uuid" => {
                let (a, b) = (r.next_u64(), r.next_u64());
                write!(
                    out,
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    0x8000 | ((b >> 48) & 0x3fff),
                    b & 0xffff_ffff_ffff
                )
            }
            "email" => {
                let first = r.pick(FIRST);
                let n = r.below(10_000);
                let domain = r.pick(DOMAINS);
                write!(out, "{first}.{n}@{domain}")
            }
            "user" => {
                let first = r.pick(FIRST);
                write!(out, "{first}{}", r.below(100_000))
            }
            other => write!(out, "{{{other}}}"),
        };
    }
}

/// Formats the stack the way each runtime prints it.
fn write_stack(s: &mut String, tpl: &Template, msg: &str) {
    match tpl.platform {
        Platform::Browser | Platform::Node => {
            let _ = write!(s, "{}: {msg}", tpl.ty);
            for &(func, file, line) in tpl.frames {
                if line == 0 {
                    let _ = write!(s, "\n    at {func} ({file})");
                } else if tpl.platform == Platform::Browser {
                    let col = (line * 37) % 9000 + 11;
                    let _ = write!(
                        s,
                        "\n    at {func} (https://shop.example.com/static/js/{file}:{line}:{col})"
                    );
                } else {
                    let col = (line * 7) % 60 + 5;
                    let _ = write!(s, "\n    at {func} ({file}:{line}:{col})");
                }
            }
        }
        Platform::Python => {
            s.push_str("Traceback (most recent call last):");
            for &(func, file, line) in tpl.frames.iter().rev() {
                let _ = write!(s, "\n  File \"{file}\", line {line}, in {func}");
            }
            let _ = write!(s, "\n{}: {msg}", tpl.ty);
        }
        Platform::Java => {
            let _ = write!(s, "{}: {msg}", tpl.ty);
            for &(func, file, line) in tpl.frames {
                if line == 0 {
                    let _ = write!(s, "\n\tat {func}(Native Method)");
                } else {
                    let _ = write!(s, "\n\tat {func}({file}:{line})");
                }
            }
        }
    }
}

/// Appends `v` as a JSON string literal.
fn push_json_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_json_of_realistic_size() {
        let mut g = PayloadGen::new(7);
        let (mut min, mut max) = (usize::MAX, 0);
        for _ in 0..4000 {
            let mut s = String::new();
            g.write_event(&mut s);
            let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
            for key in ["type", "message", "stack", "release", "service", "user"] {
                assert!(v[key].is_string(), "{key} missing in {s}");
            }
            assert!(v["timestamp"].is_u64());
            min = min.min(s.len());
            max = max.max(s.len());
        }
        assert!(min >= 400 && max <= 900, "sizes {min}..{max}");
    }

    #[test]
    fn batches_are_arrays() {
        let mut g = PayloadGen::new(1);
        let mut s = String::new();
        g.write_batch(5, &mut s);
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v.as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn every_template_appears_and_placeholders_expand() {
        let mut g = PayloadGen::new(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5000 {
            let mut s = String::new();
            g.write_event(&mut s);
            assert!(!s.contains("{id}") && !s.contains("{uuid}"), "{s}");
            let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
            let stack = v["stack"].as_str().unwrap_or_default();
            let frames: String = stack
                .lines()
                .filter(|l| l.starts_with([' ', '\t']))
                .collect();
            seen.insert((v["type"].to_string(), frames));
        }
        assert_eq!(seen.len(), TEMPLATE_COUNT);
    }
}
