// Drives the operator console in a real browser (Debian's Chromium through
// playwright-core) against a running cityagent: sign in, a streamed answer
// with a tool citation, a proposal, its approval and execution by a
// supervisor, the UI and an answer in Chinese, and a hotline key that sees
// only the board. Prints one JSON line per check that passed; exits 1 on the
// first failure. Env: CITYAGENT_BASE, CITYAGENT_{OPERATOR,SUPERVISOR,HOTLINE,ADMIN}_KEY,
// CHROMIUM (default /usr/bin/chromium), SHOTS (a directory for screenshots, optional).
import { chromium } from "playwright-core";

const base = process.env.CITYAGENT_BASE;
const keys = { operator: process.env.CITYAGENT_OPERATOR_KEY, supervisor: process.env.CITYAGENT_SUPERVISOR_KEY, hotline: process.env.CITYAGENT_HOTLINE_KEY, admin: process.env.CITYAGENT_ADMIN_KEY };
const shots = process.env.SHOTS || "";
const ok = (check, extra) => console.log(JSON.stringify({ check, ...extra }));
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; throw new Error(msg); };

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const offOrigin = [];
const consoleErrors = [];
async function newPage(locale) {
  const ctx = await browser.newContext({ locale, viewport: { width: 1366, height: 768 } });
  const page = await ctx.newPage();
  page.on("request", (r) => { const u = r.url(); if (!u.startsWith(base) && !u.startsWith("data:")) offOrigin.push(u); });
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`); });
  page.setDefaultTimeout(60000);
  return page;
}
async function signIn(page, role) {
  await page.goto(base + "/console");
  await page.fill("#key", keys[role]);
  await page.click("form button[type=submit]");
  await page.waitForFunction((r) => document.querySelector("#who").textContent.includes(" · " + r + " · "), role);
}
async function shot(page, name) { if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: false }); }
// ask sends a message in the chat page and waits for the turn's details.
async function ask(page, agent, message) {
  // A render still pending (a language switch) would replace the form typed into.
  await page.waitForSelector('#view[data-ready^="chat "]', { state: "attached" });
  await page.selectOption("#agent", agent);
  const turns = await page.locator("[data-testid=answer]").count();
  await page.fill("#message", message);
  await page.click("#send");
  const answer = page.locator("[data-testid=answer]").nth(turns);
  await answer.waitFor();
  await page.locator("[data-testid=answer][data-state=done]").nth(turns).waitFor();
  await page.locator("#details [data-testid=citations]").waitFor();
  await page.waitForFunction(() => !document.querySelector("#send").disabled);
  return { answer: await answer.innerText(), deltas: Number(await answer.getAttribute("data-deltas")) };
}

try {
  // 1. An operator signs in; the key is in sessionStorage, not in the URL or a cookie.
  const op = await newPage("en-US");
  await signIn(op, "operator");
  const stored = await op.evaluate(() => ({ session: sessionStorage.getItem("cityagent.key"), cookie: document.cookie, url: location.href }));
  if (stored.session !== keys.operator || stored.cookie.includes(keys.operator) || stored.url.includes(keys.operator)) fail("the key is not kept in sessionStorage only: " + JSON.stringify(stored));
  const nav = await op.locator("#nav a").allInnerTexts();
  if (!nav.includes("Chat") || nav.includes("Approvals") || nav.includes("Evals")) fail("operator nav: " + nav);
  ok("sign in", { nav });

  // 2. A streamed answer with a tool citation.
  await op.waitForSelector("#agent option", { state: "attached" });
  const first = await ask(op, "traffic", "Which road segments are the most congested right now?");
  const toolCites = await op.locator("#details [data-testid=citations] li", { hasText: "tool" }).count();
  const calls = await op.locator("#details [data-testid=toolcalls] li").count();
  if (!first.answer.trim() || toolCites < 1 || calls < 1) fail(`answer ${JSON.stringify(first.answer)}, ${toolCites} tool citations, ${calls} tool calls`);
  if (first.deltas < 2) fail(`the answer did not stream: ${first.deltas} delta events shown`);
  const asOf = await op.locator("#details [data-testid=asof]").first().innerText();
  if (!/GMT\+8|UTC\+8/.test(asOf)) fail("as-of not in the city's zone (Asia/Shanghai): " + asOf);
  ok("streamed answer with a tool citation", { deltas: first.deltas, toolCites, asOf });
  await shot(op, "chat");

  // 3. Asking for a retiming makes a proposal, linked to its page.
  await ask(op, "traffic", "Renmin Road is jammed. Propose retiming its signals to give the main road more green.");
  const link = op.locator("#details [data-testid=proposals] a").first();
  await link.waitFor();
  const href = await link.getAttribute("href");
  const proposalID = decodeURIComponent(href.split("/").pop());
  ok("proposal", { proposal: proposalID });
  await link.click();
  await op.waitForSelector("h1 .badge");
  if (await op.locator("#approve").count()) fail("an operator is offered the approve button");
  await op.click("#signout");
  await op.waitForSelector("#key");
  if (await op.evaluate(() => sessionStorage.getItem("cityagent.key"))) fail("sign out left the key in sessionStorage");
  ok("sign out");

  // 4. A supervisor sees the proposal in the queue and approves it; it executes.
  const sup = await newPage("en-US");
  await signIn(sup, "supervisor");
  await sup.goto(base + "/console#/approvals");
  await sup.locator("[data-testid=queue] a").first().waitFor();
  await shot(sup, "approvals");
  await sup.goto(base + "/console#/proposal/" + encodeURIComponent(proposalID));
  await sup.waitForSelector("#approve");
  await shot(sup, "proposal");
  await sup.fill("#comment", "OK from the console test");
  await sup.click("#approve");
  await sup.waitForFunction(() => /executed|approved/.test(document.querySelector("h1").textContent));
  for (let i = 0; i < 20 && !(await sup.locator("h1").innerText()).includes("executed"); i++) {
    await sup.waitForTimeout(500);
    await sup.reload();
    await sup.waitForSelector("h1 .badge");
  }
  const status = await sup.locator("h1").innerText();
  if (!status.includes("executed")) fail("after approval: " + status);
  ok("approved and executed", { status });

  // 5. 中文: the UI and an answer in Chinese.
  await sup.goto(base + "/console#/chat");
  await sup.click("#lang");
  await sup.waitForFunction(() => [...document.querySelectorAll("#nav a")].some((a) => a.textContent === "对话"));
  await sup.waitForSelector('#view[data-ready="chat zh"]', { state: "attached" });
  await sup.waitForSelector("#agent option", { state: "attached" });
  const zh = await ask(sup, "traffic", "现在哪些路段最拥堵？");
  if (!/[\u4e00-\u9fff]{4,}/.test(zh.answer)) fail("answer not in Chinese: " + zh.answer);
  const zhNav = await sup.locator("#nav a").allInnerTexts();
  ok("中文", { nav: zhNav });
  await shot(sup, "chat-zh");

  // 6. A hotline key sees the board and nothing else.
  const hot = await newPage("zh-CN");
  await signIn(hot, "hotline");
  const hnav = await hot.locator("#nav a").allInnerTexts();
  if (hnav.length !== 1 || hnav[0] !== "热线") fail("hotline nav: " + hnav);
  await hot.waitForSelector("[data-testid=board] tbody tr");
  await hot.goto(base + "/console#/chat");
  await hot.waitForFunction(() => location.hash === "#/hotline");
  await hot.waitForSelector("[data-testid=board]");
  if (await hot.locator("#agent").count()) fail("a hotline key reached the chat page");
  ok("hotline board only", { nav: hnav });
  await shot(hot, "hotline");

  // 7. The admin's knowledge and evals pages (for the docs' screenshots).
  const adm = await newPage("en-US");
  await signIn(adm, "admin");
  await adm.goto(base + "/console#/knowledge");
  await adm.waitForSelector("#q");
  await adm.fill("#q", "road excavation permit");
  await adm.click("form.card button[type=submit]");
  await adm.waitForSelector("#search-results table tr, #search-results p");
  await shot(adm, "knowledge");
  await adm.goto(base + "/console#/audit");
  await adm.waitForSelector("[data-testid=verify] .badge");
  const verify = await adm.locator("[data-testid=verify]").innerText();
  if (!verify.includes("verifies")) fail("audit: " + verify);
  ok("audit verifies");
  await shot(adm, "audit");

  if (offOrigin.length) fail("requests to another origin: " + offOrigin.join(", "));
  if (consoleErrors.length) fail("browser console errors: " + consoleErrors.join(" | "));
  ok("same origin only");
  ok("done");
} finally {
  await browser.close();
}
