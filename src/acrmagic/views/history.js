// The run history table: filters, paging, row click, Cancel on running rows, auto-refresh toggle.
const COLUMNS = [["run_id", "Run ID"], ["task", "Task"], ["type", "Type"], ["trigger", "Trigger"],
  ["status", "Status"], ["created", "Created"], ["duration", "Duration"], ["image", "Image@digest"]];
const STATUSES = ["", "Queued", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout"];

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
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
  for (const [, title] of COLUMNS) tr.appendChild(h("th", null, title));
  tr.appendChild(h("th"));
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
    for (const row of model.get("rows")) {
      const r = h("tr", `acr-row acr-${row.status.toLowerCase()}`);
      r.dataset.runId = row.run_id;
      for (const [key] of COLUMNS) r.appendChild(h("td", `acr-col-${key}`, row[key]));
      const cell = h("td");
      if (row.status === "Running" || row.status === "Queued") {
        const btn = h("button", "acr-row-cancel", "Cancel");
        btn.addEventListener("click", (ev) => { ev.stopPropagation(); set("cancel_run", row.run_id); });
        cell.appendChild(btn);
      }
      r.appendChild(cell);
      r.addEventListener("click", () => { set("selected", ""); set("selected", row.run_id); });
      tbody.appendChild(r);
    }
  }
  for (const name of ["rows", "total", "page", "page_size", "status_filter", "task_filter", "text_filter",
    "auto_refresh", "message"]) model.on(`change:${name}`, draw);
  draw();
}

export default { render };
