// OCD board: the page. It opens a WebSocket to ocd board, gets every panel at once, then the
// updates. Everything shown comes from events of the bus, which are untrusted: text is only
// ever set with textContent, never parsed as HTML. Plots are plain SVG drawn here.
// An update only notes what changed; the page draws at most once per animation frame, each
// changed part once, in place where it can (new log rows added, table cells rewritten): a busy
// browser with many pages open then falls behind by a frame, not by a queue of redraws.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = { panels: {}, offset: 0, user: null, csrf: null, users: false, logFilter: "" };
const $ = (id) => document.getElementById(id);

function putText(node, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

function setText(id, text) { putText($(id), text); }

function setClass(id, cls) {
  const node = $(id);
  node.classList.remove("ok", "no", "warn", "neutral");
  if (cls) node.classList.add(cls);
}

function setAttr(node, key, value) {
  const text = String(value);
  if (node.getAttribute(key) !== text) node.setAttribute(key, text);
}

/** Makes the children of `parent` the rows given, reusing the nodes there: each row is a
 *  { cls, cells } whose cells become the text of `cellTag` children (one for a list item). */
function fillRows(parent, rowTag, cellTag, rows) {
  rows.forEach((row, i) => {
    let node = parent.children[i];
    if (!node) node = parent.appendChild(document.createElement(rowTag));
    const cls = row.cls || "";
    if (node.className !== cls) node.className = cls;
    if (!cellTag) { putText(node, row.cells[0]); return; }
    row.cells.forEach((value, j) => {
      putText(node.children[j] || node.appendChild(document.createElement(cellTag)), value);
    });
    while (node.children.length > row.cells.length) node.lastChild.remove();
  });
  while (parent.children.length > rows.length) parent.lastChild.remove();
}

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// -- time --------------------------------------------------------------------------------------
function serverNow() { return Date.now() / 1000 + state.offset; }

function ocdNow() {
  const c = state.panels.clock;
  if (!c || c.ocd === null || c.wall === null) return null;
  return c.ocd + (serverNow() - c.wall) * c.speed;
}

function pad(n) { return String(n).padStart(2, "0"); }

function hms(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const d = new Date(seconds * 1000);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

function duration(seconds) {
  if (seconds === null || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}:${pad(s % 60)}` : `${s} s`;
}

function age(wall) {
  if (wall === null || wall === undefined) return null;
  return Math.max(0, serverNow() - wall);
}

// -- panels ------------------------------------------------------------------------------------
const GOOD = { tcs: "alive", hetdex_allowed: "allowed", run_shot: "idle", metrology: "good",
  meta: "satisfied" };
const NAMES = { tcs: "tcs-state", hetdex_allowed: "hetdex-state", run_shot: "runshot-state",
  metrology: "metrology-state", meta: "meta-state" };

function renderStates() {
  const p = state.panels.states;
  if (!p) return;
  for (const [machine, id] of Object.entries(NAMES)) {
    const value = p.machines[machine];
    setText(id, value === undefined ? "?" : value.replace("_", " "));
    let cls = value === undefined ? null : value === GOOD[machine] ? "ok" : "no";
    if (machine === "run_shot" && value === "running") cls = "neutral";
    if (machine === "metrology" && value === "stale") cls = "warn";
    if (machine === "meta" && value !== "satisfied" && p.machines.run_shot === "running") cls = "neutral";
    setClass(id, cls);
  }
  setText("hetdex-by", p.allowed_by ? `by ${p.allowed_by}` : "");
  const ml = p.main_loop;
  const silent = age(ml.seen);
  if (ml.seen === null) { setText("mainloop-state", "not seen"); setClass("mainloop-state", "warn"); }
  else if (ml.stopping) { setText("mainloop-state", "stopping"); setClass("mainloop-state", "warn"); }
  else if (silent > 10) { setText("mainloop-state", "silent"); setClass("mainloop-state", "no"); }
  else { setText("mainloop-state", "running"); setClass("mainloop-state", "ok"); }
  const started = ml.started;
  setText("mainloop-info", silent === null ? "" : `last event ${duration(silent)} ago`
    + (started && started.scheduler ? ` · scheduler ${started.scheduler}` : ""));
}

function renderAges() {
  const p = state.panels.states;
  if (!p) return;
  const beat = age(p.tcs_heartbeat);
  setText("tcs-age", beat === null ? "no heartbeat seen" : `heartbeat ${duration(beat)} ago`);
  renderStates();
}

function renderClock() {
  const c = state.panels.clock;
  const now = ocdNow();
  if (now === null) { setText("clock-utc", "--:--:--"); return; }
  const d = new Date(now * 1000);
  setText("clock-utc", `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} `
    + `${hms(now)} UTC`);
  setText("clock-het", `${hetLocal(now)} at HET`);
  setText("clock-kind", c.mock ? `mock clock ${c.speed}×` : "real clock");
  const notices = c.notices || [];
  const last = notices.length ? notices[notices.length - 1] : null;
  $("clock-notice").hidden = !last;
  setText("clock-notice", last ? `⚠ ${last.text}` : "");
}

function renderShot() {
  const shot = state.panels.shot && state.panels.shot.shot;
  $("shot-none").hidden = !!shot;
  $("shot-body").hidden = !shot;
  if (!shot) return;
  setText("shot-id", shot.shotid);
  setText("shot-track", shot.track ? `track ${shot.track}` : "");
  setText("shot-obs", shot.observation !== null ? `observation ${shot.observation}` : "");
  setText("shot-state", shot.state);
  setText("shot-phase", shot.phase);
  setText("shot-outcome", shot.outcome ? `${shot.state}: ${shot.outcome}` : "");
  renderProgress();
}

function renderProgress() {
  const shot = state.panels.shot && state.panels.shot.shot;
  if (!shot) return;
  const n = shot.n_exposures;
  setText("shot-exposure", shot.exposure ? `exposure ${shot.exposure} of ${n}` : `0 of ${n} exposures`);
  const bar = $("shot-progress");
  const now = ocdNow();
  if (shot.state === "running" && shot.exposure_start !== null && shot.seconds && now !== null) {
    const done = Math.min(1, Math.max(0, (now - shot.exposure_start) / shot.seconds));
    bar.value = ((shot.exposure - 1) + done) / n;
    setText("shot-left", `${duration(shot.exposure_start + shot.seconds - now)} left`);
  } else {
    const finished = shot.state === "completed" ? n : shot.exposure;
    bar.value = Math.min(1, finished / n);
    setText("shot-left", shot.state === "running" ? "" : shot.state);
  }
}

function describeDecision(d) {
  if (!d) return "–";
  return `${hms(d.t)} ${d.shotid} ${d.track}: ${d.started ? "" : "not started: "}${d.reason}`;
}

function renderDecision() {
  const p = state.panels.decision;
  if (!p) return;
  const shot = state.panels.shot && state.panels.shot.shot;
  let now = "watching";
  if (shot && shot.state === "running") now = `running ${shot.shotid}`;
  else if (p.pending) now = p.pending;
  else if (p.waiting.length) now = "waiting";
  setText("decision-now", now);
  fillRows($("decision-waiting"), "li", null, p.waiting.map((reason) => ({ cells: [reason] })));
  setText("decision-last", describeDecision(p.decision));
  setText("decision-noshot", p.no_shot ? `${hms(p.no_shot.t)} ${p.no_shot.reason}` : "–");
  setText("decision-error", p.error ? `${hms(p.error.t)} ${p.error.stage}: ${p.error.error}` : "–");
  setText("decision-skipped", p.obsnum_skipped == null ? "–"
    : `${p.obsnum_skipped} tonight (written, not used)`);
  setText("decision-ack", p.ack ? `${hms(p.ack.t)} ${p.ack.command} ${p.ack.ok ? "done" : "refused"}: ${p.ack.message}` : "–");
}

function renderCompleted() {
  const p = state.panels.completed;
  if (!p) return;
  fillRows($("completed").tBodies[0], "tr", "td", p.shots.slice().reverse().map((s) => ({
    cls: s.state, cells: [s.shotid, s.track, s.observation, s.exposures,
      s.state === "failed" ? `failed: ${s.error}` : s.state] })));
}

// -- the log -----------------------------------------------------------------------------------
const LOG_MAX = 500;
const LOG_SHOWN = 200;
let logItems = [];
let logDrawn = null; // the number (n) of the newest line drawn; null: draw them all again
const logTopics = new Set();

function logRow(item) { return el("div", { class: item.level }, item.line); }

function renderLog() {
  const filter = state.logFilter.toLowerCase();
  const wanted = (i) => !filter || i.topic.toLowerCase().includes(filter);
  let start = logItems.length; // the lines not drawn yet: logItems[start:]
  if (logDrawn !== null) while (start > 0 && logItems[start - 1].n > logDrawn) start -= 1;
  const fresh = logDrawn === null ? logItems : logItems.slice(start);
  const box = $("log");
  const whole = logDrawn === null || fresh.length >= LOG_SHOWN;
  if (whole) {
    logTopics.clear();
    box.replaceChildren(...logItems.filter(wanted).slice(-LOG_SHOWN).reverse().map(logRow));
  } else if (fresh.length) {
    const rows = fresh.filter(wanted).reverse().map(logRow); // newest first, as shown
    box.prepend(...rows);
    while (box.children.length > LOG_SHOWN) box.lastChild.remove();
  }
  if (logItems.length) logDrawn = logItems[logItems.length - 1].n;
  const before = whole ? -1 : logTopics.size;
  for (const item of whole ? logItems : fresh) logTopics.add(item.topic);
  const list = $("log-topics");
  if (logTopics.size !== before || list.children.length !== logTopics.size) {
    list.replaceChildren(...[...logTopics].sort().map((t) => el("option", { value: t })));
  }
}

// -- bus health ----------------------------------------------------------------------------------
function renderBus() {
  const p = state.panels.bus;
  if (!p) return;
  setText("bus-summary", `${p.received} events · ${p.malformed} malformed · ${p.gaps} gaps `
    + `(${p.lost} lost) · ${p.restarts} restarts · ${p.unsequenced} without sequence numbers`);
  fillRows($("bus-publishers").tBodies[0], "tr", "td", p.publishers.map((x) => ({
    cls: x.gaps ? "warn" : "", cells: [x.origin, x.events, x.last_seq, x.gaps, x.lost,
      x.restarts, `${duration(age(x.last_seen))} ago`] })));
  fillRows($("bus-rates").tBodies[0], "tr", "td", Object.entries(p.rates)
    .sort((a, b) => b[1] - a[1]).map(([topic, rate]) => ({ cells: [topic, rate.toFixed(1)] })));
}

// -- metrology plot ------------------------------------------------------------------------------
let series = [];
let plot = null; // the plot's nodes, made once per width, then moved and rewritten in place
const PLOT_LEFT = 50, PLOT_RIGHT = 10;

function makePlot(svg, W) {
  const made = { W, panes: [], times: [] };
  const parts = [];
  for (const [label, top] of [['seeing (")', 10], ["transparency", 130]]) {
    const pane = { top, height: 95, ticks: [], lines: {} };
    parts.push(el("svg:rect", { x: PLOT_LEFT, y: top, width: W - PLOT_LEFT - PLOT_RIGHT,
      height: pane.height, class: "ring" }));
    parts.push(el("svg:text", { x: PLOT_LEFT + 6, y: top + 14 }, label));
    for (let k = 0; k < 3; k++) {
      pane.ticks.push(el("svg:text", { x: PLOT_LEFT - 6, "text-anchor": "end" }));
    }
    pane.limit = el("svg:line", { x1: PLOT_LEFT, x2: W - PLOT_RIGHT, class: "limit" });
    for (const g of [1, 2]) pane.lines[g] = el("svg:polyline", { class: `g${g}` });
    parts.push(...pane.ticks, pane.limit); // a guider's line joins once it has points
    made.panes.push(pane);
  }
  for (let k = 0; k <= 4; k++) made.times.push(el("svg:text", { y: 238, "text-anchor": "middle" }));
  parts.push(...made.times, ...guiderLegend(W - PLOT_RIGHT - 4, 22));
  svg.setAttribute("viewBox", `0 0 ${W} 240`);
  svg.replaceChildren(...parts);
  return made;
}

function renderMetrology() {
  const p = state.panels.metrology;
  if (!p) return;
  const c = p.conditions;
  setText("metrology-now", `now: seeing ${c.seeing === null ? "–" : c.seeing.toFixed(2) + '"'}`
    + ` (limit ${p.limits.max_seeing}"), transparency `
    + `${c.transparency === null ? "–" : c.transparency.toFixed(2)} (limit ${p.limits.min_transparency})`);
  const svg = $("metrology-plot");
  const W = Math.max(360, Math.round(svg.clientWidth || 720));
  if (!plot || plot.W !== W) plot = makePlot(svg, W);
  const plotW = W - PLOT_LEFT - PLOT_RIGHT;
  const times = series.map((i) => i.t);
  const now = ocdNow();
  const t1 = Math.max(now || 0, times.length ? times[times.length - 1] : 0);
  const t0 = times.length ? Math.min(times[0], t1 - 600) : t1 - 3600;
  const x = (t) => PLOT_LEFT + ((t - t0) / Math.max(1, t1 - t0)) * plotW;
  const panes = [
    { key: "s", limit: p.limits.max_seeing,
      max: Math.max(2, p.limits.max_seeing * 1.3, ...series.map((i) => i.s || 0)) },
    { key: "tr", limit: p.limits.min_transparency,
      max: Math.max(1.05, ...series.map((i) => i.tr || 0)) },
  ];
  panes.forEach((spec, index) => {
    const pane = plot.panes[index];
    const y = (v) => pane.top + pane.height - (v / spec.max) * pane.height;
    [0, spec.max / 2, spec.max].forEach((v, k) => {
      setAttr(pane.ticks[k], "y", y(v) + 4);
      putText(pane.ticks[k], v.toFixed(1));
    });
    setAttr(pane.limit, "y1", y(spec.limit));
    setAttr(pane.limit, "y2", y(spec.limit));
    for (const g of [1, 2]) {
      const line = pane.lines[g];
      const points = series.filter((i) => i.g === g && i[spec.key] !== null)
        .map((i) => `${x(i.t).toFixed(1)},${y(i[spec.key]).toFixed(1)}`);
      if (!points.length) { line.remove(); continue; }
      setAttr(line, "points", points.join(" "));
      if (!line.isConnected) (g === 2 && pane.lines[1].isConnected ? pane.lines[1] : pane.limit).after(line);
    }
  });
  plot.times.forEach((node, k) => {
    const t = t0 + ((t1 - t0) * k) / 4;
    setAttr(node, "x", x(t));
    putText(node, hms(t).slice(0, 5));
  });
}

// -- sky chart -----------------------------------------------------------------------------------
const R = 150; // the horizon; the centre is the zenith

function skyXY(az, alt) {
  const r = ((90 - alt) / 90) * R;
  const a = (az * Math.PI) / 180;
  return [-Math.sin(a) * r, -Math.cos(a) * r]; // north up, east left: the sky seen from below
}

function renderSky() {
  const sky = state.panels.sky;
  if (!sky) return;
  const svg = $("sky-chart");
  const parts = [];
  const inner = ((90 - sky.altitude - sky.reach) / 90) * R;
  const outer = ((90 - sky.altitude + sky.reach) / 90) * R;
  if (sky.altitude !== undefined) {
    parts.push(el("svg:path", { d: `M ${outer} 0 A ${outer} ${outer} 0 1 0 ${-outer} 0 A ${outer} ${outer} 0 1 0 ${outer} 0 `
      + `M ${inner} 0 A ${inner} ${inner} 0 1 1 ${-inner} 0 A ${inner} ${inner} 0 1 1 ${inner} 0 Z`,
      class: "annulus", "fill-rule": "evenodd" }));
  }
  parts.push(el("svg:circle", { r: R, class: "ring" }));
  parts.push(el("svg:circle", { r: (60 / 90) * R, class: "ring" }));
  for (const [label, az] of [["N", 0], ["E", 90], ["S", 180], ["W", 270]]) {
    const [x, y] = skyXY(az, -7);
    parts.push(el("svg:text", { x, y: y + 4, "text-anchor": "middle" }, label));
  }
  const completed = new Set(sky.completed || []);
  let below = 0;
  for (const s of sky.shots || []) {
    if (s.alt === null || s.alt < 0) { below += 1; continue; }
    let cls = s.n_obs === 0 || completed.has(s.id) ? "done" : s.observable ? "observable" : "remaining";
    if (s.id === sky.running) cls = "running";
    if (s.id === sky.chosen) cls += " chosen";
    const [x, y] = skyXY(s.az, s.alt);
    const dot = el("svg:circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 4, class: `shot ${cls}`,
      "data-shot": s.id });
    dot.appendChild(el("svg:title", {}, `${s.id}: alt ${s.alt}°, az ${s.az}°, n_obs ${s.n_obs}`
      + (s.observable ? ", observable now" : "")));
    parts.push(dot);
  }
  const moonMark = skyMoon();
  if (moonMark) parts.push(moonMark);
  svg.replaceChildren(...parts);
  renderPointing();
  setText("sky-note", sky.error ? sky.error : `${(sky.shots || []).length} shots`
    + (below ? `, ${below} below the horizon` : "") + (sky.t ? ` at ${hms(sky.t)}` : ""));
  setText("sky-reason", sky.reason ? `scheduler: ${sky.reason}` : "");
}

/** The pointing's cross on the sky chart, moved in place: it changes far more often than the
 *  shots under it. */
function renderPointing() {
  const pointing = state.panels.pointing;
  let mark = $("sky-pointing");
  if (!state.panels.sky || !(pointing && pointing.altaz && pointing.altaz.alt !== null
    && pointing.altaz.alt >= 0)) {
    if (mark) mark.remove();
    return;
  }
  if (!mark) {
    mark = el("svg:path", { class: "pointing", id: "sky-pointing" });
    mark.appendChild(el("svg:title"));
    $("sky-chart").appendChild(mark);
  }
  const [x, y] = skyXY(pointing.altaz.az, pointing.altaz.alt);
  // where the TCS says it points; not tracking (parked, or a replayed TCS that does not follow
  // OCD's gotos), the mark is hollow and says so
  const tracking = pointing.pointing && pointing.pointing.tracking;
  setAttr(mark, "d", `M ${x - 7} ${y} H ${x + 7} M ${x} ${y - 7} V ${y + 7}`);
  setAttr(mark, "class", tracking ? "pointing" : "pointing idle");
  putText(mark.firstChild, `pointing: alt ${pointing.altaz.alt}°, az ${pointing.altaz.az}°`
    + (tracking ? ", tracking" : ", the TCS says it is not tracking"));
}

// -- drawing, at most once per animation frame -----------------------------------------------------
// An update only records the panel's newest data and notes what it changed; the next frame draws
// each changed part once, however many updates came meanwhile. A browser short of CPU makes its
// frames late (all its pages share one compositor): then a timer draws after DRAW_LATEST ms
// instead, so the page's text is not held back by frames that would only paint it. A hidden
// page draws nothing until it is shown again (it has no frames and its timers are slowed).
const DRAW_LATEST = 50;
const dirty = new Set();
let frame = 0;
let timer = 0;

function schedule(...renders) {
  for (const render of renders) dirty.add(render);
  if (frame || document.hidden) return;
  frame = requestAnimationFrame(draw);
  timer = setTimeout(draw, DRAW_LATEST);
}

function draw() {
  cancelAnimationFrame(frame);
  clearTimeout(timer);
  frame = 0;
  timer = 0;
  const renders = [...dirty];
  dirty.clear();
  for (const render of renders) {
    try { render(); } catch (error) { console.error(error); } // one broken part, not the page
  }
}

// -- the cockpit: HET's local time, the Sun, the Moon, what comes next --------------------------
const HET_ZONE = "America/Chicago";
const localFormats = {};

function hetLocal(seconds) {
  const zone = (state.panels.almanac && state.panels.almanac.zone) || HET_ZONE;
  if (!localFormats[zone]) {
    localFormats[zone] = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
  }
  const parts = Object.fromEntries(localFormats[zone].formatToParts(new Date(seconds * 1000))
    .map((p) => [p.type, p.value]));
  return `${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
}

function hoursMinutes(seconds) {
  const m = Math.max(0, Math.round(seconds / 60));
  return `${Math.floor(m / 60)}h${pad(m % 60)}`;
}

function renderCockpit() {
  const p = state.panels.almanac;
  const now = ocdNow();
  const a = p && p.almanac;
  if (p && p.error) setText("sun", `Sun and Moon: ${p.error}`);
  if (a && now !== null) {
    setText("sun", `Sun ${a.sun.toFixed(1)}°`);
    let countdown = "";
    if (now < a.dark_start) countdown = `dark (Sun ${a.sun_limit}°) in ${hoursMinutes(a.dark_start - now)}`;
    else if (now < a.dark_end) countdown = `dark · dawn (Sun ${a.sun_limit}°) in ${hoursMinutes(a.dark_end - now)}`;
    else countdown = "dark time over";
    setText("countdown", countdown);
    const m = a.moon;
    setText("moon", `Moon ${m.alt >= 0 ? `${m.alt.toFixed(0)}° up` : "down"}, `
      + `${Math.round(m.illumination * 100)} % lit`);
    const d = p.moon_distance || {};
    const said = [];
    if (d.running) said.push(`${d.running.degrees.toFixed(0)}° from ${d.running.shotid} (running)`);
    if (d.next) said.push(`${d.next.degrees.toFixed(0)}° from ${d.next.shotid} (next)`);
    setText("moon-distance", said.join(", "));
  }
  const states = state.panels.states;
  const started = states && states.main_loop && states.main_loop.started;
  setText("obsnum-source", started && started.obsnum ? started.obsnum
    : p && p.obsnum ? p.obsnum : "");
}

function renderNext() {
  const p = state.panels.next;
  if (!p) return;
  const now = ocdNow();
  const upcoming = p.shots.filter((s) => now === null || s.end === null || s.end > now).slice(0, 8);
  $("next").tBodies[0].replaceChildren(...upcoming.map((s) => {
    const tr = el("tr");
    for (const cell of [hms(s.start).slice(0, 5), hetLocal(s.start).slice(0, 5), s.shotid,
      s.track, s.end === null ? "end" : hms(s.end).slice(0, 5)]) tr.appendChild(el("td", {}, cell));
    return tr;
  }));
  setText("next-note", p.error ? p.error : p.t === null ? "planning…"
    : `as ocd plan sees it at ${hms(p.t).slice(0, 5)}, seeing ${p.seeing}", transparency ${p.transparency}`
      + (upcoming.length ? "" : ": no shot expected before dawn"));
}

function skyMoon() {
  const p = state.panels.almanac;
  const m = p && p.almanac && p.almanac.moon;
  if (!m || m.alt < 0) return null;
  const [x, y] = skyXY(m.az, m.alt);
  const mark = el("svg:circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 7, class: "moon",
    id: "sky-moon", "fill-opacity": (0.25 + 0.75 * m.illumination).toFixed(2) });
  mark.appendChild(el("svg:title", {}, `Moon: alt ${m.alt.toFixed(1)}°, az ${m.az.toFixed(1)}°, `
    + `${Math.round(m.illumination * 100)} % lit`));
  return mark;
}

function guiderLegend(xRight, y) {
  // the guiders named in the plot's own legend, drawn with their line styles
  const parts = [];
  let x = xRight;
  for (const [g, text] of [[2, "guider 2"], [1, "guider 1"]]) {
    const label = el("svg:text", { x, y, "text-anchor": "end" }, text);
    parts.push(label);
    x -= text.length * 6.5 + 4;
    parts.push(el("svg:line", { x1: x - 22, x2: x - 2, y1: y - 4, y2: y - 4, class: `g${g}` }));
    x -= 34;
  }
  parts.push(el("svg:text", { x, y, "text-anchor": "end" }, "dashed: the limit OCD applies ·"));
  return parts;
}

function foldLog(items) {
  // a shot's progress replaces its previous line (the board says which: "replaces")
  const replaced = new Set(items.filter((i) => i.replaces !== undefined).map((i) => i.replaces));
  return replaced.size ? items.filter((i) => !replaced.has(i.n)) : items;
}


// -- alarms: the bar above every panel, its sound, and tonight's history ----------------------------
// What ocd alarms watch says, as the board keeps it (panel "alarms"). The bar's colour is the most
// urgent alarm nobody has acknowledged or muted; each alarm has its row with who acknowledged or
// muted it, and, for a signed-in user, the buttons that send ocd alarms ack|mute.
const SEVERITY_CLASSES = ["none", "seen", "warning", "serious", "critical"];
const alarmSound = { context: null, urgent: null, beeps: 0 };

function alarmDetail(a) {
  const parts = [];
  if (a.state === "acknowledged" && a.by) parts.push(`acknowledged by ${a.by}`);
  if (a.state === "muted") parts.push(`muted${a.by ? ` by ${a.by}` : ""} until ${hms(a.muted_until)}`);
  if (a.escalated) parts.push("raised again");
  return parts.join(" · ");
}

function renderAlarms() {
  const p = state.panels.alarms;
  if (!p) return;
  const bar = $("alarm-bar");
  const cls = p.worst || (p.count ? "seen" : "none");
  if (!bar.classList.contains(cls)) {
    bar.classList.remove(...SEVERITY_CLASSES);
    bar.classList.add(cls);
  }
  const waiting = p.active.filter((a) => a.state !== "acknowledged" && a.state !== "muted").length;
  setText("alarm-count", p.count === 0 ? "no alarm"
    : `${p.count} alarm${p.count > 1 ? "s" : ""}` + (waiting < p.count ? ` (${p.count - waiting} seen)` : ""));
  setText("alarm-newest", p.newest ? `${p.newest.alarm}: ${p.newest.reason || ""}` : "");
  const list = $("alarm-list");
  const signedIn = !!state.user;
  list.replaceChildren(...p.active.map((a) => {
    const row = el("div", { class: `alarm-row ${a.state || ""}`, "data-alarm": a.alarm });
    row.append(el("span", { class: `tag sev-${SEVERITY_CLASSES.includes(a.severity) ? a.severity : "unknown"}` },
      a.severity || "?"), el("b", {}, a.alarm),
      el("span", { class: "since" }, `since ${hms(a.since)}`),
      el("span", { class: "reason" }, a.reason || ""),
      el("span", { class: "by" }, alarmDetail(a)));
    const ack = el("button", { type: "button", class: "alarm-ack", "data-alarm": a.alarm,
      "data-action": "ack" }, "Acknowledge");
    const mute = el("button", { type: "button", class: "alarm-mute", "data-alarm": a.alarm,
      "data-action": "mute" }, "Mute 30 min");
    ack.disabled = !signedIn || a.state === "acknowledged" || a.state === "muted";
    mute.disabled = !signedIn;
    if (state.users) row.append(ack, mute);
    return row;
  }));
  // a new critical or serious alarm beeps, once the sound is on (never on the first panel)
  if (alarmSound.urgent !== null && p.urgent > alarmSound.urgent) beep();
  alarmSound.urgent = p.urgent;
}

function renderAlarmHistory() {
  const p = state.panels.alarms;
  if (!p) return;
  fillRows($("alarm-history").tBodies[0], "tr", "td", p.history.map((h) => ({
    cls: h.kind, cells: [h.t === null ? "–" : hms(h.t), h.t === null ? "–" : hetLocal(h.t).slice(0, 8),
      h.alarm, h.kind === "raised" && h.escalated ? "raised again" : h.kind, h.severity || "",
      h.kind === "acknowledged" ? `by ${h.by || "?"}`
        : h.kind === "muted" ? `by ${h.by || "?"} until ${hms(h.muted_until)}` : h.reason || ""] })));
  setText("alarm-history-note", p.history.length ? `${p.history.length} event${p.history.length > 1 ? "s" : ""}, newest first`
    : "none yet");
}

function soundOn() {
  // browsers start audio only from a gesture: this click is it
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!alarmSound.context) alarmSound.context = new Context();
    alarmSound.context.resume();
  } catch (error) { setText("alarm-result", `no sound in this browser: ${error}`); return; }
  const button = $("sound-button");
  putText(button, "sound on");
  button.setAttribute("aria-pressed", "true");
}

function beep() {
  const ctx = alarmSound.context;
  if (!ctx) return; // no click, no sound
  const t = ctx.currentTime;
  for (const start of [0, 0.3]) {
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, t + start);
    gain.gain.exponentialRampToValueAtTime(0.3, t + start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + start + 0.2);
    tone.connect(gain).connect(ctx.destination);
    tone.start(t + start);
    tone.stop(t + start + 0.22);
  }
  alarmSound.beeps += 1;
  $("sound-button").dataset.beeps = String(alarmSound.beeps);
}

async function sendAlarm(action, alarm) {
  setText("alarm-result", `sending ${action} ${alarm}…`);
  const body = action === "mute" ? { action, alarm, for: "30m" } : { action, alarm };
  const { status, data } = await post("/api/alarm", body);
  const when = hms(ocdNow());
  if (status === 200 && data.ok) setText("alarm-result", `✓ ${when} ${data.message} (acknowledged by ${data.by})`);
  else if (status === 200) setText("alarm-result", `✗ ${when} refused by ${data.by}: ${data.message}`);
  else setText("alarm-result", `✗ ${when} ${data.message || data.error || "failed"}`);
  if (status === 401) { state.user = null; state.csrf = null; renderUser(); }
}

// -- updates from the board ---------------------------------------------------------------------
const RENDER = { clock: [renderClock], states: [renderStates, renderCockpit],
  shot: [renderShot, renderDecision], decision: [renderDecision], completed: [renderCompleted],
  log: [renderLog], bus: [renderBus], metrology: [renderMetrology], sky: [renderSky],
  pointing: [renderPointing], almanac: [renderCockpit, renderSky], next: [renderNext, renderCockpit],
  alarms: [renderAlarms, renderAlarmHistory] };

function mergeItems(old, update, limit) {
  const last = old.length ? old[old.length - 1].n : 0;
  const merged = update.delta ? old.concat(update.items.filter((i) => i.n > last)) : update.items;
  return merged.length > limit ? merged.slice(merged.length - limit) : merged;
}

function apply(panel, data) {
  if (panel === "hello") { state.users = data.users; renderUser(); return; }
  if (panel === "log") {
    if (!data.delta) logDrawn = null; // a whole log: drawn again, not added to
    const merged = mergeItems(logItems, data, LOG_MAX);
    logItems = foldLog(merged);
    if (logItems.length !== merged.length) logDrawn = null; // a progress line replaced
  }
  if (panel === "metrology") series = mergeItems(series, data, 20000);
  state.panels[panel] = data;
  if (RENDER[panel]) schedule(...RENDER[panel]);
}

let socket = null;
let retry = 500;

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  socket = new WebSocket(url);
  socket.onopen = () => { retry = 500; setText("link", "live"); $("link").className = "badge on"; };
  socket.onmessage = (message) => {
    const batch = JSON.parse(message.data);
    state.offset = batch.w - Date.now() / 1000;
    for (const update of batch.u) apply(update.p, update.d);
  };
  socket.onclose = () => {
    if (state.pastNight) return; // a past night is shown (past_nights.js): no live stream
    setText("link", "reconnecting…");
    $("link").className = "badge off";
    setTimeout(connect, retry);
    retry = Math.min(5000, retry * 2);
  };
}

// -- sign-in and commands -------------------------------------------------------------------------
function renderUser() {
  const signedIn = !!state.user;
  setText("user", signedIn ? `signed in as ${state.user}` : "read-only");
  $("signin-button").hidden = signedIn || !state.users;
  $("signout-button").hidden = !signedIn;
  for (const id of ["cmd-allow", "cmd-stop", "cmd-abort"]) $(id).disabled = !signedIn;
  setText("commands-note", signedIn ? "Each command asks for confirmation and shows its acknowledgement."
    : state.users ? "Sign in to command. Anyone can watch." : "Read-only: this board has no users ([board] users).");
  schedule(renderAlarms);
}

async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.csrf) headers["X-OCD-CSRF"] = state.csrf;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body),
    credentials: "same-origin" });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  return { status: response.status, data };
}

async function loadSession() {
  const response = await fetch("/api/session", { credentials: "same-origin" });
  const data = await response.json();
  state.user = data.user; state.csrf = data.csrf; state.users = data.users;
  renderUser();
}

const COMMANDS = {
  allow: ["Allow HETDEX shots?", "OCD will choose and start shots by itself whenever conditions allow."],
  stop: ["Stop after this shot?", "HETDEX shots become forbidden: a shot in progress finishes, no new one starts."],
  abort: ["Abort the running shot?", "The exposure in progress stops now and its data are lost (per [run_shot] abort_exposure); shots go on afterwards unless you also stop."],
};
let pending = null;

function ask(command) {
  pending = command;
  setText("confirm-title", COMMANDS[command][0]);
  setText("confirm-text", COMMANDS[command][1]);
  $("confirm").hidden = false;
  $("confirm-no").focus();
}

async function send(command) {
  setText("cmd-result", `sending ${command}…`);
  const { status, data } = await post("/api/command", { command });
  const when = hms(ocdNow());
  if (status === 200 && data.ok) setText("cmd-result", `✓ ${when} ${data.message} (acknowledged by ${data.by})`);
  else if (status === 200) setText("cmd-result", `✗ ${when} refused by ${data.by}: ${data.message}`);
  else setText("cmd-result", `✗ ${when} ${data.message || data.error || "failed"}`);
  if (status === 401) { state.user = null; state.csrf = null; renderUser(); }
}

function setup() {
  $("signin-button").onclick = () => { $("login").hidden = false; setText("login-error", ""); $("login-user").focus(); };
  $("login-cancel").onclick = () => { $("login").hidden = true; };
  $("login-form").onsubmit = async (e) => {
    e.preventDefault();
    const { status, data } = await post("/api/login", { user: $("login-user").value,
      password: $("login-password").value });
    $("login-password").value = "";
    if (status !== 200) { setText("login-error", data.error || "sign-in failed"); return; }
    state.user = data.user; state.csrf = data.csrf;
    $("login").hidden = true;
    renderUser();
    // open the stream again as a signed-in page: the board keeps room for those
    retry = 100;
    if (socket) socket.close();
  };
  $("signout-button").onclick = async () => {
    await post("/api/logout", {});
    state.user = null; state.csrf = null; renderUser();
  };
  for (const command of Object.keys(COMMANDS)) $(`cmd-${command}`).onclick = () => ask(command);
  $("confirm-no").onclick = () => { $("confirm").hidden = true; pending = null; };
  $("confirm-yes").onclick = () => { $("confirm").hidden = true; const c = pending; pending = null; if (c) send(c); };
  $("sound-button").onclick = soundOn;
  $("alarm-list").onclick = (e) => {
    const button = e.target.closest("button[data-action]");
    if (button && !button.disabled) sendAlarm(button.dataset.action, button.dataset.alarm);
  };
  $("log-filter").oninput = (e) => { state.logFilter = e.target.value; logDrawn = null; schedule(renderLog); };
  loadSession().catch(() => {});
  connect();
  setInterval(() => schedule(renderClock, renderProgress, renderAges), 250);
  setInterval(() => schedule(renderCockpit, renderNext), 1000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) schedule(); });
}

document.addEventListener("DOMContentLoaded", setup);
