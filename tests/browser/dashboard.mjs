// Loads the dashboard from a running server (BASE_URL), waits for the charts, checks that
// every chart drew data points, and saves a screenshot. Exit code 0 only when all checks pass.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = process.env.BASE_URL;
const shot = process.env.SCREENSHOT || "artifacts/dashboard.png";
if (!base) {
  console.error("BASE_URL is not set");
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), "sy-chromium-"));
// A fresh profile directory per run (Playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 1300 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const failures = [];
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // The browser asks for /favicon.ico after the bare 401 page; that path belongs to the gateway.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico")) errors.push(`${m.text()} (${m.location().url})`);
  });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  // Any request leaving the server under test means the page is not self-contained.
  const origin = new URL(base).origin;
  const outside = [];
  page.on("request", (r) => { if (!r.url().startsWith(origin)) outside.push(r.url()); });

  const unauth = await page.goto(`${base}/ui`);
  if (process.env.ADMIN_KEY) {
    if (unauth.status() !== 401) failures.push(`without the key /ui answered ${unauth.status()}, want 401`);
    errors.length = 0; // the console reports that intended 401; only later errors count
    await page.goto(`${base}/ui?key=${encodeURIComponent(process.env.ADMIN_KEY)}`);
    if (new URL(page.url()).search.includes("key=")) failures.push("key stayed in the URL after login");
  }
  await page.waitForSelector("body[data-rendered='1']", { timeout: 15000 });

  const counts = await page.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll("svg.chart")].map((s) => [s.id, s.querySelectorAll(".pt").length])));
  for (const [id, n] of Object.entries(counts)) {
    if (n === 0) failures.push(`chart ${id} drew no data points`);
  }
  if (Object.keys(counts).length !== 7) failures.push(`expected 7 charts, found ${Object.keys(counts).length}`);
  const legendModels = await page.locator("#lg-model span").count();
  if (legendModels < 2) failures.push(`spend-by-model legend has ${legendModels} entries`);
  const spend = await page.locator(".stat .v").nth(1).textContent();
  if (!/^\$\d/.test(spend || "")) failures.push(`spend total reads ${spend}`);
  if (errors.length) failures.push(`page errors: ${errors.join("; ")}`);
  if (outside.length) failures.push(`requests outside the server: ${outside.join(", ")}`);

  mkdirSync(shot.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`charts: ${JSON.stringify(counts)}`);
  console.log(`screenshot: ${shot}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failures.length) {
  console.error("FAIL\n  " + failures.join("\n  "));
  process.exit(1);
}
console.log("PASS dashboard");
