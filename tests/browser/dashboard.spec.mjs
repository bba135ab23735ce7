// End-to-end test of /dashboard in headless Chromium: sign in through the demo roles picker,
// drill down province → city → county, record a report through the API, and see the live
// "new reports" counter (and the reports KPI) change without a reload. Saves a screenshot.
//
// Usage: CAREHUB_URL=http://127.0.0.1:PORT node dashboard.spec.mjs   (run.sh starts the server)
// Exits non-zero on failure.

import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = process.env.CAREHUB_URL;
if (!BASE) {
  console.error("CAREHUB_URL is not set");
  process.exit(2);
}
const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = process.env.ARTIFACTS_DIR || join(HERE, "artifacts");
const SCREENSHOT = join(ARTIFACTS, "dashboard.png");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
// Upper bound for any single wait; a healthy run needs a fraction of it.
const WAIT_MS = 30_000;

const ROLE = "civil_affairs.case_officer";
const COUNTY = "450102"; // 南宁市兴宁区 in the seeded demo data

function step(msg) {
  console.log(`- ${msg}`);
}

async function api(path, body, token) {
  const res = await fetch(BASE + path, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok || json.errors) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  rmSync(join(ARTIFACTS, "dashboard-failure.png"), { force: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const problems = [];
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "zh-CN" });
    page = await context.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // CSP violations and script errors mean the page does not work as served.
      if (m.type() === "error") problems.push(`console error: ${m.text()} (${m.location().url || "?"})`);
    });
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    // The county's reportRaised subscription must be sent before the report is created.
    let countySubscribed;
    const countySubscribedP = new Promise((resolve) => { countySubscribed = resolve; });
    page.on("websocket", (ws) => ws.on("framesent", (f) => {
      const text = typeof f.payload === "string" ? f.payload : f.payload.toString();
      if (text.includes('"subscribe"') && text.includes(`"reports-${COUNTY}"`)) countySubscribed();
    }));

    step("open /dashboard");
    const resp = await page.goto(`${BASE}/dashboard`);
    if (!resp || resp.status() !== 200) throw new Error(`GET /dashboard: ${resp && resp.status()}`);

    step("sign in through the demo roles picker");
    await page.locator("#demo").waitFor({ state: "visible", timeout: WAIT_MS });
    await page.selectOption("#demo-role", ROLE);
    await page.selectOption("#demo-region", "45");
    await page.click("#demo-signin");
    await page.locator("#dash").waitFor({ state: "visible", timeout: WAIT_MS });
    await page.locator("#crumbs", { hasText: "广西壮族自治区" }).waitFor({ timeout: WAIT_MS });
    await page.waitForFunction(() => window.echarts && document.querySelector("#chart-risk canvas"), null, { timeout: WAIT_MS });

    step("drill down: province → city → county");
    await page.click('#sub-table tr.drill[data-code="4501"]');
    await page.locator("#crumbs", { hasText: "南宁市" }).waitFor({ timeout: WAIT_MS });
    await page.click(`#sub-table tr.drill[data-code="${COUNTY}"]`);
    await page.locator("#crumbs", { hasText: "兴宁区" }).waitFor({ timeout: WAIT_MS });
    await page.locator("#crumbs .level", { hasText: "县级" }).waitFor({ timeout: WAIT_MS });
    // Subscriptions for the county are open once the socket is acknowledged.
    await page.waitForFunction(() => document.body.dataset.live === "on", null, { timeout: WAIT_MS });
    await page.locator("#overdue-table thead").waitFor({ timeout: WAIT_MS });
    await Promise.race([
      countySubscribedP,
      new Promise((_, reject) => setTimeout(() => reject(new Error("the page never subscribed to reportRaised for the county")), WAIT_MS)),
    ]);

    const before = await page.evaluate(() => ({
      newReports: Number(document.querySelector("#new-reports").dataset.count),
      filed: document.querySelector("#kpi-reports-filed .value").textContent,
    }));
    if (before.newReports !== 0) throw new Error(`new-reports counter starts at ${before.newReports}, not 0`);
    // A reload would lose this marker.
    await page.evaluate(() => { window.__noReload = true; });

    step("record a report through the API");
    const { token } = await api("/dashboard/dev-token", { role: ROLE, region: COUNTY });
    const kids = await api("/graphql", {
      query: "query($c: String!) { children(filter: { regionCode: $c, status: ACTIVE }, first: 1) { nodes { id } } }",
      variables: { c: COUNTY },
    }, token);
    const child = kids.data.children.nodes[0];
    if (!child) throw new Error(`no child in ${COUNTY} in the seeded data`);
    const created = await api("/graphql", {
      query: "mutation($i: CreateReportInput!) { createReport(input: $i) { id status dueBy } }",
      variables: {
        i: {
          childId: child.id,
          category: "PSYCHOLOGICAL",
          discoveredAt: new Date(Date.now() - 3600_000).toISOString(),
          reportedTo: ["CIVIL_AFFAIRS"],
          description: "浏览器端到端测试：情绪低落，需要关注",
        },
      },
    }, token);
    const reportId = created.data.createReport.id;
    step(`report ${reportId} created`);

    step("the live counter and the feed change without reload");
    await page.waitForFunction(() => document.querySelector("#new-reports").dataset.count === "1", null, { timeout: WAIT_MS });
    await page.locator(`#feed li[data-report="${reportId}"]`).waitFor({ timeout: WAIT_MS });
    step("indicatorsChanged refetches the indicators (reports filed KPI changes)");
    await page.waitForFunction(
      (prev) => document.querySelector("#kpi-reports-filed .value").textContent !== prev,
      before.filed,
      { timeout: WAIT_MS },
    );
    const after = await page.evaluate(() => ({
      noReload: window.__noReload === true,
      filed: document.querySelector("#kpi-reports-filed .value").textContent,
    }));
    if (!after.noReload) throw new Error("the page reloaded");
    step(`reports filed ${before.filed} → ${after.filed}`);

    // Let the counter's animation settle so the screenshot shows the final state.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    step(`screenshot ${SCREENSHOT}`);

    if (problems.length) throw new Error("the page reported problems:\n  " + problems.join("\n  "));
    console.log("PASS dashboard browser test");
  } catch (e) {
    if (page) await page.screenshot({ path: join(ARTIFACTS, "dashboard-failure.png"), fullPage: true }).catch(() => {});
    if (problems.length) console.error(problems.join("\n"));
    throw e;
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`FAIL dashboard browser test: ${e.stack || e}`);
  process.exit(1);
});
