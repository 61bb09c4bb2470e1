// The console's behaviour: one plain script for every page (the page is <body data-page>). Everything a tenant
// wrote reaches the page through textContent (the el() helper), never innerHTML. The API key is kept in this
// tab's sessionStorage and sent as a bearer header; it never goes into a URL or a cookie.
"use strict";
(function () {
  const KEY = "profs.apiKey";
  const $ = (id) => document.getElementById(id);
  const page = document.body.dataset.page;

  /** An element with attributes and children; strings become text nodes (never parsed as HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function bytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  }
  function seconds(s) {
    if (!isFinite(s) || s < 0) return "";
    if (s < 60) return `${Math.round(s)} s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

  class ApiFailure extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem || {};
    }
  }

  const key = () => sessionStorage.getItem(KEY);
  function authHeaders(extra) {
    const headers = new Headers(extra || {});
    const k = key();
    if (k) headers.set("Authorization", `Bearer ${k}`);
    return headers;
  }

  /** fetch() against the API with the bearer key; a non-2xx answer throws ApiFailure with the problem. */
  async function api(path, options) {
    const opts = Object.assign({}, options);
    opts.headers = authHeaders(opts.headers);
    if (opts.json !== undefined) {
      opts.headers.set("Content-Type", "application/json");
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    const response = await fetch(path, opts);
    if (!response.ok) {
      let problem = null;
      try {
        problem = await response.json();
      } catch {
        problem = null;
      }
      if (response.status === 401) signedOut("That API key was refused (401).");
      throw new ApiFailure(response.status, problem);
    }
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : response;
  }

  /** Shows an error (an ApiFailure's detail and each of its `errors` entries) in an alert box. */
  function showError(box, error) {
    if (typeof box === "string") box = $(box);
    if (!box) return;
    box.replaceChildren();
    if (!error) return;
    const problem = error.problem || {};
    box.append(el("strong", {}, error.status ? `${error.status}: ` : "", error.message));
    if (Array.isArray(problem.errors) && problem.errors.length) {
      box.append(
        el("ul", {}, problem.errors.map((e) => el("li", {}, el("code", {}, e.path || ""), " ", e.message))),
      );
    }
    if (problem.request_id) box.append(el("div", { class: "sub" }, `request id ${problem.request_id}`));
  }

  function fill(tableId, rows) {
    const body = $(tableId).tBodies[0];
    body.replaceChildren(...rows);
  }
  function emptyRow(tableId, text) {
    const cols = $(tableId).tHead.rows[0].cells.length;
    return el("tr", {}, el("td", { colspan: cols, class: "sub" }, text));
  }

  async function listAll(path) {
    const out = [];
    let cursor = null;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const pageData = await api(
        `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      out.push(...pageData.data);
      cursor = pageData.next_cursor || null;
    } while (cursor && out.length < 500);
    return out;
  }

  // ---- sign-in ---------------------------------------------------------------------------------------------
  function signedOut(message) {
    sessionStorage.removeItem(KEY);
    showSignin(message, true);
  }
  function showSignin(message, bad) {
    const status = $("signin-status");
    if (!status) return;
    const signedIn = Boolean(key());
    $("api-key").hidden = signedIn;
    document.querySelector("label[for=api-key]").hidden = signedIn;
    $("signin-button").hidden = signedIn;
    $("signout-button").hidden = !signedIn;
    status.textContent = message || (signedIn ? "Signed in" : "Not signed in");
    status.classList.toggle("bad", Boolean(bad));
  }
  function initSignin() {
    const form = $("signin");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const candidate = $("api-key").value.trim();
      if (!candidate) return showSignin("Enter an API key.", true);
      const response = await fetch("/v1/models?limit=1", {
        headers: { Authorization: `Bearer ${candidate}` },
      });
      if (response.status === 401) {
        let detail = "";
        try {
          detail = (await response.json()).detail || "";
        } catch { /* not JSON */ }
        return showSignin(`Sign-in failed: ${detail || "this API key is not valid"}`, true);
      }
      sessionStorage.setItem(KEY, candidate);
      $("api-key").value = "";
      showSignin("Signed in");
      refresh();
    });
    $("signout-button").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      showSignin("Signed out");
      refresh();
    });
    showSignin();
  }

  // ---- models ----------------------------------------------------------------------------------------------
  async function loadModels() {
    showError("models-error", null);
    const models = await listAll("/v1/models");
    fill("models", models.length ? models.map(modelRow) : [emptyRow("models", "No models yet.")]);
  }
  function modelRow(m) {
    const size = m.files.reduce((sum, f) => sum + f.size, 0);
    const actions = el("td", {});
    if (m.status !== "ready") {
      actions.append(el("button", { type: "button", onclick: () => finalizeModel(m.id) }, "Finalize"), " ");
    }
    actions.append(
      el("button", {
        type: "button",
        class: "danger",
        "aria-label": `Delete model ${m.name}`,
        onclick: async () => {
          if (!confirm(`Delete model ${m.name}?`)) return;
          try {
            await api(`/v1/models/${m.id}`, { method: "DELETE" });
            await loadModels();
          } catch (error) {
            showError("models-error", error);
          }
        },
      }, "Delete"),
    );
    return el(
      "tr",
      { "data-id": m.id },
      el("td", {}, m.name, el("div", { class: "sub" }, m.id)),
      el("td", { class: `state-${m.status}` }, m.status),
      el(
        "td",
        {},
        m.summary ? `${m.summary.family} · ${m.summary.num_layers} layers · d=${m.summary.hidden_size}` : "",
      ),
      el("td", {}, bytes(size), el("div", { class: "sub" }, `${m.files.length} files`)),
      el("td", { class: "hash" }, m.summary ? m.summary.sha256 : ""),
      el("td", {}, (m.errors || []).length ? el("ul", {}, m.errors.map((e) => el("li", {}, e))) : ""),
      actions,
    );
  }
  async function finalizeModel(id) {
    showError("models-error", null);
    try {
      await api(`/v1/models/${id}/finalize`, { method: "POST" });
    } catch (error) {
      showError("models-error", error);
    }
    await loadModels();
  }

  /** PUT one file with XMLHttpRequest (fetch has no upload progress), updating its row's bar, bytes and ETA. */
  function putFile(modelId, file, row) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const started = performance.now();
      xhr.open("PUT", `/v1/models/${modelId}/files/${encodeURIComponent(file.name)}`);
      xhr.setRequestHeader("Authorization", `Bearer ${key()}`);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      row.state.textContent = "uploading";
      row.retry.hidden = true;
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        row.bar.max = e.total;
        row.bar.value = e.loaded;
        row.bytes.textContent = `${bytes(e.loaded)} / ${bytes(e.total)}`;
        const elapsed = (performance.now() - started) / 1000;
        const rate = e.loaded / Math.max(elapsed, 1e-3);
        row.eta.textContent = e.loaded < e.total ? seconds((e.total - e.loaded) / rate) : "0 s";
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          row.bar.max = 1;
          row.bar.value = 1;
          row.bytes.textContent = `${bytes(file.size)} / ${bytes(file.size)}`;
          row.eta.textContent = "done";
          row.state.textContent = "stored";
          row.state.className = "state-ready";
          resolve(true);
        } else {
          let problem = {};
          try {
            problem = JSON.parse(xhr.responseText);
          } catch { /* not JSON */ }
          failed(`${xhr.status}: ${problem.detail || xhr.statusText}`);
        }
      };
      xhr.onerror = () => failed("network error");
      function failed(message) {
        row.state.textContent = message;
        row.state.className = "state-failed";
        row.retry.hidden = false;
        resolve(false);
      }
      xhr.send(file);
    });
  }

  function initModels() {
    $("model-upload").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("model-upload-error", null);
      const picked = Array.from($("model-folder").files);
      // Top-level files of the chosen folder only (the API takes flat names).
      const files = picked.filter((f) => (f.webkitRelativePath || f.name).split("/").length <= 2);
      if (!files.length) return showError("model-upload-error", new Error("The folder has no files."));
      let model;
      try {
        model = await api("/v1/models", { method: "POST", json: { name: $("model-name").value } });
      } catch (error) {
        return showError("model-upload-error", error);
      }
      const rows = files.map((file) => {
        const row = {
          bar: el("progress", { max: file.size || 1, value: 0, "aria-label": `upload of ${file.name}` }),
          bytes: el("span", {}, `0 B / ${bytes(file.size)}`),
          eta: el("span", {}, ""),
          state: el("span", {}, "waiting"),
          retry: null,
        };
        row.retry = el("button", {
          type: "button",
          hidden: true,
          "aria-label": `Retry ${file.name}`,
          onclick: async () => {
            if (await putFile(model.id, file, row)) await maybeFinalize();
          },
        }, "Retry");
        row.file = file;
        row.ok = false;
        row.tr = el(
          "tr",
          { "data-file": file.name },
          el("td", {}, file.name),
          el("td", {}, row.bar),
          el("td", {}, row.bytes),
          el("td", {}, row.eta),
          el("td", {}, row.state),
          el("td", {}, row.retry),
        );
        return row;
      });
      fill("upload-files", rows.map((r) => r.tr));
      await loadModels().catch(() => {});
      async function maybeFinalize() {
        for (const r of rows) r.ok = r.state.textContent === "stored";
        if (!rows.every((r) => r.ok)) return;
        try {
          await api(`/v1/models/${model.id}/finalize`, { method: "POST" });
        } catch (error) {
          showError("model-upload-error", error);
        }
        await loadModels();
      }
      for (const row of rows) await putFile(model.id, row.file, row);
      await maybeFinalize();
    });
    return loadModels;
  }

  // ---- datasets --------------------------------------------------------------------------------------------
  async function loadDatasets() {
    showError("datasets-error", null);
    const sets = await listAll("/v1/datasets");
    fill("datasets", sets.length ? sets.map(datasetRow) : [emptyRow("datasets", "No datasets yet.")]);
  }
  function datasetRow(d) {
    return el(
      "tr",
      { "data-id": d.id },
      el("td", {}, d.name, el("div", { class: "sub" }, d.id)),
      el("td", {}, d.kind),
      el("td", {}, d.format),
      el("td", {}, d.rows),
      el("td", {}, bytes(d.size)),
      el("td", { class: "hash" }, d.sha256),
      el(
        "td",
        {},
        el("button", {
          type: "button",
          class: "danger",
          "aria-label": `Delete dataset ${d.name}`,
          onclick: async () => {
            if (!confirm(`Delete dataset ${d.name}?`)) return;
            try {
              await api(`/v1/datasets/${d.id}`, { method: "DELETE" });
              await loadDatasets();
            } catch (error) {
              showError("datasets-error", error);
            }
          },
        }, "Delete"),
      ),
    );
  }
  /** The first lines of the chosen file, read locally: the two main texts of each (or the raw line). */
  async function previewDataset(file) {
    const text = await file.slice(0, 256 * 1024).text();
    const lines = text.split("\n").filter((l) => l.trim()).slice(0, 5);
    fill(
      "dataset-preview",
      lines.map((line, i) => {
        let first = line, second = "";
        try {
          const o = JSON.parse(line);
          const pick = (v) => (typeof v === "string" ? v : JSON.stringify(v));
          if ("preferred" in o) [first, second] = [pick(o.preferred), pick(o.rejected)];
          else if ("chosen" in o) [first, second] = [pick(o.chosen), pick(o.rejected)];
          else if ("preferred_output" in o) {
            [first, second] = [pick(o.preferred_output), pick(o.non_preferred_output)];
          } else if ("unpert_gen_text" in o) {
            [first, second] = [pick(o.unpert_gen_text), pick(o.pert_gen_text)];
          } else if ("text" in o) {
            first = pick(o.text);
          }
        } catch { /* shown raw; the API names the bad line on upload */ }
        return el("tr", {}, el("td", {}, i + 1), el("td", {}, first), el("td", {}, second));
      }),
    );
  }
  function initDatasets() {
    $("dataset-file").addEventListener("change", () => {
      const file = $("dataset-file").files[0];
      if (file) previewDataset(file);
      if (file && !$("dataset-name").value) $("dataset-name").value = file.name.replace(/\.jsonl?$/, "");
    });
    $("dataset-upload").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("dataset-upload-error", null);
      const file = $("dataset-file").files[0];
      const status = $("dataset-upload-status");
      status.textContent = "Uploading…";
      const query = new URLSearchParams({ name: $("dataset-name").value, kind: $("dataset-kind").value });
      try {
        const d = await api(`/v1/datasets?${query}`, {
          method: "POST",
          headers: { "Content-Type": "application/x-ndjson" },
          body: file,
        });
        status.textContent = `Stored ${d.name}: ${d.rows} rows (${d.format}).`;
      } catch (error) {
        status.textContent = "";
        showError("dataset-upload-error", error);
      }
      await loadDatasets();
    });
    return loadDatasets;
  }

  // ---- edits -----------------------------------------------------------------------------------------------
  function options(select, items, label, empty) {
    const previous = select.value;
    select.replaceChildren(
      ...(items.length
        ? items.map((i) => el("option", { value: i.id }, label(i)))
        : [el("option", { value: "" }, empty)]),
    );
    if (items.some((i) => i.id === previous)) select.value = previous;
  }
  async function loadEditChoices(modelSelect, datasetSelect) {
    const [models, sets] = await Promise.all([listAll("/v1/models"), listAll("/v1/datasets")]);
    options(
      modelSelect,
      models.filter((m) => m.status === "ready"),
      (m) => `${m.name} (${m.summary.family}, ${m.summary.num_layers} layers)`,
      "no ready model",
    );
    if (datasetSelect) {
      options(
        datasetSelect,
        sets.filter((d) => d.kind !== "texts"),
        (d) => `${d.name} (${d.rows} ${d.kind})`,
        "no pairs dataset",
      );
    }
  }
  async function loadEdits() {
    showError("edits-error", null);
    const edits = await listAll("/v1/edits");
    fill(
      "edits",
      edits.length
        ? edits.map((e) =>
          el(
            "tr",
            { "data-id": e.id },
            el("td", { class: "hash" }, e.id),
            el("td", { class: `state-${e.status}` }, e.status),
            el("td", { class: "hash" }, e.model_id || "(deleted)"),
            el("td", {}, when(e.created_at)),
            el("td", {}, el("a", { href: `/console/edits?id=${encodeURIComponent(e.id)}` }, "Open")),
          )
        )
        : [emptyRow("edits", "No edits yet.")],
    );
  }
  function numberField(id) {
    const v = $(id).value.trim();
    return v === "" ? undefined : Number(v);
  }
  function initEdits() {
    $("edit-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("edit-form-error", null);
      const params = {};
      const from = numberField("edit-layers-from"), to = numberField("edit-layers-to");
      if (from !== undefined || to !== undefined) params.layers = { from, to };
      for (
        const [name, id] of [
          ["rank", "edit-rank"],
          ["max_pairs", "edit-max-pairs"],
          ["seed", "edit-seed"],
          ["max_tokens", "edit-max-tokens"],
          ["holdout", "edit-holdout"],
        ]
      ) {
        const v = numberField(id);
        if (v !== undefined) params[name] = v;
      }
      params.centering = $("edit-centering").checked;
      if ($("edit-check").checked) params.check = true;
      try {
        const edit = await api("/v1/edits", {
          method: "POST",
          headers: { "Idempotency-Key": crypto.randomUUID() },
          json: { model_id: $("edit-model").value, dataset_id: $("edit-dataset").value, params },
        });
        history.pushState(null, "", `/console/edits?id=${encodeURIComponent(edit.id)}`);
        openEdit(edit.id);
        loadEdits();
      } catch (error) {
        showError("edit-form-error", error);
      }
    });
    $("edit-cancel").addEventListener("click", async () => {
      const id = $("edit-detail").dataset.id;
      try {
        const edit = await api(`/v1/edits/${id}/cancel`, { method: "POST" });
        showEdit(edit);
      } catch (error) {
        showError("edit-error", error);
      }
    });
    return async () => {
      await Promise.all([loadEditChoices($("edit-model"), $("edit-dataset")), loadEdits()]);
      const id = new URLSearchParams(location.search).get("id");
      if (id && $("edit-detail").dataset.id !== id) openEdit(id);
    };
  }

  let stream = null;
  async function openEdit(id) {
    if (stream) stream.abort();
    const detail = $("edit-detail");
    detail.hidden = false;
    detail.dataset.id = id;
    $("edit-id").textContent = id;
    $("edit-events").replaceChildren();
    $("edit-stages").replaceChildren();
    showError("edit-error", null);
    try {
      const edit = await api(`/v1/edits/${id}`);
      showEdit(edit);
      detail.scrollIntoView({ block: "start" });
      if (!isTerminal(edit.status)) followEvents(id, edit);
    } catch (error) {
      showError("edit-error", error);
    }
  }
  const isTerminal = (s) => s === "succeeded" || s === "failed" || s === "canceled";

  /** Reads the SSE endpoint with fetch() (EventSource cannot send an Authorization header). */
  async function followEvents(id, edit) {
    const controller = new AbortController();
    stream = controller;
    const started = edit.started_at ? new Date(edit.started_at).getTime() : Date.now();
    let stageStart = { stage: null, at: Date.now() };
    let lastSeq = 0;
    for (let attempt = 0; attempt < 20 && !controller.signal.aborted; attempt++) {
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        if (lastSeq) headers.set("Last-Event-ID", String(lastSeq));
        const response = await fetch(`/v1/edits/${id}/events`, { headers, signal: controller.signal });
        if (!response.ok) throw new ApiFailure(response.status, await response.json().catch(() => null));
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim())
              .join("\n");
            if (!data) continue;
            const event = JSON.parse(data);
            lastSeq = event.seq || lastSeq;
            onEvent(event);
          }
        }
        break; // the server ends the stream after a terminal event
      } catch (error) {
        if (controller.signal.aborted) return;
        showError("edit-error", error);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    if (!controller.signal.aborted) {
      showEdit(await api(`/v1/edits/${id}`));
      loadEdits().catch(() => {});
    }

    function onEvent(event) {
      $("edit-events").append(el("li", {}, `${event.seq} ${event.type} ${JSON.stringify(event.data)}`));
      const d = event.data || {};
      if (event.type === "progress" && d.total) {
        if (d.stage !== stageStart.stage) stageStart = { stage: d.stage, at: Date.now(), done: d.done };
        $("edit-status").textContent = "running";
        $("edit-stage").textContent = `stage ${d.stage}`;
        $("edit-progress").max = d.total;
        $("edit-progress").value = d.done;
        const elapsed = (Date.now() - started) / 1000;
        const stageElapsed = (Date.now() - stageStart.at) / 1000;
        const doneInStage = d.done - (stageStart.done || 0);
        const eta = doneInStage > 0 ? ((d.total - d.done) * stageElapsed) / doneInStage : NaN;
        $("edit-progress-text").textContent =
          `${d.stage}: ${d.done}/${d.total} · elapsed ${seconds(elapsed)}` +
          (isFinite(eta) ? ` · ETA of this stage ${seconds(eta)}` : "");
        stageBar(d.stage, d.done, d.total);
      } else if (isTerminal(event.type) || event.type === "status") {
        $("edit-status").textContent = d.status || event.type;
      }
    }
  }

  /** One bar per stage the job went through (loading_model, embedding, svd, writing, publishing, …). */
  function stageBar(stage, done, total) {
    const list = $("edit-stages");
    let row = list.querySelector(`li[data-stage="${CSS.escape(stage)}"]`);
    if (!row) {
      row = el(
        "li",
        { "data-stage": stage },
        el("span", { class: "stage-name" }, stage),
        el("progress", { max: 1, value: 0, "aria-label": `stage ${stage}` }),
        el("span", { class: "stage-count" }, ""),
      );
      list.append(row);
    }
    row.querySelector("progress").max = total || 1;
    row.querySelector("progress").value = done;
    row.querySelector(".stage-count").textContent = `${done}/${total}`;
  }

  function showEdit(edit) {
    $("edit-status").textContent = edit.status +
      (edit.cancel_requested && !isTerminal(edit.status) ? " (cancel requested)" : "");
    $("edit-status").className = `state-${edit.status}`;
    $("edit-cancel").disabled = isTerminal(edit.status);
    if (edit.progress) {
      $("edit-stage").textContent = `stage ${edit.progress.stage}`;
      $("edit-progress").max = edit.progress.total || 1;
      $("edit-progress").value = edit.progress.done;
    }
    if (isTerminal(edit.status)) $("edit-stage").textContent = "";
    if (edit.status === "succeeded") {
      $("edit-progress").max = 1;
      $("edit-progress").value = 1;
      const t = edit.timings || {};
      $("edit-progress-text").textContent = `succeeded in ${seconds(t.running_seconds)} (queued ${
        seconds(t.queued_seconds)
      })`;
    }
    if (edit.error) showError("edit-error", new Error(edit.error.message));
    const layers = (edit.result && edit.result.layers) || [];
    fill(
      "edit-result",
      layers.map((l) =>
        el(
          "tr",
          {},
          el("td", {}, l.layer),
          el("td", {}, l.singular_values.map((v) => v.toPrecision(4)).join(", ")),
          el("td", {}, l.explained_variance.map((v) => `${(v * 100).toFixed(1)}%`).join(", ")),
          el(
            "td",
            {},
            l.top_tokens.map((dir, i) =>
              el(
                "div",
                {},
                `#${i + 1}: `,
                dir.slice(0, 8).map((t) => t.token).join(" · "),
              )
            ),
          ),
        )
      ),
    );
    $("edit-artifacts").replaceChildren(
      ...edit.artifacts.map((a) =>
        el(
          "li",
          {},
          el("button", {
            type: "button",
            class: "secondary",
            "data-artifact": a.name,
            onclick: () => download(a),
          }, `Download ${a.name}`),
          ` ${bytes(a.size)} `,
          el("span", { class: "hash" }, a.sha256 ? `sha256 ${a.sha256}` : ""),
        )
      ),
    );
    const report = edit.artifacts.find((a) => a.name === "report.html");
    const card = edit.artifacts.find((a) => a.name === "README.md");
    // report.html (written when the edit ran its check) is self-contained and shown in a sandboxed frame with
    // no script; without it the per-layer table above is the report.
    $("edit-report-section").hidden = !report;
    if (report) artifactText(report).then((html) => ($("edit-report").srcdoc = html)).catch(() => {});
    if (card) artifactText(card).then((text) => ($("edit-card").textContent = text)).catch(() => {});
  }
  async function artifactText(artifact) {
    const response = await api(artifact.url);
    return response.text();
  }
  /** Downloads with the bearer header: fetched into a Blob, saved through a temporary object URL. */
  async function download(artifact) {
    try {
      const response = await api(artifact.url);
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: artifact.name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      showError("edit-error", error);
    }
  }

  // ---- compare ---------------------------------------------------------------------------------------------
  function initCompare() {
    $("compare-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("compare-error", null);
      const status = $("compare-status");
      const params = {};
      const tokens = numberField("compare-tokens");
      if (tokens !== undefined) params.max_new_tokens = tokens;
      try {
        const prompts = $("compare-prompts").value.split("\n").map((l) => l.trim()).filter(Boolean);
        if (prompts.length) {
          status.textContent = "Uploading the prompts…";
          const body = prompts.map((text) => JSON.stringify({ text })).join("\n") + "\n";
          const query = new URLSearchParams({
            name: `compare prompts ${new Date().toISOString()}`,
            kind: "texts",
          });
          const set = await api(`/v1/datasets?${query}`, { method: "POST", body });
          params.challenge_dataset_id = set.id;
        }
        status.textContent = "Running the check…";
        let check = await api("/v1/checks", {
          method: "POST",
          json: { edit_id: $("compare-edit").value, params },
        });
        const startedAt = Date.now();
        while (!["succeeded", "failed", "canceled"].includes(check.status)) {
          await new Promise((r) => setTimeout(r, 500));
          check = await api(`/v1/checks/${check.id}`);
          status.textContent = `Check ${check.status} · ${seconds((Date.now() - startedAt) / 1000)}`;
        }
        if (check.status !== "succeeded") {
          throw new Error(`The check ${check.status}: ${(check.error && check.error.message) || ""}`);
        }
        status.textContent = "Done.";
        showComparison(check.result);
      } catch (error) {
        status.textContent = "";
        showError("compare-error", error);
      }
    });
    return async () => {
      const edits = (await listAll("/v1/edits")).filter((e) => e.status === "succeeded");
      options($("compare-edit"), edits, (e) => `${e.id} (${when(e.finished_at)})`, "no succeeded edit");
    };
  }
  function tox(score) {
    return el("span", { class: `tox${score >= 0.5 ? " high" : ""}` }, score.toFixed(3));
  }
  function showComparison(result) {
    const row = (label, r) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, label),
        el("td", {}, r.toxicity.mean.toFixed(3)),
        el("td", {}, `${(r.toxicity.share_toxic * 100).toFixed(0)}%`),
        el("td", {}, r.perplexity.value.toFixed(2)),
        el("td", {}, r.kl ? r.kl.mean.toFixed(4) : "—"),
      );
    fill("compare-summary", [row("base", result.before), row("edited", result.after)]);
    const after = new Map(result.after.samples.map((s) => [s.prompt, s]));
    fill(
      "compare-samples",
      result.before.samples.map((b) => {
        const a = after.get(b.prompt);
        return el(
          "tr",
          {},
          el("td", {}, b.prompt),
          el("td", {}, b.continuation, el("div", { class: "sub" }, "toxicity ", tox(b.score))),
          el(
            "td",
            {},
            a ? a.continuation : "",
            a ? el("div", { class: "sub" }, "toxicity ", tox(a.score)) : "",
          ),
        );
      }),
    );
  }

  // ---- webhooks and triggers -------------------------------------------------------------------------------
  async function loadEndpoints() {
    const list = await listAll("/v1/webhook-endpoints");
    fill(
      "endpoints",
      list.length
        ? list.map((w) =>
          el(
            "tr",
            { "data-id": w.id },
            el("td", {}, w.url, el("div", { class: "sub" }, w.id)),
            el("td", {}, w.events.join(", ")),
            el(
              "td",
              {},
              w.disabled ? `disabled: ${w.disabled_reason || ""}` : "enabled",
              w.previous_secret_expires_at
                ? el("div", { class: "sub" }, `old secret valid until ${when(w.previous_secret_expires_at)}`)
                : "",
            ),
            el(
              "td",
              {},
              el("button", { type: "button", onclick: () => loadDeliveries(w.id) }, "Deliveries"),
              " ",
              el("button", {
                type: "button",
                onclick: async () => {
                  try {
                    const r = await api(`/v1/webhook-endpoints/${w.id}/rotate-secret`, { method: "POST" });
                    $("endpoint-secret").textContent =
                      `New signing secret for ${w.url} (shown once): ${r.secret}`;
                    await loadEndpoints();
                  } catch (error) {
                    showError("endpoints-error", error);
                  }
                },
              }, "Rotate secret"),
              " ",
              w.disabled
                ? el("button", {
                  type: "button",
                  onclick: () => act(`/v1/webhook-endpoints/${w.id}/enable`, "POST"),
                }, "Enable")
                : "",
              " ",
              el("button", {
                type: "button",
                class: "danger",
                onclick: () => act(`/v1/webhook-endpoints/${w.id}`, "DELETE"),
              }, "Delete"),
            ),
          )
        )
        : [emptyRow("endpoints", "No endpoints yet.")],
    );
    async function act(path, method) {
      try {
        await api(path, { method });
        await loadEndpoints();
      } catch (error) {
        showError("endpoints-error", error);
      }
    }
  }
  async function loadDeliveries(endpointId) {
    try {
      const list = await listAll(`/v1/webhook-endpoints/${endpointId}/deliveries`);
      fill(
        "deliveries",
        list.length
          ? list.map((d) =>
            el(
              "tr",
              {},
              el("td", {}, when(d.created_at)),
              el("td", {}, d.payload && d.payload.type ? d.payload.type : ""),
              el("td", { class: `state-${d.status}` }, d.status),
              el("td", {}, d.attempts),
              el("td", {}, d.last_status_code ?? d.last_error ?? ""),
              el("td", {}, when(d.next_attempt_at)),
              el(
                "td",
                {},
                el("button", {
                  type: "button",
                  onclick: async () => {
                    try {
                      await api(`/v1/webhook-endpoints/${endpointId}/deliveries/${d.id}/replay`, {
                        method: "POST",
                      });
                      await loadDeliveries(endpointId);
                    } catch (error) {
                      showError("endpoints-error", error);
                    }
                  },
                }, "Retry"),
              ),
            )
          )
          : [emptyRow("deliveries", "No deliveries for this endpoint yet.")],
      );
    } catch (error) {
      showError("endpoints-error", error);
    }
  }
  async function loadTriggers() {
    const list = await listAll("/v1/triggers");
    fill(
      "triggers",
      list.length
        ? list.map((t) => {
          const url = new URL(t.links.fire, location.origin).href;
          return el(
            "tr",
            { "data-id": t.id },
            el("td", {}, t.name),
            el(
              "td",
              {},
              el("input", {
                readonly: true,
                value: url,
                "aria-label": `fire URL of ${t.name}`,
                class: "mono",
              }),
            ),
            el("td", {}, when(t.last_fired_at)),
            el(
              "td",
              {},
              el("button", {
                type: "button",
                onclick: async (e) => {
                  await navigator.clipboard.writeText(url).then(
                    () => (e.target.textContent = "Copied"),
                    () => (e.target.textContent = "Copy failed"),
                  );
                },
              }, "Copy URL"),
              " ",
              el("button", {
                type: "button",
                class: "danger",
                onclick: async () => {
                  try {
                    await api(`/v1/triggers/${t.id}`, { method: "DELETE" });
                    await loadTriggers();
                  } catch (error) {
                    showError("triggers-error", error);
                  }
                },
              }, "Delete"),
            ),
          );
        })
        : [emptyRow("triggers", "No triggers yet.")],
    );
  }
  function initWebhooks() {
    $("endpoint-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("endpoints-error", null);
      const events = Array.from(document.querySelectorAll("input[name=events]:checked")).map((i) => i.value);
      try {
        const r = await api("/v1/webhook-endpoints", {
          method: "POST",
          json: { url: $("endpoint-url").value, events },
        });
        $("endpoint-secret").textContent = `Signing secret (shown once): ${r.secret}`;
        await loadEndpoints();
      } catch (error) {
        showError("endpoints-error", error);
      }
    });
    $("trigger-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("triggers-error", null);
      const template = { model_id: $("trigger-model").value };
      if ($("trigger-dataset").value) template.dataset_id = $("trigger-dataset").value;
      try {
        const r = await api("/v1/triggers", {
          method: "POST",
          json: { name: $("trigger-name").value, template },
        });
        $("trigger-secret").textContent = `Trigger signing secret (shown once): ${r.secret}`;
        await loadTriggers();
      } catch (error) {
        showError("triggers-error", error);
      }
    });
    return () =>
      Promise.all([
        loadEndpoints().catch((e) => showError("endpoints-error", e)),
        loadTriggers().catch((e) => showError("triggers-error", e)),
        loadEditChoices($("trigger-model"), $("trigger-dataset")).catch(() => {}),
      ]);
  }

  // ---- toxicity --------------------------------------------------------------------------------------------
  function initToxicity() {
    $("toxicity-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("toxicity-error", null);
      const texts = $("toxicity-texts").value.split("\n").map((l) => l.trim()).filter(Boolean);
      try {
        const r = await api("/v1/toxicity", { method: "POST", json: { texts } });
        fill(
          "toxicity-results",
          r.results.map((res, i) =>
            el(
              "tr",
              {},
              el("td", {}, texts[i]),
              el("td", {}, tox(res.score)),
              el("td", {}, res.toxic ? "yes" : "no"),
              el("td", {}, res.terms.join(", ")),
            )
          ),
        );
      } catch (error) {
        showError("toxicity-error", error);
      }
    });
    return null;
  }

  // ---- start -----------------------------------------------------------------------------------------------
  const inits = {
    models: initModels,
    datasets: initDatasets,
    edits: initEdits,
    compare: initCompare,
    webhooks: initWebhooks,
    toxicity: initToxicity,
  };
  let load = null;
  async function refresh() {
    if (!load || !key()) return;
    try {
      await load();
    } catch (error) {
      const box = document.querySelector(".alert");
      showError(box, error);
    }
  }
  initSignin();
  if (inits[page]) load = inits[page]();
  refresh();
})();
