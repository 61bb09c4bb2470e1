/**
 * The web console in a real browser: headless Chromium (Debian's `chromium`) driven by puppeteer-core against
 * the composed service on a random port (the embedded service: real API, PGlite, in-process worker on the cpu
 * backend). A new user's whole demo flow without a terminal — sign in (a wrong key first), upload the demo
 * model folder and pairs, start an edit, follow it to `succeeded` through the live progress, read the report,
 * compare base and edited model, download the patch and check its sha256 — plus an XSS probe, the API
 * reference, no Content-Security-Policy violation anywhere, and screenshots of every page at 1280 and 390 px
 * under $PROFS_TEST_OUT/console (default out/console) for review.
 *
 * Skipped, visibly, when /usr/bin/chromium is absent (CI installs it: .ci/run).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { startEmbeddedService } from "../../infra/demo/embedded_service.ts";
import { writeDemoModel, writeDemoPairs } from "../../infra/demo/write_demo.ts";
import { silentLogger } from "../../shared/log.ts";
import { waitFor } from "../helpers/wait_for.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) {
  console.warn(`SKIPPED console browser test: ${CHROMIUM} is absent (apt-get install chromium)`);
}

const OUT = join(Deno.env.get("PROFS_TEST_OUT") ?? "out", "console");
const XSS_NAME = "<img src=x onerror=alert(1)>";
const WIDTHS = [1280, 390] as const;

async function launch(userDataDir: string): Promise<Browser> {
  return await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Both widths, full page, named `<name>-<width>.png`. */
async function screenshots(page: Page, name: string) {
  for (const width of WIDTHS) {
    await page.setViewport({ width, height: 900 });
    await page.screenshot({ path: join(OUT, `${name}-${width}.png`) as `${string}.png`, fullPage: true });
  }
  await page.setViewport({ width: 1280, height: 900 });
}

const text = (page: Page, selector: string) =>
  page.$eval(selector, (e) => (e as unknown as { innerText: string }).innerText).catch(() => "");

Deno.test({
  name:
    "console: a new user uploads, edits, watches, compares and downloads in the browser; tenant text stays text",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const work = await Deno.makeTempDir({ prefix: "profs-console-" });
    await mkdir(OUT, { recursive: true });
    const modelDir = join(work, "demo-model");
    await mkdir(modelDir);
    await writeDemoModel(modelDir);
    const pairsPath = join(work, "pairs.jsonl");
    await writeDemoPairs(pairsPath, { count: 64 });
    const downloads = join(work, "downloads");
    await mkdir(downloads);

    const service = await startEmbeddedService({
      blobDir: join(work, "blobs"),
      backend: "cpu",
      logger: silentLogger,
    });
    const browser = await launch(join(work, "chromium-profile"));
    let shown: Page | undefined;
    try {
      const page = await browser.newPage();
      shown = page;
      const dialogs: string[] = [];
      const cspViolations: string[] = [];
      const pageErrors: string[] = [];
      page.on("dialog", async (d) => {
        dialogs.push(d.message());
        await d.dismiss();
      });
      page.on("console", (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
      });
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      const cdp = await page.createCDPSession();
      await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
      await page.setViewport({ width: 1280, height: 900 });
      const go = (path: string) => page.goto(`${service.url}${path}`, { waitUntil: "networkidle0" });

      // `/` leads to the console, which links every page and the reference.
      await go("/");
      assert.equal(new URL(page.url()).pathname, "/console");
      const home = await page.$$eval("nav a", (as) => as.map((a) => a.getAttribute("href")));
      assert.ok(home.includes("/docs") && home.includes("/console/edits"), String(home));

      // A wrong key is refused and said so; the right one signs in.
      await page.type("#api-key", "not-a-valid-key");
      await page.click("#signin-button");
      await waitFor(async () => (await text(page, "#signin-status")).includes("not valid"), {
        message: "the wrong key's error",
      });
      await screenshots(page, "signin-error");
      await page.$eval("#api-key", (e) => ((e as unknown as { value: string }).value = ""));
      await page.type("#api-key", service.apiKey);
      await page.click("#signin-button");
      await waitFor(async () => (await text(page, "#signin-status")) === "Signed in", {
        message: "signed in",
      });
      assert.ok(!page.url().includes(service.apiKey), "the key is never in a URL");
      assert.deepEqual(await page.cookies(), [], "nor in a cookie");
      await screenshots(page, "home");

      // Models: the demo folder through the directory picker, per-file progress, finalized to ready.
      await go("/console/models");
      await page.type("#model-name", "demo gpt2");
      const folderInput = await page.$("#model-folder");
      // A directory input takes the folder itself (as the picker would give it).
      await (folderInput as unknown as { uploadFile(...p: string[]): Promise<void> }).uploadFile(modelDir);
      const picked = await page.$eval(
        "#model-folder",
        (e) =>
          Array.from((e as unknown as { files: { webkitRelativePath: string }[] }).files).map((f) =>
            f.webkitRelativePath
          ),
      );
      assert.equal(picked.length, 3, `picked ${picked}`);
      await page.click("#model-upload button[type=submit]");
      await waitFor(async () => (await page.$$("#upload-files tbody tr")).length === 3, {
        message: "3 file rows",
      });
      await waitFor(() => page.$("#models tbody td.state-ready"), {
        deadline: 60_000,
        message: "model ready",
      });
      const fileStates = await page.$$eval(
        "#upload-files tbody tr",
        (rows) => rows.map((r) => r.textContent),
      );
      for (const row of fileStates) assert.match(row ?? "", /stored/);
      assert.match(await text(page, "#models tbody"), /gpt2 · 4 layers/);
      await screenshots(page, "models");

      // Datasets: the pairs with a preview of the first lines; then the XSS probe as a dataset name.
      await go("/console/datasets");
      const fileInput = await page.$("#dataset-file");
      await (fileInput as unknown as { uploadFile(...p: string[]): Promise<void> }).uploadFile(pairsPath);
      await waitFor(async () => (await page.$$("#dataset-preview tbody tr")).length === 5, {
        message: "preview",
      });
      await page.$eval("#dataset-name", (e) => ((e as unknown as { value: string }).value = "demo pairs"));
      await page.click("#dataset-upload button[type=submit]");
      await waitFor(
        async () => (await text(page, "#dataset-upload-status")).includes("Stored demo pairs: 64 rows"),
        {
          message: "pairs stored",
        },
      );
      await page.$eval("#dataset-name", (e) => ((e as unknown as { value: string }).value = ""));
      await page.type("#dataset-name", XSS_NAME);
      await page.click("#dataset-upload button[type=submit]");
      await waitFor(async () => (await text(page, "#datasets tbody")).includes(XSS_NAME), {
        message: "the probe's name shown as text",
      });
      assert.equal((await page.$$("#datasets img")).length, 0, "no element made from the name");
      assert.deepEqual(dialogs, [], "no script ran");
      await screenshots(page, "datasets");

      // Edits: the form, live progress to succeeded, the report inline, the patch downloaded.
      await go("/console/edits");
      const datasetId = await page.$$eval(
        "#edit-dataset option",
        (os) => os.find((o) => o.textContent?.startsWith("demo pairs"))?.getAttribute("value"),
      );
      assert.ok(datasetId);
      await page.select("#edit-dataset", datasetId);
      await page.type("#edit-rank", "2");
      await page.click("#edit-form button[type=submit]");
      await waitFor(() => page.$("#edit-detail:not([hidden])"), { message: "edit opened" });
      await waitFor(async () => (await text(page, "#edit-status")) === "succeeded", {
        deadline: 180_000,
        message: "the edit succeeds",
      });
      // The log sits in a closed <details>: read its text content, not what is rendered.
      const events = await page.$eval("#edit-events", (e) => e.textContent ?? "");
      assert.match(events, /progress/, "progress arrived through the live stream");
      assert.match(events, /succeeded/);
      const stages = await page.$$eval(
        "#edit-stages li",
        (li) => li.map((l) => l.getAttribute("data-stage")),
      );
      assert.ok(stages.includes("embedding") && stages.includes("svd"), `stage bars: ${stages}`);
      const editId = await text(page, "#edit-id");
      assert.ok((await page.$$("#edit-result tbody tr")).length >= 1, "per-layer report rendered");
      await waitFor(async () => (await text(page, "#edit-card")).length > 0, { message: "model card shown" });
      await page.click('button[data-artifact="patch.safetensors"]');
      const patchPath = join(downloads, "patch.safetensors");
      await waitFor(async () => {
        try {
          return (await Deno.stat(patchPath)).size > 0;
        } catch {
          return false;
        }
      }, { message: "patch downloaded" });
      const view = await (await fetch(`${service.url}/v1/edits/${editId}`, {
        headers: { Authorization: `Bearer ${service.apiKey}` },
      })).json();
      const patch = view.artifacts.find((a: { name: string }) => a.name === "patch.safetensors");
      const downloaded = createHash("sha256").update(await readFile(patchPath)).digest("hex");
      assert.equal(downloaded, patch.sha256, "the downloaded patch is the API's");
      await screenshots(page, "edits");

      // Compare: the prompts through base and edited model via the checks API.
      await go("/console/compare");
      await page.select("#compare-edit", editId);
      await page.type("#compare-prompts", "You are such a\nShut up, you");
      await page.type("#compare-tokens", "4");
      await page.click("#compare-form button[type=submit]");
      await waitFor(async () => (await text(page, "#compare-status")) === "Done.", {
        deadline: 180_000,
        message: "the comparison",
      });
      assert.equal((await page.$$("#compare-summary tbody tr")).length, 2);
      assert.match(await text(page, "#compare-samples tbody"), /You are such a/);
      await screenshots(page, "compare");

      // Toxicity box.
      await go("/console/toxicity");
      await page.type("#toxicity-texts", "have a nice day\nshut up, you bastard");
      await page.click("#toxicity-form button[type=submit]");
      await waitFor(async () => (await page.$$("#toxicity-results tbody tr")).length === 2, {
        message: "scores",
      });
      await screenshots(page, "toxicity");

      // Webhooks and triggers: a trigger's fire URL is shown whole, ready to copy.
      await go("/console/webhooks");
      await waitFor(() => page.$("#trigger-model option[value]:not([value=''])"), {
        message: "models listed",
      });
      await page.type("#trigger-name", "nightly");
      await page.click("#trigger-form button[type=submit]");
      await waitFor(async () => (await text(page, "#trigger-secret")).includes("whsec_"), {
        message: "secret",
      });
      await waitFor(() => page.$("#triggers tbody input"), { message: "the trigger listed" });
      const fireUrl = await page.$eval(
        "#triggers tbody input",
        (e) => (e as unknown as { value: string }).value,
      );
      assert.match(fireUrl, new RegExp(`^${service.url}/v1/triggers/.+/fire$`));
      await screenshots(page, "webhooks");

      // The reference: Swagger UI from the npm package renders the operations.
      await go("/docs");
      await waitFor(() => page.$(".swagger-ui .opblock"), { message: "operations rendered" });
      assert.match(await text(page, "#docs-key"), /signed in/);
      await screenshots(page, "docs");

      assert.deepEqual(cspViolations, [], "no Content-Security-Policy violation");
      assert.deepEqual(pageErrors, [], "no uncaught script error");
      assert.deepEqual(dialogs, []);
    } catch (error) {
      // What the browser showed when it failed, for the log's reader.
      await shown?.screenshot({ path: join(OUT, "failure.png") as `${string}.png`, fullPage: true }).catch(
        () => {},
      );
      console.error(
        "browser page text at failure:",
        await shown?.$eval("main", (m) => m.textContent).catch(() => ""),
      );
      throw error;
    } finally {
      await browser.close();
      await service.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
