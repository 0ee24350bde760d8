// A Node service that dies of an unhandled error, reported by the real
// @sentry/node. Usage: node node_crash.cjs DSN
// The SDK's onUncaughtException integration must send (and flush) the event
// before the process exits with code 1.
const Sentry = require("@sentry/node");

Sentry.init({ dsn: process.argv[2], release: "api@2.0.1", environment: "production" });

function parseQuantity(text) {
  throw new RangeError("invalid quantity");
}

setTimeout(() => parseQuantity("-1"), 10);
