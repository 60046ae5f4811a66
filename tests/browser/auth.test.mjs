// Signed names over TLS, in the browser: a server with --auth-secret and a self-signed
// certificate (made here with openssl), a page opened at https://…/#token=… is that name,
// talks over wss:, and is told when a newer page signs in with the same name.
// Run with `npm test` here, after `cargo build -p chat-tokio`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, startServer } from "./helpers.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const serverBin = process.env.CHAT_SERVER || join(root, "target", "debug", "chat-tokio");
const WAIT = 5000;
const SECRET = "browser-secret";

let server, base, browser, dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-tls-"));
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]);
  assert.equal(made.status, 0, String(made.stderr));
  ({ process: server, base } = await startServer(serverBin, ["--host", "127.0.0.1", "--port", "0",
    "--db", ":memory:", "--auth-secret", SECRET,
    "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")], { scheme: "https" }));
  // The test's own self-signed certificate.
  browser = await launchChromium(["--ignore-certificate-errors"]);
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function mint(name) {
  const out = spawnSync(serverBin, ["token", "--name", name, "--auth-secret", SECRET]);
  assert.equal(out.status, 0, String(out.stderr));
  return String(out.stdout).trim();
}

async function open(token) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`${base}/#token=${token}`);
  await page.waitForSelector("#state.online", { timeout: WAIT });
  return page;
}

async function seen(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes(t)),
    text, { timeout: WAIT });
}

test("a page opened at /#token=… over https is that name, and a newer one takes it over", async () => {
  const token = mint("alice");
  const first = await open(token);
  await first.waitForFunction(() => document.getElementById("name").value === "alice", null, { timeout: WAIT });
  await seen(first, "You are alice in #main");
  assert.equal(await first.evaluate(() => location.protocol), "https:");
  const second = await open(token);
  await seen(second, "You are alice in #main");
  await seen(first, "signed in elsewhere");
  await first.waitForSelector("#state.offline", { timeout: WAIT });
  await first.context().close();
  await second.context().close();
});
