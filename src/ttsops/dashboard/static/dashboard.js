// ttsops dashboard: sign in, actions, and the live page's polling. No libraries, no build.
"use strict";
(function () {
  const root = document.body.dataset.root || "./";
  const SVG = "http://www.w3.org/2000/svg";

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v; else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  const fix = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  const when = (iso) => (iso ? iso.slice(0, 19).replace("T", " ") + " UTC" : "–");
  const pillClass = (state) => (state === "ready" ? "good" : ["failed", "exited"].includes(state) ? "bad" : "warn");

  function show(text, error) {
    const box = document.getElementById("message");
    box.textContent = text;
    box.hidden = !text;
    box.classList.toggle("error", !!error);
  }

  async function call(method, path, body) {
    const reply = await fetch(root + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-TTSOps-Dashboard": "1" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await reply.json(); } catch (e) { data = null; }
    if (!reply.ok) {
      const why = data && data.error ? data.error.message : reply.statusText;
      const err = new Error(`refused (HTTP ${reply.status}): ${why}`);
      err.status = reply.status;
      throw err;
    }
    return data;
  }

  // -- session ---------------------------------------------------------------------------
  function signedIn(name) {
    const form = document.getElementById("login");
    const who = document.getElementById("whoami");
    form.hidden = !!name;
    who.hidden = !name;
    who.querySelector("b").textContent = name || "";
  }
  document.getElementById("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      const got = await call("POST", "api/login", { name: form.elements["name"].value, token: form.elements["token"].value });
      form.elements["token"].value = "";
      signedIn(got.name);
      show(`Signed in as ${got.name}: actions are recorded under ${got.name}@dashboard.`);
    } catch (e) { show(`Sign-in ${e.message}`, true); }
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await call("POST", "api/logout");
    signedIn(null);
    show("Signed out.");
  });
  call("GET", "api/session").then((s) => signedIn(s.signed_in ? s.name : null)).catch(() => {});

  // -- actions ---------------------------------------------------------------------------
  for (const form of document.querySelectorAll("form.action")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const kind = form.dataset.action;
      const body = { reason: form.reason.value };
      let path = "api/rollback";
      if (kind === "rollback") { if (form.to.value) body.to = form.to.value; }
      else path = `api/deployments/${form.dataset.deployment}/${kind}`;
      try {
        const done = await call("POST", path, body);
        form.reason.value = "";
        show(`${kind}: ${done.message} (${done.phase})`);
      } catch (e) { show(`${kind} ${e.message}`, true); }
      if (typeof poll === "function") poll();
    });
  }

  // -- the live page ---------------------------------------------------------------------
  const data = document.getElementById("now-data");
  if (!data) return;

  function chart(title, series, opts) {
    const w = 240, hgt = 110, pad = 22;
    const all = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v !== null);
    const n = Math.max(2, ...series.map((s) => s.points.length));
    const lo = opts.min !== undefined ? opts.min : Math.min(...all, 0);
    let hi = opts.max !== undefined ? opts.max : Math.max(...all, lo + 1e-9);
    if (hi <= lo) hi = lo + 1;
    const x = (i) => pad + (i * (w - pad - 6)) / (n - 1);
    const y = (v) => hgt - pad + 4 - ((v - lo) * (hgt - pad - 8)) / (hi - lo);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", title);
    const add = (tag, attrs, text) => {
      const el = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (text !== undefined) el.textContent = text;
      svg.append(el);
      return el;
    };
    add("line", { x1: pad, y1: y(lo), x2: w - 4, y2: y(lo), stroke: "#d0d5dd" });
    add("text", { x: 2, y: y(hi) + 4, "font-size": 9, fill: "#667085" }, opts.fmt(hi));
    add("text", { x: 2, y: y(lo), "font-size": 9, fill: "#667085" }, opts.fmt(lo));
    for (const s of series) {
      const pts = s.points.map((p, i) => [i, p[1]]).filter((p) => p[1] !== null);
      if (pts.length > 1) {
        const d = pts.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
        add("polyline", { points: d, fill: "none", stroke: s.color, "stroke-width": 2, class: "series" });
      }
      for (const [i, v] of pts) add("circle", { cx: x(i), cy: y(v), r: 3, fill: s.color, class: "point", "data-value": +v.toFixed(3) });
    }
    return h("div", { class: "chart", "data-chart": opts.key }, h("div", { class: "title" }, title), svg);
  }

  function charts(c) {
    const win = c.windows;
    const side = (role, f) => win.map((w, i) => [i, w[role] ? f(w[role]) : null]);
    const both = (f) => [
      { color: "#d9480f", points: side("canary", f) },
      { color: "#2f5bd3", points: side("stable", f) },
    ];
    return [
      chart("weight of the new version (%)", [{ color: "#d9480f", points: c.weights.map((p, i) => [i, p.weight]) }],
        { key: "weight", min: 0, max: 100, fmt: (v) => `${v.toFixed(0)}%` }),
      chart("error rate (%) · canary vs stable", both((s) => (s.error_rate === null ? null : 100 * s.error_rate)),
        { key: "errors", min: 0, fmt: (v) => `${v.toFixed(1)}` }),
      chart("latency p95 (s)", both((s) => s.p95_s), { key: "p95", min: 0, fmt: (v) => v.toFixed(2) }),
      chart("DNSMOS OVRL", both((s) => s.ovrl), { key: "ovrl", min: 1, max: 5, fmt: (v) => v.toFixed(1) }),
    ];
  }

  function sideText(s) {
    if (!s) return "–";
    const rate = s.error_rate === null ? "–" : (100 * s.error_rate).toFixed(1);
    return `${rate}% · ${fix(s.p95_s, 2)} s · ${fix(s.ovrl, 2)}`;
  }

  function render(now) {
    const live = now.live;
    const liveCard = document.getElementById("live");
    const ready = h("span", { class: `pill ${now.public_ready ? "good" : "bad"}`, id: "ready" }, now.public_ready ? "ready" : "not ready");
    liveCard.replaceChildren(h("h2", {}, "Live"), ...(live.version
      ? [h("p", { class: "big" }, h("span", { id: "live-version" }, live.version), " ", ready),
        h("dl", { class: "facts" },
          h("dt", {}, "bundle"), h("dd", {}, live.ref || "–", live.parent ? h("small", {}, ` from ${live.parent}`) : null),
          h("dt", {}, "digest"), h("dd", {}, h("code", { title: live.digest || "" }, (live.digest || "–").slice(0, 19))),
          h("dt", {}, "git sha"), h("dd", {}, h("code", {}, (live.git_sha || "–").slice(0, 12))),
          h("dt", {}, "since"), h("dd", {}, when(live.since), live.deployment ? ` (deployment #${live.deployment})` : ""),
          h("dt", {}, "runs as"), h("dd", {}, live.runtime, live.images.length ? `: ${live.images.join(", ")}` : ""),
          h("dt", {}, "router"), h("dd", {}, h("a", { href: now.public_url }, now.public_url)))]
      : [h("p", { class: "big" }, "nothing is live ", ready), h("p", {}, "Deploy a version: ", h("code", {}, "ttsops deploy VERSION"))]));

    const rows = now.slots.map((s) => h("tr", {},
      h("td", {}, s.slot), h("td", {}, s.version),
      h("td", {}, h("span", { class: `pill ${pillClass(s.state)}` }, s.state)),
      h("td", {}, h("span", { class: "weight", style: `--w: ${s.weight}%` }, `${s.weight}%${s.backup ? " backup" : ""}`)),
      h("td", {}, s.container ? `container ${s.container}` : s.pid ? `pid ${s.pid}` : "–", s.port ? ` :${s.port}` : "")));
    document.querySelector("#slots tbody").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 5 }, "no slots yet"))]));

    const p = now.patrol;
    document.getElementById("patrol").replaceChildren(h("h2", {}, "Patrol"),
      p.enabled
        ? h("p", {}, `${p.checks} probes through the router, ${p.consecutive_failures} failed in a row, ${p.alarms} alarms. Last check ${when(p.last_check_at)}: `,
          p.last_reason ? h("span", { class: "bad" }, p.last_reason) : p.last_check_at ? h("span", { class: "good" }, "spoke") : "none yet", ".")
        : h("p", {}, "The patrol is off (", h("code", {}, "[patrol] enabled = false"), ")."),
      ...(p.recent_alerts.length ? [h("ul", { class: "alerts" }, p.recent_alerts.map((a) => h("li", {}, a)))] : []));

    const a = now.active, c = now.canary;
    const flight = [h("h2", {}, "In flight")];
    if (a) {
      flight.push(h("p", {}, h("b", {}, `#${a.id}`), ` ${a.strategy} of `, h("b", {}, a.version),
        a.old_version ? ` replacing ${a.old_version}` : "", " — ", h("span", { class: "pill warn", id: "phase" }, a.phase),
        a.actor ? ` asked by ${a.actor}` : ""));
      if (a.reason) flight.push(h("p", { class: "reason" }, a.reason));
    } else flight.push(h("p", {}, "No deployment in flight."));
    if (c) {
      flight.push(h("div", { class: "canary" },
        h("p", { class: "big" }, "step ", h("span", { id: "step" }, c.step), ` of ${c.steps.length}: weight `, h("span", { id: "weight" }, c.weight), "%"),
        h("p", { class: "next", id: "next" }, `Next: ${c.next_decision}`),
        h("div", { class: "legend" }, h("span", { class: "c" }, "● canary (new)"), "  ", h("span", { class: "s" }, "● stable")),
        h("div", { class: "charts", id: "charts" }, charts(c)),
        h("table", { class: "windows" },
          h("thead", {}, h("tr", {}, ["window", "weight", "outcome", "canary err · p95 · OVRL", "stable err · p95 · OVRL", "decision"].map((t) => h("th", {}, t)))),
          h("tbody", {}, c.windows.map((w, i) => h("tr", { class: "window" },
            h("td", {}, i + 1), h("td", {}, `${w.weight}%`), h("td", {}, w.outcome),
            h("td", {}, sideText(w.canary)), h("td", {}, sideText(w.stable)), h("td", {}, `${w.action}: ${w.reason}`)))))));
    }
    document.getElementById("flight").replaceChildren(...flight);

    for (const [id, can] of [["abort-form", a && a.can_abort], ["promote-form", a && a.can_promote]]) {
      const form = document.getElementById(id);
      form.hidden = !can;
      form.dataset.deployment = a ? a.id : "";
      form.querySelector(".dep-id").textContent = a ? `#${a.id}` : "";
    }
  }

  let busy = false;
  var poll = async function () {
    if (busy) return;
    busy = true;
    try { render(await call("GET", "api/now")); } catch (e) { /* the next poll retries */ }
    busy = false;
  };
  render(JSON.parse(data.textContent));
  setInterval(poll, 1000);
})();
