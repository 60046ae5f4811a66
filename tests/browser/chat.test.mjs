// The browser client, used as a person would: real pages in headless Chromium against a real
// server on loopback. Run with `npm test` here, after `cargo build -p chat-tokio`
// (.ci/run does both, and installs Chromium and playwright-core).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, startServer } from "./helpers.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const serverBin = process.env.CHAT_SERVER || join(root, "target", "debug", "chat-tokio");
const shots = join(root, "target", "browser");
const WAIT = 5000;

let server, base, browser;

before(async () => {
  ({ process: server, base } = await startServer(serverBin,
    ["--host", "127.0.0.1", "--port", "0", "--db", ":memory:"]));
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

/** Opens the client as `name` in `room`; resolves once it is online. */
async function open(name, room, viewport = { width: 1000, height: 700 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.dialogs = [];
  page.on("dialog", (d) => { page.dialogs.push(d.message()); d.dismiss(); });
  await page.goto(`${base}/?name=${name}&room=${room}`);
  await page.waitForSelector("#state.online", { timeout: WAIT });
  await page.waitForFunction((n) => document.getElementById("name").value === n, name, { timeout: WAIT });
  return page;
}

async function say(page, text) {
  await page.fill("#say", text);
  await page.press("#say", "Enter");
}

const logTexts = (page) => page.$$eval("#log li", (lis) => lis.map((li) => li.textContent));
const users = (page) => page.$$eval("#users li button", (bs) => bs.map((b) => b.textContent));

/** Waits until some line of the page's log contains `text`; returns that line's classes. */
async function seen(page, text) {
  const handle = await page.waitForFunction(
    (t) => [...document.querySelectorAll("#log li")].find((li) => li.textContent.includes(t))?.className,
    text, { timeout: WAIT });
  return handle.jsonValue();
}

async function usersAre(page, expected) {
  await page.waitForFunction(
    (e) => JSON.stringify([...document.querySelectorAll("#users li button")].map((b) => b.textContent)) === e,
    JSON.stringify(expected), { timeout: WAIT }).catch(async () => {
      assert.deepEqual(await users(page), expected);
    });
}

test("two pages chat with each other, and your own lines stand out", async () => {
  const alice = await open("alice", "t1");
  const bob = await open("bob", "t1");
  await say(alice, "hello bob");
  assert.match(await seen(bob, "hello bob"), /message/);
  assert.doesNotMatch(await seen(bob, "hello bob"), /own/);
  assert.match(await seen(alice, "hello bob"), /own/);
  const line = (await logTexts(bob)).find((l) => l.includes("hello bob"));
  assert.match(line, /^\d\d?:\d\d(\s?[AP]M)?\s*alicehello bob$/, "time, name and text");
  await say(bob, "hi alice");
  await seen(alice, "hi alice");
  await say(alice, "screenshots welcome");
  await seen(bob, "screenshots welcome");
  await alice.screenshot({ path: join(shots, "conversation.png") });
  await alice.context().close();
  await bob.context().close();
});

test("the user list follows joins, renames and leaves", async () => {
  const carol = await open("carol", "t2");
  await usersAre(carol, ["carol (you)"]);
  const dave = await open("dave", "t2");
  await usersAre(carol, ["carol (you)", "dave"]);
  await dave.fill("#name", "Dan");
  await dave.press("#name", "Enter");
  await usersAre(carol, ["carol (you)", "Dan"]);
  await usersAre(dave, ["carol", "Dan (you)"]);
  await dave.context().close();
  await usersAre(carol, ["carol (you)"]);
  await seen(carol, "Dan left");
  await carol.context().close();
});

test("switching rooms shows that room's history", async () => {
  const erin = await open("erin", "t3");
  const frank = await open("frank", "t3");
  await frank.fill("#room", "t3-side");
  await frank.press("#room", "Enter");
  await frank.waitForFunction(() => document.getElementById("title").textContent === "#t3-side");
  await say(frank, "only on the side");
  await seen(frank, "only on the side");
  await seen(erin, "frank left");
  // The rooms list offers the other room; clicking it switches.
  await erin.fill("#say", "/rooms");
  await erin.press("#say", "Enter");
  await erin.click("#rooms button:has-text('#t3-side')", { timeout: WAIT });
  await erin.waitForFunction(() => document.getElementById("title").textContent === "#t3-side");
  assert.match(await seen(erin, "only on the side"), /replay/);
  await usersAre(erin, ["erin (you)", "frank"]);
  await erin.context().close();
  await frank.context().close();
});

test("a whisper reaches only its addressee", async () => {
  const gina = await open("gina", "t4");
  const hank = await open("hank", "t4");
  const ivy = await open("ivy", "t4");
  await say(gina, "/w hank just for you");
  assert.match(await seen(hank, "just for you"), /whisper/);
  assert.match(await seen(gina, "just for you"), /whisper/);
  await say(gina, "now for everyone");
  await seen(ivy, "now for everyone");
  assert.ok(!(await logTexts(ivy)).some((l) => l.includes("just for you")), "ivy saw the whisper");
  for (const p of [gina, hank, ivy]) await p.context().close();
});

test("markup in messages shows as text and runs nothing", async () => {
  const jo = await open("jo", "t5");
  const kim = await open("kim", "t5");
  const evil = '<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=2</script><b>bold</b>';
  await say(jo, evil);
  await seen(kim, "<img src=x onerror=");
  const line = (await logTexts(kim)).find((l) => l.includes("<img"));
  assert.ok(line.endsWith(evil), line);
  await kim.waitForTimeout(300);
  assert.equal(await kim.$$eval("#log img, #log script, #log b", (e) => e.length), 0);
  assert.equal(await kim.evaluate(() => window.pwned), undefined);
  assert.deepEqual(kim.dialogs, []);
  await jo.context().close();
  await kim.context().close();
});

test("the page works 375 px wide", async () => {
  const phone = await open("lee", "t6", { width: 375, height: 740 });
  await say(phone, "from a phone");
  await seen(phone, "from a phone");
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `no sideways scrolling (content is ${width} px wide)`);
  for (const sel of ["#say", "#say-form button", "#name", "#state", "#users"]) {
    const box = await phone.locator(sel).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375 && box.y + box.height <= 740,
              `${sel} is on screen: ${JSON.stringify(box)}`);
  }
  await phone.screenshot({ path: join(shots, "phone.png") });
  await phone.context().close();
});

test("the connection state shows, and the page reconnects after the server comes back", async () => {
  // A second server the test can stop and start again on the same port.
  const port = 20000 + Math.floor(Math.random() * 20000);
  const start = () => new Promise((resolve, reject) => {
    const s = spawn(serverBin, ["--host", "127.0.0.1", "--port", String(port), "--db", ":memory:"], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    s.stderr.on("data", (c) => { log += c; if (log.includes("listening on")) resolve(s); });
    s.on("exit", (code) => reject(new Error("exited " + code + ": " + log)));
  });
  let second = await start();
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/?name=mo&room=t7`);
  await page.waitForSelector("#state.online", { timeout: WAIT });
  second.kill("SIGTERM");
  await page.waitForSelector("#state.offline", { timeout: WAIT });
  assert.match(await page.textContent("#state"), /retrying in \d+ s/);
  second = await start();
  await page.waitForSelector("#state.online", { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById("name").value === "mo", null, { timeout: WAIT });
  await context.close();
  second.kill("SIGTERM");
});

test("after the server is killed and restarted, both pages show every line exactly once", async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const dir = mkdtempSync(join(tmpdir(), "chat-browser-"));
  const db = join(dir, "chat.db");
  const start = () => new Promise((resolve, reject) => {
    // A history of 2 lines: a page that reloaded the history instead of resuming would
    // lose lines it had shown.
    const s = spawn(serverBin, ["--host", "127.0.0.1", "--port", String(port), "--db", db,
                                "--history", "2"],
                    { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    s.stderr.on("data", (c) => { log += c; if (log.includes("listening on")) resolve(s); });
    s.on("exit", (code) => reject(new Error("exited " + code + ": " + log)));
  });
  const page = async (name) => {
    const p = await (await browser.newContext()).newPage();
    await p.goto(`http://127.0.0.1:${port}/?name=${name}&room=t8`);
    await p.waitForSelector("#state.online", { timeout: WAIT });
    return p;
  };
  const said = (p) => p.$$eval("#log li.message", (lis) => lis.map((li) => li.lastChild.textContent));
  let server = await start();
  const ann = await page("ann");
  const bob = await page("bob");
  await say(ann, "a1"); await seen(bob, "a1");
  await say(bob, "b1"); await seen(ann, "b1");
  await say(ann, "a2"); await seen(bob, "a2");
  await new Promise((r) => setTimeout(r, 300)); // older than a crash's last 100 ms
  const exited = new Promise((r) => server.on("exit", r));
  server.kill("SIGKILL");
  await exited;
  await ann.waitForSelector("#state.offline", { timeout: WAIT });
  server = await start();
  // Said while the pages are still away: they get it when they resume.
  const cy = await page("cy");
  await say(cy, "c1"); await seen(cy, "c1");
  for (const p of [ann, bob]) await p.waitForSelector("#state.online", { timeout: 20000 });
  await say(bob, "b2"); await seen(ann, "b2");
  await say(ann, "a3"); await seen(bob, "a3");
  const all = ["a1", "b1", "a2", "c1", "b2", "a3"];
  for (const p of [ann, bob]) {
    await p.waitForFunction((n) => document.querySelectorAll("#log li.message").length >= n,
                            all.length, { timeout: WAIT });
    assert.deepEqual(await said(p), all);
    await p.context().close();
  }
  await cy.context().close();
  server.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});
