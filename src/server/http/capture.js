/*! Suture capture snippet: reports uncaught errors and unhandled promise
 * rejections to Suture's /v1/events, with no dependencies.
 *
 *   <script src="http://127.0.0.1:8787/capture.js" data-release="web@1.4.2" async></script>
 *
 * data- attributes (all optional):
 *   data-endpoint     where to post (default: /v1/events on the script's own origin)
 *   data-sample-rate  fraction of errors reported, 0..1 (default 1)
 *   data-max-events   most reports per page load (default 10): a render loop
 *                     that throws every frame must not flood the sidecar
 *   data-release, data-environment   stamped on every report
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__sutureCapture) return;
  window.__sutureCapture = true;

  var data = script.dataset || {};
  var endpoint = data.endpoint || new URL("/v1/events", script.src).href;
  var sampleRate = parseFloat(data.sampleRate);
  if (isNaN(sampleRate)) sampleRate = 1;
  var maxEvents = parseInt(data.maxEvents, 10);
  if (isNaN(maxEvents)) maxEvents = 10;
  var sent = 0;

  function text(value, limit) {
    var s = value == null ? undefined : String(value);
    return s && s.length > limit ? s.slice(0, limit) : s;
  }

  function send(report) {
    if (sent >= maxEvents || Math.random() >= sampleRate) return;
    sent++;
    report.url = location.href;
    report.userAgent = navigator.userAgent;
    report.timestamp = Date.now();
    if (data.release) report.release = data.release;
    if (data.environment) report.environment = data.environment;
    var body = JSON.stringify(report);
    // sendBeacon survives page unload; it posts text/plain, which needs no
    // CORS preflight. fetch with keepalive is the fallback.
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(endpoint, body)) return;
    } catch (e) { /* fall through to fetch */ }
    try {
      fetch(endpoint, {
        method: "POST",
        body: body,
        keepalive: true,
        headers: { "Content-Type": "text/plain" }
      }).catch(function () {});
    } catch (e) { /* reporting must never throw */ }
  }

  function describe(error) {
    if (error && typeof error === "object" && "message" in error) {
      var name = error.name || "Error";
      return { message: text(name + ": " + error.message, 8192), stack: text(error.stack, 65536) };
    }
    var message;
    try { message = typeof error === "string" ? error : JSON.stringify(error); } catch (e) { message = String(error); }
    return { message: text(message === undefined ? String(error) : message, 8192) };
  }

  window.addEventListener("error", function (event) {
    if (!event || (!event.error && !event.message)) return;
    var report = { type: "error" };
    if (event.error) {
      var described = describe(event.error);
      report.message = described.message;
      report.stack = described.stack;
    } else {
      report.message = text(event.message, 8192);
    }
    if (!report.stack && event.filename) {
      report.stacktrace = [{ filename: event.filename, lineno: event.lineno || undefined, colno: event.colno || undefined }];
    }
    send(report);
  });

  window.addEventListener("unhandledrejection", function (event) {
    send({ type: "unhandledrejection", reason: describe(event && event.reason) });
  });
})();
