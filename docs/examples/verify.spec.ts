// An end-to-end test that asserts what the app sent, with the fake's verify API (docs/verify.md).
//
//   mockserver --admin-token e2e-admin &           # or read the token the banner prints
//   MOCK_URL=http://127.0.0.1:8000 MOCK_ADMIN_TOKEN=e2e-admin npx playwright test
//
// The "app" here is a small page served on another loopback port, as a dev server would (the fake allows
// CORS from any localhost port); in your project, page.goto() your dev server instead.
import { test, expect, request, type APIRequestContext } from "@playwright/test";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const MOCK = process.env.MOCK_URL ?? "http://127.0.0.1:8000";
const ADMIN_TOKEN = process.env.MOCK_ADMIN_TOKEN ?? "";
let APP = "";  // the app's address, once its server listens
const CUSTOMER = "6500000000000000000000a1";
const JANE = "6500000000000000000001a1";

// The front end under test: edits Jane's job title through the Users API (a bearer token, a PATCH).
const APP_HTML = `<!doctype html><meta charset="utf-8"><title>Profile</title>
<label>Job title <input id="job-title"></label> <button id="save">Save</button> <p id="status"></p>
<script>
  const api = ${JSON.stringify(MOCK)} + "/api/v1/customers/${CUSTOMER}/users/${JANE}";
  const session = new URLSearchParams(location.search).get("session");
  document.querySelector("#save").addEventListener("click", async () => {
    const status = document.querySelector("#status");
    try {
      const response = await fetch(api, {
        method: "PATCH",
        headers: { Authorization: "Bearer jane-token", "Content-Type": "application/json", "X-Mock-Session": session },
        body: JSON.stringify({ jobTitle: document.querySelector("#job-title").value }),
      });
      status.textContent = response.ok ? "Saved" : "Failed: " + response.status;
    } catch (error) {
      status.textContent = "Failed: " + error;
    }
  });
</script>`;

let admin: APIRequestContext;
let app: http.Server;

test.beforeAll(async () => {
  admin = await request.newContext({ baseURL: MOCK, extraHTTPHeaders: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  app = http.createServer((_, response) => response.writeHead(200, { "Content-Type": "text/html" }).end(APP_HTML));
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  APP = `http://127.0.0.1:${(app.address() as AddressInfo).port}/`;
});

test.afterAll(async () => {
  await admin.dispose();
  app.close();
});

// Each test gets its own session: its own copy of the data, and its own requests to verify.
function sessionFor(title: string): string {
  return `e2e-${title.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 40)}-${Date.now()}`;
}

async function verify(session: string, body: object) {
  const response = await admin.post("/__admin/verify", { data: body, headers: { "X-Mock-Session": session } });
  return { status: response.status(), body: await response.json() };
}

test("saving the profile sends exactly one PATCH with the new job title", async ({ page }, info) => {
  const session = sessionFor(info.title);
  await page.goto(`${APP}?session=${session}`);
  await page.fill("#job-title", "Chief Tea Officer");
  await page.click("#save");
  await expect(page.locator("#status")).toHaveText("Saved");

  const result = await verify(session, {
    request: { method: "PATCH", operationId: "update_user_v1", body: { jobTitle: "Chief Tea Officer" } },
    times: { exactly: 1 },
  });
  // On failure, the 417's detail and nearMisses say which request came closest and why it missed.
  expect(result.status, JSON.stringify(result.body, null, 2)).toBe(200);
  expect(result.body.requests[0].path).toBe(`/api/v1/customers/${CUSTOMER}/users/${JANE}`);

  // Nothing else was written in this session.
  const others = await verify(session, { request: { method: "DELETE" }, times: { exactly: 0 } });
  expect(others.status).toBe(200);
});

test("a wrong expectation fails with the closest request and why it missed", async ({ page }, info) => {
  const session = sessionFor(info.title);
  await page.goto(`${APP}?session=${session}`);
  await page.fill("#job-title", "CTO");
  await page.click("#save");
  await expect(page.locator("#status")).toHaveText("Saved");

  const result = await verify(session, { request: { method: "PATCH", body: { jobTitle: "CEO" } } });
  expect(result.status).toBe(417);
  expect(result.body.nearMisses[0].differences).toEqual(['body.jobTitle: expected "CEO", got "CTO"']);
});

test("the journal's HAR replays the app's traffic without the fake", async ({ browser }, info) => {
  const session = sessionFor(info.title);
  // Record: the app runs against the fake.
  const recording = await browser.newPage();
  await recording.goto(`${APP}?session=${session}`);
  await recording.fill("#job-title", "Replayed");
  await recording.click("#save");
  await expect(recording.locator("#status")).toHaveText("Saved");
  await recording.close();

  // Export the journal as HAR 1.2 and let Playwright's own HAR reader answer the app's calls.
  const har = await admin.get("/__admin/journal.har");
  expect(har.status()).toBe(200);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mockserver-har-")), "journal.har");
  fs.writeFileSync(file, await har.body());
  const context = await browser.newContext();
  await context.routeFromHAR(file, { url: `${MOCK}/api/**`, notFound: "abort" });
  const page = await context.newPage();
  await page.goto(`${APP}?session=${session}`);
  await page.fill("#job-title", "Replayed");
  await page.click("#save");
  await expect(page.locator("#status")).toHaveText("Saved");
  await context.close();
  // The answer came from the archive: the fake saw the recording's PATCH only.
  const seen = await verify(session, { request: { method: "PATCH", body: { jobTitle: "Replayed" } }, times: { exactly: 1 } });
  expect(seen.status, JSON.stringify(seen.body)).toBe(200);
});
