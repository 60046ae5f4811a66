// What every browser test file needs: a server started on a free port (resolving with its
// base URL once it listens), and Debian's Chromium with the flags this machine needs.
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";

/** Flags for headless Chromium on a closed network (it must not reach out to anyone). */
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * Starts `bin` with `args`; resolves with `{ process, base }` once its log says it listens
 * (and, with `ready`, once the log also matches it). `scheme` is "http" or "https".
 */
export function startServer(bin, args, { scheme = "http", ready = null } = {}) {
  const process_ = spawn(bin, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, RUST_LOG: "info" },
  });
  const base = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start")), 20000);
    let log = "";
    process_.stderr.on("data", (chunk) => {
      log += chunk;
      const m = log.match(/listening on (\S+)/);
      if (m && (!ready || ready.test(log))) { clearTimeout(timer); resolve(`${scheme}://${m[1]}`); }
    });
    process_.on("exit", (code) => reject(new Error("server exited: " + code + "\n" + log)));
  });
  return base.then((url) => ({ process: process_, base: url }));
}

/** Debian's Chromium, headless, with `extra` flags. */
export function launchChromium(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, ...extra],
  });
}
