// The run history table: filters, paging, row click, Cancel beside a running row's status, copy an
// image reference, auto-refresh toggle.
const COLUMNS = [["run_id", "Run ID"], ["target", "Target"], ["task", "Task"], ["type", "Type"],
  ["trigger", "Trigger"], ["status", "Status"], ["created", "Created"], ["duration", "Duration"],
  ["image", "Image@digest"]];
const STATUSES = ["", "Queued", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout"];

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// the clipboard API where the page is a secure context, else a selected text field and "copy"
async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const title = button.title;
  button.textContent = "copied";
  button.title = `copied ${text}`;
  setTimeout(() => { button.textContent = "copy"; button.title = title; }, 1500);
}

function render({ model, el }) {
  el.classList.add("acrmagic-history");
  const bar = h("div", "acr-toolbar");
  const status = h("select", "acr-status-filter");
  for (const s of STATUSES) {
    const o = h("option", null, s || "any status");
    o.value = s;
    status.appendChild(o);
  }
  const task = h("input", "acr-task-filter");
  task.placeholder = "task";
  const text = h("input", "acr-text-filter");
  text.placeholder = "search";
  const auto = h("input", "acr-auto");
  auto.type = "checkbox";
  const prev = h("button", "acr-prev", "‹");
  const next = h("button", "acr-next", "›");
  const info = h("span", "acr-page-info");
  const message = h("span", "acr-dim acr-message");
  const autoLabel = h("label", null, " auto-refresh ");
  autoLabel.prepend(auto);
  bar.append(status, task, text, autoLabel, prev, info, next, " ", message);
  const table = h("table");
  const thead = h("thead");
  const tr = h("tr");
  thead.appendChild(tr);
  const tbody = h("tbody");
  table.append(thead, tbody);
  el.append(bar, table);

  const set = (name, value) => { model.set(name, value); model.save_changes(); };
  status.addEventListener("change", () => set("status_filter", status.value));
  let typing;
  const debounce = (name, input) => () => { clearTimeout(typing); typing = setTimeout(() => set(name, input.value), 250); };
  task.addEventListener("input", debounce("task_filter", task));
  text.addEventListener("input", debounce("text_filter", text));
  auto.addEventListener("change", () => set("auto_refresh", auto.checked));
  prev.addEventListener("click", () => set("page", Math.max(0, model.get("page") - 1)));
  next.addEventListener("click", () => set("page", model.get("page") + 1));

  function draw() {
    status.value = model.get("status_filter");
    if (document.activeElement !== task) task.value = model.get("task_filter");
    if (document.activeElement !== text) text.value = model.get("text_filter");
    auto.checked = model.get("auto_refresh");
    const pages = Math.max(1, Math.ceil(model.get("total") / model.get("page_size")));
    info.textContent = ` page ${model.get("page") + 1} of ${pages} (${model.get("total")} runs) `;
    prev.disabled = model.get("page") === 0;
    next.disabled = model.get("page") + 1 >= pages;
    message.textContent = model.get("message");
    tbody.replaceChildren();
    const rows = model.get("rows");
    // the Task column only when a run on the page belongs to a task: room for the others
    const columns = COLUMNS.filter(([key]) => key !== "task" || rows.some((r) => r.task && r.task !== "-"));
    tr.replaceChildren(...columns.map(([key, title]) => h("th", `acr-col-${key}`, title)));
    if (!rows.length) {
      const filtered = model.get("status_filter") || model.get("task_filter") || model.get("text_filter");
      const r = h("tr", "acr-empty");
      const cell = h("td", null, filtered ? "no runs match" : "no runs yet");
      cell.colSpan = columns.length;
      r.appendChild(cell);
      tbody.appendChild(r);
    }
    for (const row of rows) {
      const selected = row.run_id === model.get("selected");
      const r = h("tr", `acr-row acr-${row.status.toLowerCase()}${selected ? " acr-selected" : ""}`);
      r.dataset.runId = row.run_id;
      for (const [key] of columns) {
        const td = h("td", `acr-col-${key}`);
        if (key === "status") {
          td.appendChild(h("span", `acr-status acr-${row.status.toLowerCase()}`, row.status));
          if (row.status === "Running" || row.status === "Queued") {
            const btn = h("button", "acr-row-cancel", "Cancel");
            btn.addEventListener("click", (ev) => { ev.stopPropagation(); set("cancel_run", row.run_id); });
            td.appendChild(btn);
          }
        } else if (key === "image") {
          if (!row.images || !row.images.length) td.textContent = "-";
          for (const image of row.images || []) {
            const item = h("div", "acr-image");
            // the name may be cut short; the digest's first 12 digits always show
            const code = h("code", "acr-image-name", image.name);
            code.title = image.ref;
            const digest = h("code", "acr-image-digest", `@${image.digest}`);
            digest.title = image.ref;
            const copy = h("button", "acr-copy", "copy");
            copy.title = `copy ${image.ref}`;
            copy.addEventListener("click", (ev) => { ev.stopPropagation(); copyText(image.ref, copy); });
            item.append(code, digest, copy);
            td.appendChild(item);
          }
        } else {
          td.textContent = row[key];
        }
        r.appendChild(td);
      }
      r.addEventListener("click", () => { set("selected", ""); set("selected", row.run_id); });
      tbody.appendChild(r);
    }
  }
  for (const name of ["rows", "total", "page", "page_size", "status_filter", "task_filter", "text_filter",
    "auto_refresh", "message", "selected"]) model.on(`change:${name}`, draw);
  draw();
}

export default { render };
