// queuectl dashboard: plain JavaScript, no build step, no third-party code.
// Every piece of data from the server is put on the page as text (textContent or text
// nodes), never as HTML: job commands, output and errors are untrusted.
"use strict";

(function () {
  const REFRESH_MS = 3000;
  const PAGE_SIZE = 50;
  const STATES = ["pending", "processing", "completed", "failed", "dead", "cancelled", "held", "waiting"];
  const STATE_LABELS = {
    pending: "Pending", processing: "Processing", completed: "Completed",
    failed: "Failed (retrying)", dead: "Dead", cancelled: "Cancelled", held: "Held",
    waiting: "Waiting (after)",
  };
  const LIVE_MS = 1000; // a running job's page polls its output this often
  const SVG = "http://www.w3.org/2000/svg";

  const main = document.getElementById("main");
  const banner = document.getElementById("banner");
  const notice = document.getElementById("notice");
  const live = document.getElementById("live");

  let clockSkew = 0; // server time minus browser time, in ms
  let current = null; // {refresh: fn} of the view on screen
  let timer = null;
  let generation = 0; // bumps on navigation so late answers for an old view are dropped

  // --- DOM helpers -------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  function replace(el, ...children) {
    el.replaceChildren();
    return append(el, children);
  }

  // --- formatting --------------------------------------------------------------------------

  function num(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
  }

  function duration(s) {
    if (s === null || s === undefined) return "–";
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, "0")}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  function ago(iso) {
    if (!iso) return "–";
    const s = (Date.now() + clockSkew - Date.parse(iso)) / 1000;
    if (s < -1) return `in ${coarse(-s)}`;
    if (s < 1) return "just now";
    return `${coarse(s)} ago`;
  }

  function coarse(s) {
    return s < 60 ? `${Math.round(s)} s` : duration(s);
  }

  function stamp(iso) {
    return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC") : "–";
  }

  function when(iso) {
    return iso ? h("time", { datetime: iso, title: stamp(iso) }, ago(iso)) : "–";
  }

  // How far a job is through its runs, as the CLI writes it: "run 2 of at most 4".
  function runs(j) {
    const most = j.max_retries + 1;
    return j.attempts > 0 ? `run ${j.attempts} of at most ${most}` : `no run yet (at most ${most})`;
  }

  function plural(n, word) {
    return `${num(n)} ${n === 1 ? word : word + "s"}`;
  }

  function shortId(id) {
    return id.length > 13 ? id.slice(0, 8) + "…" : id;
  }

  function oneLine(text, n) {
    const t = (text || "").replace(/\s+/g, " ").trim();
    return t.length > n ? t.slice(0, n - 1) + "…" : t;
  }

  function badge(state) {
    return h("span", { class: `badge s-${state}` }, state);
  }

  function jobLink(id, label) {
    return h("a", { href: `#/jobs/${encodeURIComponent(id)}`, class: "mono", title: id },
      label || shortId(id));
  }

  // --- talking to the API ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, options) {
    let res;
    try {
      res = await fetch(path, {
        credentials: "same-origin", cache: "no-store",
        headers: { Accept: "application/json", ...((options && options.headers) || {}) },
        method: (options && options.method) || "GET",
      });
    } catch (err) {
      throw new ApiError(0, "the dashboard server does not answer (is `queuectl dashboard` running?)");
    }
    let body = null;
    try { body = await res.json(); } catch (err) { body = null; }
    if (!res.ok) {
      const detail = body && (body.error || (body.detail && JSON.stringify(body.detail)));
      throw new ApiError(res.status, detail || `HTTP ${res.status}`);
    }
    return body;
  }

  function action(path) {
    // The custom header is what marks this as our own page's request (see security.py).
    return api(path, { method: "POST", headers: { "X-Queuectl-Action": "1" } });
  }

  function showBanner(message) {
    if (message) { banner.textContent = message; banner.hidden = false; }
    else banner.hidden = true;
  }

  function showNotice(message, kind) {
    notice.textContent = message;
    notice.className = `notice ${kind || ""}`;
    notice.hidden = false;
    clearTimeout(showNotice.t);
    showNotice.t = setTimeout(() => { notice.hidden = true; }, 6000);
  }

  function setLive(ok, text) {
    live.textContent = text;
    live.className = ok ? "live ok" : "live bad";
  }

  // Runs a view's loader; database trouble becomes a banner, and the last data stays shown.
  async function guarded(gen, fn) {
    try {
      await fn();
      if (gen !== generation) return;
      showBanner(null);
      setLive(true, `live · ${new Date().toLocaleTimeString("en-GB")}`);
    } catch (err) {
      if (gen !== generation) return;
      if (err.status === 401) showBanner("Not authorised: open the dashboard with ?token=<token> once.");
      else if (err.status === 503 || err.status === 0) showBanner(`Database problem: ${err.message}`);
      else if (err.status === 404 || err.status === 400) throw err;
      else showBanner(`Error: ${err.message}`);
      setLive(false, "offline");
    }
  }

  // --- overview ----------------------------------------------------------------------------

  function viewOverview() {
    const cards = h("section", { class: "cards", "aria-label": "Jobs by state" });
    const stats = h("section", { class: "stats", "aria-label": "Queue health" });
    const chart = h("div", { class: "chart" });
    const chartNote = h("p", { class: "muted small" });
    const workers = h("div", {});
    const paused = h("div", {});
    replace(main,
      h("h1", {}, "Overview"), paused, cards, stats,
      h("section", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Throughput, last 60 minutes"),
          h("span", { class: "legend" },
            h("i", { class: "k-completed" }), "completed ",
            h("i", { class: "k-failed" }), "failed ",
            h("i", { class: "k-dead" }), "dead")),
        chart, chartNote),
      h("section", { class: "panel" }, h("h2", {}, "Live workers"), workers));

    async function refresh(gen) {
      const ov = await api("/api/overview");
      if (gen !== generation) return;
      clockSkew = Date.parse(ov.now) - Date.now();
      // Cancelled, held and waiting jobs get a card only when there are some.
      const shownStates = STATES.filter((s) => !["cancelled", "held", "waiting"].includes(s) || ov.counts[s]);
      replace(cards,
        shownStates.map((s) => h("a", { class: `card c-${s}`, href: `#/jobs?state=${s}`, "data-state": s },
          h("span", { class: "card-label" }, STATE_LABELS[s]),
          h("span", { class: "card-value", "data-count": s }, num(ov.counts[s])))),
        h("a", { class: "card c-total", href: "#/jobs" },
          h("span", { class: "card-label" }, "Total"),
          h("span", { class: "card-value", "data-count": "total" }, num(ov.total))));
      const perMin = ov.window_finished / ov.window_minutes;
      replace(stats,
        stat("Queue depth", num(ov.queue_depth), "jobs due to run now"),
        stat("Oldest waiting", ov.oldest_waiting_age === null ? "–" : duration(ov.oldest_waiting_age),
          "age of the oldest due job"),
        stat("Throughput", `${perMin < 10 ? perMin.toFixed(1) : Math.round(perMin)}/min`,
          `${plural(ov.window_finished, "run")} in the last hour`),
        stat("Failure rate", ov.failure_rate === null ? "–" : `${(ov.failure_rate * 100).toFixed(1)}%`,
          `${num(ov.window_failures)} failed or dead, last hour`),
        stat("Avg duration", duration(ov.avg_duration), "completed runs, last hour"),
        stat("p95 duration", duration(ov.p95_duration), "completed runs, last hour"));
      replace(chart, throughputChart(ov.throughput, chart.clientWidth));
      replace(chartNote, ov.window_finished ? "" : "No runs finished in the last hour.");
      replace(workers, workerTable(ov));
      replace(paused, ov.claiming_paused
        ? h("div", { class: "paused-bar", id: "claiming-paused" },
          h("span", {}, "Claiming is paused across the fleet: no worker starts new jobs (running jobs go on). "),
          h("button", { type: "button", id: "resume-claiming", onclick: async () => {
            try {
              await action("/api/fleet/resume");
              showNotice("Claiming resumed across the fleet.", "ok");
            } catch (err) {
              showNotice(`Resume failed: ${err.message}`, "bad");
            }
            run(refresh);
          } }, "Resume"))
        : null);
    }
    return { refresh };
  }

  function stat(label, value, hint) {
    return h("div", { class: "stat", title: hint },
      h("span", { class: "stat-label" }, label),
      h("span", { class: "stat-value" }, value),
      h("span", { class: "stat-hint" }, hint));
  }

  function throughputChart(series, width) {
    // Drawn at the container's pixel size, so text and bars are never stretched.
    const W = Math.max(280, width || 720), H = W < 600 ? 140 : 180, L = 36, B = 22, T = 8, R = 8;
    const max = Math.max(1, ...series.map((m) => m.completed + m.failed + m.dead));
    const top = niceMax(max);
    const bw = (W - L - R) / Math.max(1, series.length);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const root = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
      "aria-label": "Runs finished per minute over the last hour",
    });
    for (const v of [0, top / 2, top]) {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      root.appendChild(svg("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" },
        Number.isInteger(v) ? v : v.toFixed(1)));
    }
    series.forEach((m, i) => {
      const x = L + i * bw + 0.5;
      let base = 0;
      const g = svg("g", {});
      for (const k of ["completed", "failed", "dead"]) {
        if (!m[k]) continue;
        g.appendChild(svg("rect", {
          x, width: Math.max(1, bw - 1.5), y: y(base + m[k]), height: y(base) - y(base + m[k]),
          class: `bar k-${k}`,
        }));
        base += m[k];
      }
      // A full-height transparent target so the tooltip works on empty minutes too.
      g.appendChild(svg("rect", { x, width: bw, y: T, height: H - T - B, class: "hit" }));
      g.appendChild(svg("title", {},
        `${stamp(m.minute).slice(11, 16)} UTC: ${m.completed} completed, ${m.failed} failed, ${m.dead} dead`));
      root.appendChild(g);
    });
    const labels = [[0, "−60 min"], [Math.floor(series.length / 2), "−30 min"], [series.length - 1, "now"]];
    for (const [i, text] of labels) {
      const anchor = i === 0 ? "start" : i === series.length - 1 ? "end" : "middle";
      root.appendChild(svg("text", { x: L + i * bw + (anchor === "end" ? bw : 0), y: H - 6, class: "axis", "text-anchor": anchor }, text));
    }
    return root;
  }

  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return v;
  }

  function workerTable(ov) {
    if (!ov.hosts.length) return h("p", { class: "muted" }, "No live workers. Start some with `queuectl worker start`.");
    return ov.hosts.map((host) => h("div", { class: "host" },
      h("h3", {}, host.host, h("span", { class: "muted" }, ` · ${host.workers.length} worker${host.workers.length === 1 ? "" : "s"}`)),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {},
          h("th", {}, "Worker"), h("th", {}, "State"), h("th", {}, "Busy"),
          h("th", { class: "opt" }, "Heartbeat"), h("th", {}, "Running"))),
        h("tbody", {}, host.workers.map((w) => h("tr", {},
          h("td", { class: "mono" }, `#${w.id} · pid ${w.pid}`),
          h("td", {}, h("span", { class: `badge w-${w.state}` }, w.state)),
          h("td", {}, `${w.running.length}/${w.concurrency}`),
          h("td", { class: "opt" }, when(w.heartbeat_at)),
          h("td", { class: "running" }, w.running.length
            ? w.running.map((r) => h("div", {}, jobLink(r.id), " ",
              h("code", { title: r.command }, oneLine(r.command, 60)), " ",
              h("span", { class: "muted" }, `for ${ago(r.started_at).replace(" ago", "")}`)))
            : h("span", { class: "muted" }, "idle")))))))));
  }

  // --- jobs list ---------------------------------------------------------------------------

  function viewJobs(params, dlq) {
    const state = dlq ? "dead" : (STATES.includes(params.get("state")) ? params.get("state") : "");
    const q = dlq ? "" : (params.get("q") || "");
    const queue = dlq ? "" : (params.get("queue") || "");
    const cursors = [null]; // cursor of each page visited, for "Newer"
    let page = 0;
    let nextCursor = null;
    const body = h("tbody", {});
    const info = h("span", { class: "muted" });
    const older = h("button", { type: "button", onclick: () => { cursors[page + 1] = nextCursor; page += 1; reload(); } }, "Older →");
    const newer = h("button", { type: "button", onclick: () => { page -= 1; reload(); } }, "← Newer");
    const pager = h("div", { class: "pager" }, newer, info, older);

    const header = [];
    if (dlq) {
      header.push(h("div", { class: "title-row" }, h("h1", {}, "Dead letters"),
        h("button", { type: "button", class: "danger", id: "retry-all", onclick: retryAll }, "Retry all dead jobs")),
      h("p", { class: "muted" }, "Jobs that failed and ran out of retries. Retrying puts a job back to pending with its attempts reset."));
    } else {
      const input = h("input", { type: "search", name: "q", value: q, placeholder: "Search by id prefix or command text", "aria-label": "Search jobs", autocomplete: "off" });
      const form = h("form", { class: "search", role: "search", onsubmit: (e) => {
        e.preventDefault();
        location.hash = jobsHash(state, input.value.trim(), queuePick.value);
      } }, input, h("button", { type: "submit" }, "Search"));
      const queuePick = h("select", { name: "queue", "aria-label": "Filter by queue", onchange: () => {
        location.hash = jobsHash(state, input.value.trim(), queuePick.value);
      } }, h("option", { value: "" }, "all queues"));
      if (queue) queuePick.append(h("option", { value: queue, selected: "" }, queue));
      api("/api/queues").then((data) => {
        for (const qu of data.queues) {
          if (qu.name !== queue) queuePick.append(h("option", { value: qu.name }, qu.name));
        }
      }).catch(() => {});
      header.push(h("h1", {}, "Jobs"),
        h("div", { class: "filters" },
          h("div", { class: "chips", role: "group", "aria-label": "Filter by state" },
            ["", ...STATES].map((s) => h("a", { href: jobsHash(s, q, queue), class: `chip${s === state ? " on" : ""}`, "data-filter": s || "all" }, s || "all"))),
          queuePick, form));
    }
    const cols = dlq
      ? ["ID", "Command", ["Run", "opt"], "Last error", ["Died", "opt"], ""]
      : ["ID", "State", ["Queue", "opt"], "Command", ["Run", "opt"], ["Created", "opt"], ["Duration", "opt"]];
    replace(main, ...header,
      h("div", { class: "table-wrap" }, h("table", { class: "jobs" },
        h("thead", {}, h("tr", {}, cols.map((c) => Array.isArray(c) ? h("th", { class: c[1] }, c[0]) : h("th", {}, c)))),
        body)),
      pager);

    function row(j) {
      if (dlq) {
        return h("tr", { "data-id": j.id },
          h("td", {}, jobLink(j.id)),
          h("td", {}, h("code", { title: j.command }, oneLine(j.command, 70))),
          h("td", { class: "opt" }, runs(j)),
          h("td", { class: "err" }, oneLine(j.error, 90) || "–"),
          h("td", { class: "opt" }, when(j.finished_at)),
          h("td", {}, h("button", { type: "button", class: "small", onclick: () => retryOne(j.id) }, "Retry")));
      }
      return h("tr", { "data-id": j.id },
        h("td", {}, jobLink(j.id)),
        h("td", {}, badge(j.state)),
        h("td", { class: "opt mono" }, j.queue),
        h("td", {}, h("code", { title: j.command }, oneLine(j.command, 80))),
        h("td", { class: "opt" }, runs(j)),
        h("td", { class: "opt" }, when(j.created_at)),
        h("td", { class: "opt" }, duration(j.duration)));
    }

    async function refresh(gen) {
      const qs = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (state) qs.set("state", state);
      if (q) qs.set("q", q);
      if (queue) qs.set("queue", queue);
      if (cursors[page]) qs.set("cursor", cursors[page]);
      const data = await api(`/api/jobs?${qs}`);
      if (gen !== generation) return;
      nextCursor = data.next_cursor;
      replace(body, data.jobs.length ? data.jobs.map(row)
        : h("tr", {}, h("td", { colspan: cols.length, class: "empty" },
          dlq ? "The dead letter queue is empty." : q ? "No job matches this search." : "No jobs here.")));
      newer.disabled = page === 0;
      older.disabled = !nextCursor;
      const first = page * PAGE_SIZE + (data.jobs.length ? 1 : 0);
      replace(info, `${num(first)}–${num(page * PAGE_SIZE + data.jobs.length)}`);
      if (dlq) document.getElementById("retry-all").disabled = page === 0 && !data.jobs.length;
    }

    function reload() { run(refresh); }

    async function retryOne(id) {
      try {
        const job = await action(`/api/jobs/${encodeURIComponent(id)}/retry`);
        showNotice(`Job ${job.id} moved back to ${job.state}.`, "ok");
      } catch (err) {
        showNotice(`Retry failed: ${err.message}`, "bad");
      }
      reload();
    }

    async function retryAll() {
      if (!window.confirm("Move every dead job back to pending?")) return;
      try {
        const res = await action("/api/dlq/retry");
        showNotice(`${num(res.retried)} dead job(s) moved back to pending.`, "ok");
      } catch (err) {
        showNotice(`Retry failed: ${err.message}`, "bad");
      }
      page = 0;
      reload();
    }

    return { refresh };
  }

  function jobsHash(state, q, queue) {
    const qs = new URLSearchParams();
    if (state) qs.set("state", state);
    if (q) qs.set("q", q);
    if (queue) qs.set("queue", queue);
    const s = qs.toString();
    return `#/jobs${s ? "?" + s : ""}`;
  }

  // --- one job -----------------------------------------------------------------------------

  // The buttons that fit a job's state: [label, API verb, style].
  function steering(j) {
    const running = j.state === "processing";
    const out = [];
    if (["pending", "failed", "held", "waiting", "processing"].includes(j.state)) out.push(["Cancel", "cancel", "danger"]);
    if ((running && !j.paused_at) || j.state === "pending" || j.state === "failed") out.push(["Pause", "pause", ""]);
    if ((running && j.paused_at) || j.state === "held") out.push(["Resume", "resume", ""]);
    if (["completed", "dead", "cancelled"].includes(j.state)) out.push(["Retry", "retry", "danger"]);
    return out;
  }

  function viewJob(id) {
    const box = h("div", {});
    let shown = null; // updated_at on screen: re-render only on change, keeping text selections
    let liveRun = null; // the run whose output chunks are on screen
    let liveAfter = 0; // the last chunk id shown
    let liveText = "";
    let runningNow = false;
    replace(main, h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")), box);

    async function steer(j, verb, label) {
      try {
        const res = await action(`/api/jobs/${encodeURIComponent(j.id)}/${verb}`);
        showNotice(`Job ${j.id}: ${res.note}.`, "ok");
      } catch (err) {
        showNotice(`${label} failed: ${err.message}`, "bad");
      }
      shown = null;
      run(refresh);
    }

    // While the job runs, append its new output chunks (the worker flushes them every second).
    async function follow(j) {
      const res = await api(`/api/jobs/${encodeURIComponent(j.id)}/output?after=${liveAfter}`);
      if (res.run_id !== liveRun) { liveRun = res.run_id; liveAfter = 0; liveText = ""; }
      for (const [chunkId, text] of res.chunks) { liveText += text; liveAfter = chunkId; }
      const pre = document.getElementById("output");
      if (pre && pre.textContent !== liveText) {
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        replace(pre, liveText);
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      }
    }

    async function refresh(gen) {
      let j;
      try {
        j = await api(`/api/jobs/${encodeURIComponent(id)}`);
      } catch (err) {
        if (err.status === 404 || err.status === 400) {
          if (gen === generation) replace(box, h("h1", {}, "Job not found"), h("p", { class: "muted" }, err.message));
          return;
        }
        throw err;
      }
      if (gen !== generation) return;
      runningNow = j.state === "processing";
      if (j.updated_at === shown) {
        if (j.state === "processing") await follow(j);
        return;
      }
      shown = j.updated_at;
      const buttons = h("span", { class: "buttons" }, steering(j).map(([label, verb, style]) =>
        h("button", { type: "button", class: style, id: verb, onclick: () => steer(j, verb, label) }, label)));
      const running = j.state === "processing";
      const text = running ? liveText : j.output;
      const fields = [
        ["State", [badge(j.state), j.paused_at && running ? h("span", { class: "muted" }, ` paused ${ago(j.paused_at)}`) : null]],
        ["Queue", h("a", { href: jobsHash("", "", j.queue), class: "mono" }, j.queue)],
        ["Run", runs(j)],
        // A running job's exit code, duration and finish time are still its previous run's:
        // shown under "Last run ended", not as this run's.
        ["Exit code", running || j.exit_code === null ? "–" : String(j.exit_code)],
        ["Duration", running ? "– (running)" : duration(j.duration)],
        ["Priority", String(j.priority)],
        ["Timeout", j.timeout === null ? "none" : duration(j.timeout / 1000)],
        ["Tags", j.tags.length ? j.tags.map((t) => h("span", { class: "tag" }, t)) : "–"],
        ["Retry policy", retryPolicy(j)],
        ["Directory", j.cwd === null ? "worker's" : h("span", { class: "mono" }, j.cwd)],
        ["Environment", j.env_names.length ? h("span", { class: "mono" }, j.env_names.join(", ")) : "–"],
        ["Unique key", j.unique_key === null ? "–" : h("span", { class: "mono" }, j.unique_key)],
        ["After", j.dependencies.length ? dependencyList(j.dependencies) : "–"],
        ...(j.state === "waiting" ? [["Waiting for", h("span", { id: "waiting-for" },
          dependencyList(j.dependencies.filter((d) => d.state !== "completed")))]] : []),
        ["Cron", j.cron_name ? h("a", { href: "#/cron", id: "cron-name" }, j.cron_name) : "–"],
        ["Created", stampAgo(j.created_at)],
        ["Run at", stampAgo(j.run_at)],
        ["Started", running && !j.started_at ? "– (claimed, not started yet)" : stampAgo(j.started_at)],
        ["Finished", running ? "– (running)" : stampAgo(j.finished_at)],
        ...(running && j.finished_at ? [["Last run ended", h("span", { id: "last-run" },
          stampAgo(j.finished_at), `; took ${duration(j.duration)}, exit code ${j.exit_code === null ? "–" : j.exit_code}`)]] : []),
        ["Updated", stampAgo(j.updated_at)],
      ];
      replace(box,
        h("div", { class: "title-row" }, h("h1", { class: "mono job-id" }, j.id), buttons),
        h("section", { class: "panel" }, h("h2", {}, "Command"), h("pre", { class: "command", id: "command" }, j.command)),
        h("section", { class: "panel" }, h("dl", { class: "fields" },
          fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
        j.error ? h("section", { class: "panel" }, h("h2", {}, "Error"), h("pre", { class: "error", id: "error" }, j.error)) : null,
        h("section", { class: "panel" },
          h("h2", {}, "Output", running ? h("span", { class: "muted" }, " (live)") : null,
            j.output_truncated && !running ? h("span", { class: "muted" }, " (truncated)") : null),
          text || running ? h("pre", { class: "output", id: "output" }, text || "")
            : h("p", { class: "muted", id: "output" }, j.state === "pending" ? "Not run yet." : "No output captured.")));
      if (running) await follow(j);
    }
    return { refresh, every: () => (runningNow ? LIVE_MS : REFRESH_MS) };
  }

  function retryPolicy(j) {
    const parts = [];
    if (j.retry_on !== null) parts.push(`retry_on ${j.retry_on.join(", ") || "none"}`);
    if (j.no_retry_on !== null) parts.push(`no_retry_on ${j.no_retry_on.join(", ")}`);
    if (j.backoff_base !== null) parts.push(`backoff_base ${j.backoff_base}`);
    return parts.length ? parts.join("; ") : "config";
  }

  // Jobs a job runs after, each a link with its state: "b (pending), c (processing)".
  function dependencyList(deps) {
    return deps.map((d, i) => [i ? ", " : "", jobLink(d.id, d.id), ` (${d.state})`]);
  }

  function stampAgo(iso) {
    return iso ? [stamp(iso), h("span", { class: "muted" }, ` · ${ago(iso)}`)] : "–";
  }

  // --- cron --------------------------------------------------------------------------------

  function viewCron() {
    const body = h("tbody", {});
    replace(main, h("h1", {}, "Cron"),
      h("p", { class: "muted" }, "Schedules that enqueue a job at each tick, once across the fleet. Add one with ",
        h("code", {}, "queuectl cron add NAME SCHEDULE JSON"), "."),
      h("div", { class: "table-wrap" }, h("table", { class: "cron" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Schedule"), h("th", {}, "Command"),
          h("th", {}, "Next run"), h("th", { class: "opt" }, "Last run"), h("th", {}, "Last job"), h("th", {}, ""))),
        body)));

    async function act(name, verb, label) {
      try {
        const res = await action(`/api/cron/${encodeURIComponent(name)}/${verb}`);
        showNotice(verb === "run" ? `Cron ${name}: job ${res.job_id} enqueued.` : `Cron ${name} ${label}.`, "ok");
      } catch (err) {
        showNotice(`${label} failed: ${err.message}`, "bad");
      }
      run(refresh);
    }

    function row(c) {
      const zone = c.schedule.startsWith("@every") ? "" : ` (${c.zone})`;
      return h("tr", { "data-name": c.name },
        h("td", { class: "mono" }, c.name),
        h("td", { class: "mono" }, c.schedule + zone),
        h("td", {}, h("code", { title: c.template.command }, oneLine(c.template.command, 60))),
        h("td", {}, c.error ? h("span", { class: "badge s-dead", title: c.error }, "invalid")
          : c.paused ? h("span", { class: "badge s-held" }, "paused") : stampAgo(c.next_run)),
        h("td", { class: "opt" }, stampAgo(c.last_run)),
        h("td", {}, c.last_job_id ? [jobLink(c.last_job_id), " ", c.last_job_state ? badge(c.last_job_state) : h("span", { class: "muted" }, "pruned")] : "–"),
        h("td", {}, h("span", { class: "buttons" },
          h("button", { type: "button", class: "small", "data-action": "run", onclick: () => act(c.name, "run", "Run now") }, "Run now"),
          c.paused
            ? h("button", { type: "button", class: "small", "data-action": "resume", onclick: () => act(c.name, "resume", "resumed") }, "Resume")
            : h("button", { type: "button", class: "small", "data-action": "pause", onclick: () => act(c.name, "pause", "paused") }, "Pause"))));
    }

    async function refresh(gen) {
      const data = await api("/api/cron");
      if (gen !== generation) return;
      replace(body, data.crons.length ? data.crons.map(row)
        : h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No cron schedules.")));
    }
    return { refresh };
  }

  // --- queues ------------------------------------------------------------------------------

  function viewQueues() {
    const body = h("tbody", {});
    replace(main, h("h1", {}, "Queues"),
      h("p", { class: "muted" }, "Limits hold across the whole fleet. Set them with ",
        h("code", {}, "queuectl queue set NAME --concurrency N --rate N/PERIOD"), "."),
      h("div", { class: "table-wrap" }, h("table", { class: "queues" },
        h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th", {}, "Depth"), h("th", {}, "Running"),
          h("th", { class: "opt" }, "Failed"), h("th", { class: "opt" }, "Dead"), h("th", {}, "Rate"),
          h("th", {}, "State"), h("th", {}, ""))),
        body)));

    function row(qu) {
      const running = qu.concurrency === null ? num(qu.running) : `${num(qu.running)} / ${num(qu.concurrency)}`;
      const verb = qu.paused ? "resume" : "pause";
      return h("tr", { "data-queue": qu.name },
        h("td", {}, h("a", { href: jobsHash("", "", qu.name), class: "mono" }, qu.name)),
        h("td", { class: "num" }, num(qu.pending)),
        h("td", { class: "num", title: "running / concurrency limit" }, running),
        h("td", { class: "num opt" }, num(qu.failed)),
        h("td", { class: "num opt" }, num(qu.dead)),
        h("td", { class: "mono" }, qu.rate || "–"),
        h("td", {}, qu.paused ? h("span", { class: "badge s-held" }, "paused") : "claiming"),
        h("td", {}, h("button", { type: "button", class: `small${qu.paused ? "" : " danger"}`,
          onclick: () => steer(qu.name, verb) }, qu.paused ? "Resume" : "Pause")));
    }

    async function steer(name, verb) {
      try {
        await action(`/api/queues/${encodeURIComponent(name)}/${verb}`);
        showNotice(`Queue ${name} ${verb === "pause" ? "paused: no new job of it starts" : "resumed"}.`, "ok");
      } catch (err) {
        showNotice(`${verb} failed: ${err.message}`, "bad");
      }
      run(refresh);
    }

    async function refresh(gen) {
      const data = await api("/api/queues");
      if (gen !== generation) return;
      replace(body, data.queues.length ? data.queues.map(row)
        : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No queues yet: enqueue a job.")));
    }
    return { refresh };
  }

  // --- config ------------------------------------------------------------------------------

  function viewConfig() {
    const body = h("tbody", {});
    replace(main, h("h1", {}, "Config"),
      h("p", { class: "muted" }, "Change a value with ", h("code", {}, "queuectl config set KEY VALUE"), "."),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Value"), h("th", { class: "opt" }, "Default"), h("th", {}, "Meaning"))),
        body)));
    async function refresh(gen) {
      const data = await api("/api/config");
      if (gen !== generation) return;
      replace(body, data.settings.map((s) => h("tr", { "data-key": s.key },
        h("td", { class: "mono" }, s.key),
        h("td", { class: `mono${s.value !== s.default ? " changed" : ""}` }, s.value + (s.unit && s.value !== "none" ? ` ${s.unit}` : "")),
        h("td", { class: "mono opt" }, s.default + (s.unit && s.default !== "none" ? ` ${s.unit}` : "")),
        h("td", {}, s.help))));
    }
    return { refresh };
  }

  // --- routing and refresh -----------------------------------------------------------------

  function run(refresh) {
    const gen = generation;
    return guarded(gen, () => refresh(gen)).catch((err) => showBanner(`Error: ${err.message}`));
  }

  function route() {
    generation += 1;
    const hash = location.hash.replace(/^#\/?/, "");
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    const parts = path.split("/").filter(Boolean);
    let name = "overview";
    if (parts[0] === "jobs" && parts.length > 1) { name = "jobs"; current = viewJob(decodeURIComponent(parts.slice(1).join("/"))); }
    else if (parts[0] === "jobs") { name = "jobs"; current = viewJobs(params, false); }
    else if (parts[0] === "dlq") { name = "dlq"; current = viewJobs(params, true); }
    else if (parts[0] === "config") { name = "config"; current = viewConfig(); }
    else if (parts[0] === "queues") { name = "queues"; current = viewQueues(); }
    else if (parts[0] === "cron") { name = "cron"; current = viewCron(); }
    else current = viewOverview();
    for (const a of document.querySelectorAll("[data-nav]")) {
      a.classList.toggle("on", a.dataset.nav === name);
      if (a.dataset.nav === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const view = current;
    run(view.refresh);
    clearTimeout(timer);
    const tick = () => {
      if (view !== current) return;
      if (!document.hidden) run(view.refresh);
      timer = setTimeout(tick, view.every ? view.every() : REFRESH_MS);
    };
    timer = setTimeout(tick, view.every ? view.every() : REFRESH_MS);
  }

  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) setLive(true, "paused");
    else if (current) run(current.refresh);
  });
  route();
})();
