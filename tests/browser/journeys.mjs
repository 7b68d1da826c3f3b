// The console's journeys as people walk them, in Debian's Chromium. Run by
// the e2e test `console::journeys_in_a_real_browser`, which starts the
// platform and the console and passes where they are:
//   CONSOLE_URL, EXPERIMENTER_TOKEN, ADMIN_TOKEN, SCREENSHOTS (a directory),
//   COMPARE_A, COMPARE_B (two experiments) and COMPARE_EXPECTED (V1's
//   agreement table for them, as JSON), EXTEND_EXPERIMENT (an inconclusive
//   experiment with cases left).
// Every page a journey reaches is checked with axe-core: a serious or
// critical violation fails the run. Exits non-zero naming the first
// failed step.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const { CONSOLE_URL: base, EXPERIMENTER_TOKEN, ADMIN_TOKEN, SCREENSHOTS, COMPARE_A, COMPARE_B, COMPARE_EXPECTED, EXTEND_EXPERIMENT } = process.env;
mkdirSync(SCREENSHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // As root in CI; no background traffic to hosts this machine cannot reach.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/// axe-core on the page as it stands; serious and critical violations fail.
async function accessible(page, name) {
  // Evaluated through DevTools, not as a page script: the console's CSP
  // rightly refuses injected scripts.
  await page.evaluate(AXE);
  const results = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
  const bad = results.violations.filter((v) => ["serious", "critical"].includes(v.impact));
  check(bad.length === 0, `${name}: accessibility violations: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target).join(", ")}`).join("; ")}`);
}

async function shot(page, name) {
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

async function signIn(page, token, next = "/experiments") {
  await page.goto(`${base}${next}`);
  check(new URL(page.url()).pathname === "/signin", `an unsigned visit to ${next} should ask to sign in, got ${page.url()}`);
  await accessible(page, "sign-in");
  // From the keyboard: the token field, then the button.
  await page.focus("#token");
  await page.keyboard.type(token);
  await Promise.all([
    page.waitForURL((url) => url.pathname !== "/signin"),
    page.keyboard.press("Enter"),
  ]);
  check(new URL(page.url()).pathname === next.split("?")[0], `after signing in, expected ${next}, got ${page.url()}`);
}

/// A page in a context of its own: its own cookies, its own session.
async function fresh() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  return context.newPage();
}

/// The first quarantine record's page, as `page`'s person opens it.
async function openFirstRecord(page) {
  await page.goto(`${base}/quarantine`);
  await accessible(page, "quarantine");
  const record = page.locator("#records tbody tr a").first();
  await Promise.all([page.waitForURL(/\/quarantine\/[0-9a-f-]+$/), record.click()]);
  await accessible(page, "quarantine record");
  return page.url();
}

const journeys = {
  /// An experimenter signs in, finds a failed run, opens a wrong case and
  /// sees its expected and found findings.
  async experimenterOpensAWrongCase() {
    const page = await fresh();
    await signIn(page, EXPERIMENTER_TOKEN, "/experiments?status=quarantined");
    await accessible(page, "experiments");
    await shot(page, "experiments");
    const rows = page.locator("table.list tbody tr");
    check(await rows.count() >= 1, "the quarantined experiment should be listed");
    check((await rows.first().innerText()).includes("fail"), "its last verdict should say fail");
    await Promise.all([page.waitForURL(/\/experiments\/[0-9a-f-]+$/), rows.first().locator("a").first().click()]);
    await accessible(page, "experiment");
    await shot(page, "experiment");
    check(await page.locator("svg.chart").count() >= 2, "the experiment page should draw its tests");
    check((await page.locator("#verdict-heading + p.verdict").innerText()).includes("fail"), "the verdict should say fail");
    await Promise.all([page.waitForURL(/\/runs\/[0-9a-f-]+$/), page.locator("table.list a[href^='/runs/']").first().click()]);
    await page.selectOption("#outcome", "wrong");
    await Promise.all([page.waitForURL(/outcome=wrong/), page.click("form.filters button")]);
    await accessible(page, "run");
    await shot(page, "run-wrong-cases");
    const cases = page.locator("table.list tbody tr");
    check(await cases.count() >= 1, "the run should have wrong cases");
    await Promise.all([page.waitForURL(/\/cases\//), cases.first().locator("a").click()]);
    await accessible(page, "case");
    await shot(page, "case");
    check((await page.locator("#case-outcome").innerText()).includes("wrong"), "the case should be wrong");
    const found = await page.locator("#found tbody").innerText();
    check(found.includes("false positive"), `the found finding should be marked a false positive: ${found}`);
    check(await page.locator("table.code tr.found").count() >= 1, "the found finding's line should be marked in the code");
    check((await page.locator("#raw-answer").innerText()).includes("findings"), "the raw answer should be shown");
    await page.context().close();
  },

  /// An admin requests a re-evaluation of a quarantined configuration.
  async adminRequestsAReevaluation() {
    const page = await fresh();
    await signIn(page, ADMIN_TOKEN, "/quarantine");
    await shot(page, "quarantine");
    await openFirstRecord(page);
    check((await page.locator("#record-reason").innerText()).includes("accuracy"), "the record should say why");
    await shot(page, "quarantine-record");
    await page.fill("#reevaluate-description", "the provider says the model is fixed");
    await Promise.all([
      page.waitForURL(/\/experiments\/[0-9a-f-]+$/),
      page.click("#reevaluate button"),
    ]);
    const summary = await page.locator("dl.summary").innerText();
    check(summary.includes("Re-evaluates"), `the new experiment should link its record: ${summary}`);
    check(summary.includes("registered"), `the new experiment should be registered: ${summary}`);
    await page.context().close();
  },

  /// The compare view of two configurations shows the API's counts, and
  /// each differing case is one click from its page.
  async compareShowsTheApisCounts() {
    const expected = JSON.parse(COMPARE_EXPECTED);
    const page = await fresh();
    await signIn(page, EXPERIMENTER_TOKEN, `/compare?a=${COMPARE_A}&b=${COMPARE_B}`);
    await accessible(page, "compare");
    await shot(page, "compare");
    for (const [cell, key] of [["#both-right", "both_right"], ["#only-a-right", "only_a_right"], ["#only-b-right", "only_b_right"], ["#both-wrong", "both_wrong"]]) {
      const shown = Number(await page.locator(cell).innerText());
      check(shown === expected[key], `${key}: the page shows ${shown}, V1 says ${expected[key]}`);
    }
    const differing = page.locator("#differing tbody tr a");
    if (await differing.count() > 0) {
      await Promise.all([page.waitForURL(/\/cases\//), differing.first().click()]);
      check(await page.locator("#case-outcome").count() === 1, "a differing case should open its page");
    }
    await page.context().close();
  },

  /// An experimenter extends an inconclusive experiment and watches the
  /// run, without reloading, until it stops because the judge decided.
  async experimenterExtendsAndWatchesTheRunStop() {
    const page = await fresh();
    await signIn(page, EXPERIMENTER_TOKEN, `/experiments/${EXTEND_EXPERIMENT}`);
    await accessible(page, "inconclusive experiment");
    check((await page.locator("p.verdict").innerText()).includes("inconclusive"), "the experiment should be inconclusive");
    await Promise.all([page.waitForURL(/\/runs\/[0-9a-f-]+$/), page.click("text=Extend: evaluate more cases")]);
    await accessible(page, "live run");
    // The progress region refreshes itself: the page is never reloaded.
    await page.locator("#stop-reason").waitFor({ timeout: 60_000 });
    check((await page.locator("#stop-reason").innerText()).includes("decided"), "the run should stop because the judge decided");
    check((await page.locator("#run-status").innerText()).includes("finished"), "the run should be finished");
    await shot(page, "run-decided");
    await page.context().close();
  },

  /// An experimenter sees no admin buttons, and a forged admin POST with
  /// their session is refused by the gate.
  async experimenterHasNoAdminButtons() {
    const page = await fresh();
    await signIn(page, EXPERIMENTER_TOKEN, "/gate");
    await accessible(page, "gate");
    check(await page.locator(".actions").count() === 0, "an experimenter should see no rollout buttons");
    const record = await openFirstRecord(page);
    check(await page.locator("#reevaluate, #blacklist-form").count() === 0, "an experimenter should see no re-evaluate or blacklist form");
    const forged = await page.evaluate(async (url) => {
      const csrf = document.querySelector("input[name=csrf]").value;
      const response = await fetch(`${url}/blacklist`, {
        method: "POST",
        body: new URLSearchParams({ csrf, reason: "forged by an experimenter" }),
      });
      return { status: response.status, text: await response.text() };
    }, record);
    check(forged.status === 403, `a forged blacklist should be refused with 403, got ${forged.status}`);
    check(forged.text.includes("forbidden"), "the refusal should carry the gate's code");
    await page.context().close();
  },
};

let failed = 0;
for (const [name, journey] of Object.entries(journeys)) {
  try {
    await journey();
    console.log(`ok ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAILED ${name}: ${error.message}`);
  }
}
await browser.close();
process.exit(failed === 0 ? 0 : 1);
