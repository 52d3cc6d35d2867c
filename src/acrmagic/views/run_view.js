// The run view. State arrives as synced traits; nothing is fetched from the network.
const STATE_CLASS = {
  queued: "queued", running: "running", cached: "cached", succeeded: "ok", failed: "failed",
  skipped: "skipped", canceled: "failed",
};

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function elapsed(model) {
  const start = model.get("started");
  if (!start) return "";
  const end = model.get("finished") || Date.now() / 1000;
  return `${Math.max(0, end - start).toFixed(1)}s`;
}

function render({ model, el }) {
  el.classList.add("acrmagic-run");
  const open = new Set();
  const root = h("div");
  el.appendChild(root);

  function draw() {
    root.replaceChildren();
    const status = model.get("status");
    const head = h("div", "acr-head");
    head.append(h("b", null, `Run ${model.get("run_id")}`), " ",
      h("span", `acr-status acr-${status.toLowerCase()}`, status), " ",
      h("span", "acr-elapsed", elapsed(model)), " ",
      h("small", null, `${model.get("run_type")} · ${model.get("backend")} · ${model.get("trigger")}`));
    const live = model.get("live") && (status === "Running" || status === "Queued");
    if (live) {
      const requested = model.get("cancel_requested");
      const btn = h("button", "acr-cancel", requested ? "Canceling…" : "Cancel");
      btn.disabled = requested;
      btn.addEventListener("click", () => {
        model.set("cancel_requested", true);
        model.save_changes();
      });
      head.append(" ", btn);
    }
    root.appendChild(head);

    const steps = model.get("steps");
    const levels = [...new Set(steps.map((s) => s.level))].sort((a, b) => a - b);
    for (const level of levels) {
      const group = h("div", "acr-level");
      if (levels.length > 1) group.appendChild(h("div", "acr-level-name", `level ${level + 1}`));
      for (const s of steps.filter((x) => x.level === level)) {
        const row = h("div", `acr-step acr-${STATE_CLASS[s.status] || "queued"}`);
        const line = h("div", "acr-step-line");
        line.append(h("span", "acr-step-state", s.status), " ", h("span", "acr-step-name", s.name));
        if (s.duration !== null && s.duration !== undefined) line.append(" ", h("span", "acr-dim", `${s.duration}s`));
        if (s.exit_code) line.append(" ", h("span", "acr-exit", `exit ${s.exit_code}`));
        if (s.progress) line.append(" ", h("span", "acr-progress", s.progress));
        else if (s.lines) line.append(" ", h("span", "acr-dim", `${s.lines} lines`));
        // what a command printed last (a smoke test's prediction), a push's digest
        if (s.last) line.append(" ", h("code", "acr-last", `→ ${s.last}`));
        line.addEventListener("click", () => {
          open.has(s.number) ? open.delete(s.number) : open.add(s.number);
          draw();
        });
        row.appendChild(line);
        // a running or failed step shows its tail by itself; others on a click
        const shown = open.has(s.number) || ((s.status === "running" || s.status === "failed") && s.tail.length);
        if (shown) {
          const full = model.get("expanded") === s.number;
          const pre = h("pre", "acr-log", (full ? model.get("full_log") : s.tail).join("\n"));
          row.appendChild(pre);
          if (!full && s.lines > s.tail.length) {
            const more = h("a", "acr-more", `show the full log (${s.lines} lines)`);
            more.addEventListener("click", () => {
              model.set("expanded", s.number);
              model.save_changes();
            });
            row.appendChild(more);
          }
        }
        group.appendChild(row);
      }
      root.appendChild(group);
    }
    const tail = model.get("log_tail");
    if (tail.length) root.appendChild(h("pre", "acr-log acr-run-log", tail.join("\n")));
    const images = model.get("images");
    if (images.length) {
      const ul = h("ul", "acr-images");
      for (const i of images) ul.appendChild(h("li", null, i));
      root.appendChild(ul);
    }
    if (model.get("error")) {
      root.appendChild(h("div", "acr-error", model.get("error")));
      if (model.get("error_line")) root.appendChild(h("pre", "acr-error-line", model.get("error_line")));
    }
  }

  for (const name of ["status", "steps", "log_tail", "images", "error", "error_line", "cancel_requested",
    "full_log", "expanded", "finished", "run_id"]) {
    model.on(`change:${name}`, draw);
  }
  const timer = setInterval(() => {
    const e = root.querySelector(".acr-elapsed");
    if (e) e.textContent = elapsed(model);
  }, 500);
  draw();
  return () => clearInterval(timer);
}

export default { render };
