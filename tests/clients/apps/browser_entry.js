// Bundled by esbuild into build/sentry-browser.js (an IIFE exposing window.Sentry):
// @sentry/browser ships no prebuilt browser bundle in its npm package.
import * as Sentry from "@sentry/browser";
window.Sentry = Sentry;
