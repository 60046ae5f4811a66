// Two nodes of a cluster and a Redis, started as the README shows, with a browser page on
// each node: they behave as one chat, and both pages show Redis going away and coming back.
// Run with `npm test` here, after `cargo build -p chat-tokio`; needs `redis-server` on PATH
// (Debian's package; .ci/run installs it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, startServer } from "./helpers.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const serverBin = process.env.CHAT_SERVER || join(root, "target", "debug", "chat-tokio");
const WAIT = 8000;

let redis, redisPort, nodes = [], browser;

/** A free loopback port. */
function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function startRedis() {
  const which = spawnSync("sh", ["-c", "command -v redis-server"]);
  if (which.status !== 0) {
    throw new Error("redis-server is not on PATH: install Debian's package with `apt-get install redis-server`");
  }
  redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"], { stdio: "ignore" });
}

/** Starts one node; resolves with its base URL once it listens and has reached Redis. */
async function startNode() {
  const { process: node, base } = await startServer(serverBin, ["--host", "127.0.0.1", "--port", "0",
    "--cluster", `redis://127.0.0.1:${redisPort}`, "--cluster-prefix", "browser"],
    { ready: /cluster: connected/ });
  nodes.push(node);
  return base;
}

let a, b;

before(async () => {
  redisPort = await freePort();
  startRedis();
  await new Promise((r) => setTimeout(r, 300));
  a = await startNode();
  b = await startNode();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const n of nodes) n.kill("SIGTERM");
  redis?.kill("SIGKILL");
});

async function open(base, name) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/?name=${name}`);
  await page.waitForSelector("#state.online", { timeout: WAIT });
  return page;
}

async function say(page, text) {
  await page.fill("#say", text);
  await page.press("#say", "Enter");
}

async function seen(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes(t)),
    text, { timeout: WAIT });
}

const users = (page) => page.$$eval("#users li button", (bs) => bs.map((b) => b.textContent));

test("a page on each node: one chat, and Redis going away and coming back shows on both", async () => {
  const alice = await open(a, "alice");
  const bob = await open(b, "bob");
  await seen(alice, "bob joined");
  await say(alice, "hello from node a");
  await seen(bob, "hello from node a");
  await say(bob, "hello from node b");
  await seen(alice, "hello from node b");
  await say(bob, "/w alice psst");
  await seen(alice, "psst");
  assert.deepEqual(await users(alice), ["alice (you)", "bob"]);
  assert.deepEqual(await users(bob), ["alice", "bob (you)"]);

  redis.kill("SIGKILL");
  for (const page of [alice, bob]) {
    await seen(page, "The chat is reconnecting");
    await page.waitForSelector("#state.degraded", { timeout: WAIT });
  }
  await say(alice, "lost?");
  await seen(alice, "not sent: the chat is reconnecting");

  startRedis();
  for (const page of [alice, bob]) {
    await seen(page, "The chat is back");
    await page.waitForSelector("#state.online", { timeout: WAIT });
  }
  await say(bob, "after the outage");
  await seen(alice, "after the outage");
  await alice.context().close();
  await bob.context().close();
});
