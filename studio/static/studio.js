// Willay Studio: record a text, play a simulated call, follow a rebuild. No framework.
"use strict";
const $ = (id) => document.getElementById(id);
const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

async function api(method, path, body, type) {
  const headers = { "X-CSRF-Token": csrf() };
  if (type) headers["Content-Type"] = type;
  const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { ok: response.ok, status: response.status, data };
}

function recorder(box) {
  let media = null, chunks = [], blob = null;
  const status = (text) => { $("rec-status").textContent = text; };
  $("rec-start").onclick = async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      media = new MediaRecorder(stream);
    } catch (err) { status("Sin micrófono: " + err.message); return; }
    chunks = [];
    media.ondataavailable = (ev) => { if (ev.data.size) chunks.push(ev.data); };
    media.onstop = () => {
      media.stream.getTracks().forEach((t) => t.stop());
      blob = new Blob(chunks, { type: media.mimeType || "audio/webm" });
      $("rec-preview").src = URL.createObjectURL(blob);
      $("rec-preview").hidden = false;
      $("rec-send").disabled = false;
      status("Escucha la grabación; si está bien, envíala.");
    };
    media.start();
    $("rec-start").disabled = true; $("rec-stop").disabled = false; $("rec-send").disabled = true;
    status("Grabando…");
  };
  $("rec-stop").onclick = () => {
    $("rec-stop").disabled = true; $("rec-start").disabled = false;
    if (media && media.state !== "inactive") media.stop();
  };
  $("rec-send").onclick = async () => {
    if (!blob) return;
    $("rec-send").disabled = true;
    status("Enviando y preparando el audio…");
    const type = (blob.type || "audio/webm").split(";")[0];
    const r = await api("PUT", box.dataset.put, blob, type);
    const out = $("rec-result");
    out.textContent = "";
    if (!r.ok) {
      status("No se aceptó (" + r.status + "): " + ((r.data && r.data.detail) || "error"));
      $("rec-send").disabled = false;
      return;
    }
    status("Guardada. Ya se escucha en las llamadas y en la app.");
    for (const f of r.data.files) {
      const p = document.createElement("p");
      p.className = "served"; p.dataset.format = f.format; p.dataset.url = f.url;
      p.textContent = f.format + ": " + f.url + " (" + f.duration.toFixed(1) + " s)";
      out.appendChild(p);
    }
  };
}

function simulator() {
  let session = null, number = null, queue = [];
  const audio = $("call-audio"), log = $("call-log");
  const say = (text) => { $("call-status").textContent = text; };
  const fresh = () => "+999" + String(Math.floor(Math.random() * 1e9)).padStart(9, "0");
  number = sessionStorage.getItem("willay-studio-number") || fresh();
  sessionStorage.setItem("willay-studio-number", number);
  function playNext() {
    const clip = queue.shift();
    if (!clip) return;
    if (clip.url) { audio.src = clip.url; audio.play().catch(() => {}); }
    else playNext();
  }
  audio.onended = playNext;
  function heard(clip, asked) {
    const li = document.createElement("li");
    li.className = "heard " + clip.kind;
    li.dataset.kind = clip.kind; li.dataset.id = clip.id; li.dataset.lang = clip.lang;
    li.dataset.source = clip.source || "provider"; li.dataset.url = clip.url || "";
    const voice = clip.source === "human" ? "voz humana" : clip.source ? "voz sintética" : "voz del proveedor";
    li.textContent = (asked ? "¿? " : "") + clip.kind + " " + clip.id + " [" + clip.lang + ", " + voice + "]: " + clip.text;
    log.appendChild(li);
  }
  async function step(fields) {
    const r = await api("POST", "/studio/api/call", JSON.stringify({ session, number, ...fields }), "application/json");
    if (!r.ok) { say("Error " + r.status + ": " + ((r.data && r.data.detail) || "")); return; }
    queue = [];
    for (const clip of r.data.plays) { heard(clip, false); queue.push(clip); }
    if (r.data.ask) { heard(r.data.ask, true); queue.push(r.data.ask); }
    audio.pause(); playNext();
    if (r.data.ended) { say("Llamada terminada."); session = null; $("call-hangup").disabled = true; }
    else say("En llamada: marca una tecla.");
  }
  $("call-dial").onclick = () => {
    session = "studio-" + crypto.randomUUID();
    log.textContent = ""; $("call-hangup").disabled = false;
    step({});
  };
  $("call-new").onclick = () => {
    number = fresh(); sessionStorage.setItem("willay-studio-number", number);
    say("Nuevo llamante: " + number);
  };
  $("call-hangup").onclick = () => { if (session) step({ hangup: true }); };
  document.querySelectorAll(".keypad .key").forEach((b) => {
    b.onclick = () => { if (session) step({ digits: b.dataset.key }); };
  });
}

function rebuild(box) {
  const show = (s) => {
    box.dataset.state = s.state;
    $("rebuild-bar").max = s.total || 1; $("rebuild-bar").value = s.done;
    $("rebuild-status").textContent = s.state + ": " + s.done + "/" + s.total + " " + (s.current || "") + " " + (s.summary || "");
  };
  async function poll() {
    const r = await api("GET", "/studio/api/rebuild");
    if (r.ok) { show(r.data); if (r.data.state === "running") setTimeout(poll, 1000); }
  }
  const start = $("rebuild-start");
  if (start) start.onclick = async () => {
    const r = await api("POST", "/studio/api/rebuild");
    if (!r.ok) $("rebuild-status").textContent = "Error " + r.status + ": " + ((r.data && r.data.detail) || "");
    poll();
  };
  if (box.dataset.state === "running") poll();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("recorder")) recorder($("recorder"));
  if ($("call")) simulator();
  if ($("rebuild")) rebuild($("rebuild"));
});
