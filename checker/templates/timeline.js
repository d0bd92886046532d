// Timelines drawn from the compact data on demand: one canvas per partition,
// as big as its viewport, redrawn on scroll (a spacer gives the scroll extent),
// with the process names and the time axis drawn at the viewport's edges.
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("data").textContent);
  const LANE = 22, NAMES = 130, AXIS = 22;
  const tip = document.getElementById("tip");
  const t_start = performance.now();
  let drawn = 0;

  function expand(o) {  // op kinds of checker/html.py
    const v = o.label;
    switch (o.kind) {
      case 0: return "read() -> " + v;
      case 1: return "write(" + v + ")";
      case 2: return "cas(" + v + ") -> ok";
      case 3: return "cas(" + v + ") -> fail";
      case 4: return "cas(" + v + ") -> unknown";
      default: return String(v);
    }
  }

  function decode(part) {
    if (part.ops) return part.ops;
    const flat = part.flat, ops = [], lanes = new Map();
    let call = 0;
    for (let i = 0; i < flat.length; i += 4) {
      call += flat[i + 1];
      const dur = flat[i + 2], g = flat[i] >> 3;
      if (!lanes.has(g)) lanes.set(g, lanes.size);
      ops.push({i: i / 4, p: lanes.get(g), kind: flat[i] & 7, call: call,
                ret: dur < 0 ? Infinity : call + dur, label: flat[i + 3]});
    }
    part.procs = Array.from(lanes.keys()).map(g => DATA.procs[g]);
    part.ops = ops;
    part.maxDur = ops.reduce((m, o) => Math.max(m, o.ret === Infinity ? 0 : o.ret - o.call), 0);
    part.end = ops.reduce((m, o) => Math.max(m, o.ret === Infinity ? o.call : o.ret), 0);
    part.hot = new Set(part.witness || []);
    return ops;
  }

  function fmt(part, t) {
    if (DATA.unit === "ns") return ((t + part.t0) * part.q / 1e9).toFixed(6) + " s";  // data in quanta of q ns
    if (DATA.unit === "event") return "event #" + Math.round(t + part.t0);
    return "line " + Math.round(t + part.t0);
  }

  function mount(el) {
    if (el.dataset.mounted) return;
    el.dataset.mounted = "1";
    const part = DATA.parts[+el.dataset.part];
    const ops = decode(part);
    const lanes = part.procs.length;  // set by decode
    // Scale: the median op spans 24 px, within bounds the browser can scroll.
    const durs = ops.filter(o => o.ret !== Infinity).map(o => o.ret - o.call).sort((a, b) => a - b);
    const med = durs.length ? Math.max(durs[durs.length >> 1], 1e-9) : 1;
    let scale = Math.min(24 / med, 2e7 / Math.max(part.end, 1));
    const spacer = document.createElement("div");
    spacer.className = "spacer";
    const canvas = document.createElement("canvas");
    el.appendChild(canvas);
    el.appendChild(spacer);
    const ctx = canvas.getContext("2d");
    const height = AXIS + lanes * LANE + 8;
    el.style.height = Math.min(height + 20, 420) + "px";
    function size() {
      spacer.style.width = (NAMES + part.end * scale + 200) + "px";
      spacer.style.height = height + "px";
    }
    size();
    const zoom = document.createElement("div");
    zoom.innerHTML = '<button>zoom in</button><button>zoom out</button>';
    el.parentNode.insertBefore(zoom, el);
    function rezoom(f) {
      const mid = (el.scrollLeft + el.clientWidth / 2 - NAMES) / scale;
      scale *= f; size();
      el.scrollLeft = mid * scale + NAMES - el.clientWidth / 2;
      draw();
    }
    zoom.children[0].onclick = () => rezoom(2);
    zoom.children[1].onclick = () => rezoom(0.5);
    function x(t) { return NAMES + t * scale - el.scrollLeft; }
    function visible() {
      const lo = (el.scrollLeft - 10) / scale - part.maxDur, hi = (el.scrollLeft + el.clientWidth) / scale;
      let a = 0, b = ops.length;
      while (a < b) { const m = (a + b) >> 1; if (ops[m].call < lo) a = m + 1; else b = m; }
      const out = [];
      for (let k = a; k < ops.length && ops[k].call <= hi; k++) out.push(ops[k]);
      for (const o of ops) if (o.ret === Infinity && o.call < lo) out.push(o);  // never returned: spans to the end
      return out;
    }
    function draw() {
      const w = el.clientWidth, h = el.clientHeight;
      const dpr = window.devicePixelRatio || 1;
      canvas.width = w * dpr; canvas.height = h * dpr;
      canvas.style.width = w + "px"; canvas.style.height = h + "px";
      canvas.style.marginBottom = (-h) + "px";
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      ctx.font = "11px ui-monospace, monospace";
      const top = AXIS - el.scrollTop;
      for (const o of visible()) {
        const y = top + o.p * LANE + 3;
        if (y < AXIS - LANE || y > h) continue;
        const x1 = x(o.call), x2 = o.ret === Infinity ? w : x(o.ret);
        const hot = part.hot.has(o.i);
        ctx.fillStyle = hot ? "#ef9a9a" : o.ret === Infinity ? "#ffffff" : "#cfd8dc";
        ctx.strokeStyle = hot ? "#c62828" : "#90a4ae";
        ctx.setLineDash(o.ret === Infinity ? [4, 3] : []);
        ctx.fillRect(x1, y, Math.max(x2 - x1, 2), LANE - 6);
        ctx.strokeRect(x1, y, Math.max(x2 - x1, 2), LANE - 6);
        if (x2 - x1 > 30) {
          ctx.fillStyle = "#111";
          ctx.save(); ctx.beginPath(); ctx.rect(x1, y, x2 - x1, LANE - 6); ctx.clip();
          ctx.fillText(expand(o), x1 + 3, y + 12);
          ctx.restore();
        }
      }
      ctx.setLineDash([]);
      // Process names, always at the left edge.
      ctx.fillStyle = "#f5f5f5"; ctx.fillRect(0, 0, NAMES, h);
      ctx.fillStyle = "#333";
      for (let p = 0; p < lanes; p++) {
        const y = top + p * LANE + 15;
        if (y > AXIS && y < h) ctx.fillText(String(part.procs[p]).slice(0, 18), 4, y);
      }
      // The time axis, always at the top.
      ctx.fillStyle = "#eceff1"; ctx.fillRect(0, 0, w, AXIS);
      ctx.fillStyle = "#333";
      const step = Math.pow(10, Math.ceil(Math.log10(120 / scale)));
      // Ticks at round times of the whole history, not of this partition.
      for (let t = Math.floor((el.scrollLeft / scale + part.t0) / step) * step - part.t0; x(t) < w; t += step) {
        if (x(t) < NAMES) continue;
        ctx.fillRect(x(t), AXIS - 5, 1, 5);
        ctx.fillText(fmt(part, t), x(t) + 2, 12);
      }
      ctx.fillText("process / time", 4, 15);
    }
    el.addEventListener("scroll", draw, {passive: true});
    el.addEventListener("mousemove", (ev) => {
      const r = el.getBoundingClientRect();
      const t = (ev.clientX - r.left + el.scrollLeft - NAMES) / scale;
      const p = Math.floor((ev.clientY - r.top + el.scrollTop - AXIS) / LANE);
      const o = visible().find(o => o.p === p && o.call <= t && t <= o.ret);
      if (!o) { tip.style.display = "none"; return; }
      tip.textContent = expand(o) + "\nprocess " + part.procs[o.p] + "\ncalled " + fmt(part, o.call) +
        "\nreturned " + (o.ret === Infinity ? "never" : fmt(part, o.ret));
      tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
      tip.style.display = "block";
    });
    el.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    if (el.dataset.focus && part.witness && part.witness.length) {
      const w0 = Math.min(...part.witness.map(i => ops[i].call));
      const w1 = Math.max(...part.witness.map(i => ops[i].ret === Infinity ? ops[i].call : ops[i].ret));
      // The whole witness in view, with a margin.
      scale = Math.min((el.clientWidth - NAMES - 80) / Math.max(w1 - w0, 1e-9), 2e7 / Math.max(part.end, 1));
      size();
      el.scrollLeft = w0 * scale - 30;
      const lanesHot = part.witness.map(i => ops[i].p);
      el.scrollTop = Math.max(0, Math.min(...lanesHot) * LANE - LANE);
    }
    draw();
    drawn++;
    document.body.dataset.drawn = drawn;
  }

  document.querySelectorAll(".tl[data-focus]").forEach(mount);
  document.querySelectorAll("button[data-draw]").forEach((b) => {
    b.onclick = () => {
      const row = document.getElementById("row-" + b.dataset.draw);
      row.style.display = "";
      mount(row.querySelector(".tl"));
    };
  });
  document.body.dataset.ready = Math.round(performance.now() - t_start);
})();
