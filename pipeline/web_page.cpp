// The page that `cotrack live --serve` serves at "/": the live picture (Motion-JPEG read with
// fetch and drawn on a canvas, so that each part's frame number and capture time are known), the
// window's controls as buttons and mouse actions, and the list of points.
//
// The page keeps what it measures in `window.cotrackView`: frames drawn, the newest frame number,
// and the delay of each drawn frame from its arrival in the tracker (ms).
namespace cotrack {

const char* web_page_html() {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cotrack live</title>
<style>
  body { margin: 0; font: 14px system-ui, sans-serif; background: #16181d; color: #e6e6e6; }
  header { display: flex; gap: 8px; align-items: center; padding: 8px 12px; background: #20232a;
           flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0 12px 0 0; }
  button, a.button { background: #2f6fd6; color: #fff; border: 0; border-radius: 4px;
           padding: 6px 12px; font: inherit; cursor: pointer; text-decoration: none; }
  button.secondary { background: #3a3f4b; }
  main { display: flex; gap: 12px; padding: 12px; align-items: flex-start; flex-wrap: wrap; }
  #view { max-width: 100%; background: #000; cursor: crosshair; display: block; }
  #side { min-width: 260px; flex: 1; }
  #status, #message { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; }
  #message { color: #ffcc66; min-height: 1.4em; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  td, th { padding: 2px 6px; text-align: right; border-bottom: 1px solid #333; }
  td button { padding: 1px 6px; font-size: 11px; }
  .hidden { color: #888; }
  footer { padding: 0 12px 12px; color: #999; font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>cotrack live</h1>
  <button id="grid">Grid</button>
  <button id="clear" class="secondary">Clear</button>
  <button id="pause" class="secondary">Pause</button>
  <a id="snapshot" class="button" download="cotrack-snapshot.jpg" href="snapshot.jpg">Snapshot</a>
  <span id="delay"></span>
</header>
<main>
  <div><canvas id="view" width="640" height="480"></canvas>
    <div id="message"></div></div>
  <div id="side">
    <div id="status">connecting...</div>
    <h3>Points</h3>
    <table><thead><tr><th>id</th><th>x</th><th>y</th><th>visible</th><th></th></tr></thead>
      <tbody id="points"></tbody></table>
  </div>
</main>
<footer>Click the picture to add a point; right-click removes the nearest point. The overlay is
  the tracker's own drawing: filled markers are visible points, rings occluded ones.</footer>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const tokenQuery = token ? "?token=" + encodeURIComponent(token) : "";
const headers = token ? { "Authorization": "Bearer " + token } : {};
const canvas = document.getElementById("view");
const ctx = canvas.getContext("2d");
const view = window.cotrackView = { frames: 0, frame: -1, delays: [] };
document.getElementById("snapshot").href = "snapshot.jpg" + tokenQuery;

function say(text) { document.getElementById("message").textContent = text; }

async function api(method, path, body) {
  const init = { method, headers: Object.assign({}, headers), cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || (res.status + " " + res.statusText));
  return data;
}

// ---- the picture: multipart JPEG parts, each with X-Frame and X-Capture-Ms ----
const crlf2 = [13, 10, 13, 10];
function find(buf, pattern) {
  outer: for (let i = 0; i + pattern.length <= buf.length; i++) {
    for (let k = 0; k < pattern.length; k++) if (buf[i + k] !== pattern[k]) continue outer;
    return i;
  }
  return -1;
}
let decoding = false, next = null;
function show(part) {
  if (decoding) { next = part; return; }
  decoding = true;
  createImageBitmap(new Blob([part.jpeg], { type: "image/jpeg" })).then((bmp) => {
    if (canvas.width !== bmp.width || canvas.height !== bmp.height) {
      canvas.width = bmp.width; canvas.height = bmp.height;
    }
    ctx.drawImage(bmp, 0, 0);
    bmp.close();
    view.frames++;
    view.frame = part.frame;
    if (part.capture > 0) {
      view.delays.push(Date.now() - part.capture);
      if (view.delays.length > 300) view.delays.shift();
    }
  }).catch(() => {}).finally(() => {
    decoding = false;
    if (next) { const p = next; next = null; show(p); }
  });
}
function median(values) {
  if (!values.length) return NaN;
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
async function readStream() {
  try {
    const res = await fetch("stream.mjpg" + tokenQuery, { cache: "no-store" });
    if (!res.ok) { say("video: " + res.status + " " + res.statusText); throw new Error(); }
    const reader = res.body.getReader();
    let buf = new Uint8Array(0);
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf); joined.set(value, buf.length);
      buf = joined;
      for (;;) {
        const end = find(buf, crlf2);
        if (end < 0) break;
        const head = decoder.decode(buf.subarray(0, end));
        const length = /Content-Length:\s*(\d+)/i.exec(head);
        if (!length) { buf = buf.subarray(end + 4); continue; }
        const start = end + 4, n = parseInt(length[1], 10);
        if (buf.length < start + n) break;
        const frame = /X-Frame:\s*(-?\d+)/i.exec(head);
        const capture = /X-Capture-Ms:\s*(\d+)/i.exec(head);
        show({ jpeg: buf.slice(start, start + n), frame: frame ? +frame[1] : -1,
               capture: capture ? +capture[1] : 0 });
        buf = buf.subarray(start + n);
      }
    }
  } catch (e) { /* reconnect below */ }
  setTimeout(readStream, 1000);
}
readStream();

// ---- mouse and buttons: what the window's clicks and keys do ----
function imagePoint(e) {
  const r = canvas.getBoundingClientRect();
  return { x: (e.clientX - r.left) * canvas.width / r.width - 0.5,
           y: (e.clientY - r.top) * canvas.height / r.height - 0.5 };
}
canvas.addEventListener("click", async (e) => {
  const p = imagePoint(e);
  const body = { x: +p.x.toFixed(2), y: +p.y.toFixed(2) };
  if (view.frame >= 0) body.frame = view.frame;
  try {
    let r;
    try { r = await api("POST", "api/points", body); }
    catch (err) {  // the frame shown may have left the tracker's window: the newest frame then
      if (body.frame === undefined) throw err;
      delete body.frame;
      r = await api("POST", "api/points", body);
    }
    say("point " + r.id + " added at (" + body.x + ", " + body.y + ")");
    refresh();
  } catch (err) { say("add: " + err.message); }
});
canvas.addEventListener("contextmenu", async (e) => {
  e.preventDefault();
  const p = imagePoint(e);
  try {
    const t = await api("GET", "api/tracks");
    let best = null, bestD = Infinity;
    for (const q of t.tracks) {
      const d = Math.hypot(q.x - p.x, q.y - p.y);
      if (d < bestD) { bestD = d; best = q; }
    }
    if (!best) { say("no point to remove"); return; }
    await api("DELETE", "api/points/" + best.id);
    say("point " + best.id + " removed");
    refresh();
  } catch (err) { say("remove: " + err.message); }
});
async function removePoint(id) {
  try { await api("DELETE", "api/points/" + id); say("point " + id + " removed"); refresh(); }
  catch (err) { say("remove: " + err.message); }
}
document.getElementById("grid").onclick = () =>
  api("POST", "api/grid", { n: 4 }).then(refresh, (err) => say("grid: " + err.message));
document.getElementById("clear").onclick = () =>
  api("POST", "api/reset").then(refresh, (err) => say("clear: " + err.message));
document.getElementById("pause").onclick = () =>
  api("POST", "api/pause").then(refresh, (err) => say("pause: " + err.message));

// ---- status and points, twice a second ----
function fmt(v, d) { return typeof v === "number" ? v.toFixed(d) : "-"; }
async function refresh() {
  try {
    const [s, t] = await Promise.all([api("GET", "api/status"), api("GET", "api/tracks")]);
    document.getElementById("status").textContent =
      "engine " + s.engine + "\nsource " + s.source + " (" + s.source_state + ")" +
      "\nin " + fmt(s.input_fps, 1) + " fps | tracked " + fmt(s.tracked_fps, 1) + " fps" +
      "\nlatency " + fmt(s.latency_ms, 0) + " ms | dropped " + s.dropped + " of " + s.received +
      "\npoints " + s.points + (s.paused ? " | PAUSED" : "") + " | viewers " + s.viewers +
      (s.notice ? "\n" + s.notice : "");
    document.getElementById("pause").textContent = s.paused ? "Resume" : "Pause";
    const rows = t.tracks.map((q) =>
      "<tr class='" + (q.visible ? "" : "hidden") + "'><td>" + q.id + "</td><td>" + fmt(q.x, 1) +
      "</td><td>" + fmt(q.y, 1) + "</td><td>" + (q.visible ? "yes" : "no") +
      "</td><td><button onclick='removePoint(" + q.id + ")'>remove</button></td></tr>");
    document.getElementById("points").innerHTML = rows.join("");
    const d = median(view.delays);
    document.getElementById("delay").textContent =
      isNaN(d) ? "" : "browser delay " + d.toFixed(0) + " ms (median, arrival to drawn)";
  } catch (err) { document.getElementById("status").textContent = "status: " + err.message; }
}
setInterval(refresh, 500);
refresh();
</script>
</body>
</html>
)html";
}

}  // namespace cotrack
