// Willay Lite: choose a language, read a tip with its source, listen, say if it helped, next.
// Everything it needs is kept on the phone (localStorage; clips in the service worker's cache),
// so it goes on without signal; what the person does is queued and sent once back online.
"use strict";
(() => {
  const T = {
    es: {
      forme: "Consejo para mí", topics: "Temas", listen: "Escuchar", useful: "Me sirvió",
      notuseful: "No me sirvió", next: "Siguiente", source: "Fuente", home: "Inicio",
      consent: "Para elegir tus consejos guardamos idioma, región y lo que lees, sin tu número ni tu nombre. Puedes borrarlo.",
      accept: "Acepto", decline: "No acepto", region: "Mi región", noregion: "Sin región",
      lang: "Idioma", offline: "Sin señal: usas lo guardado.", pending: "por enviar",
      thanks: "¡Gracias!", none: "No hay más consejos por ahora.", loading: "Cargando…",
    },
    quy: {
      forme: "Ñuqapaq yuyaychakuy", topics: "Temakuna", listen: "Uyariy", useful: "Yanapawanmi",
      notuseful: "Manam yanapawanchu", next: "Qatiq", source: "Maymanta", home: "Qallariy",
      consent: "Yuyaychakuykunata akllanaykupaq simiykita, llaqtaykita, ñawinchasqaykitapas waqaychasaqku, mana numiruykitachu. Chinkachiwaqmi.",
      accept: "Arí", decline: "Manam", region: "Llaqtay", noregion: "Mana llaqtayuq",
      lang: "Simi", offline: "Mana señalniyuq: waqaychasqawan.", pending: "apachinapaq",
      thanks: "¡Añaychayki!", none: "Kunanqa manañam yuyaychakuy kanchu.", loading: "Suyay…",
    },
  };
  const LANGS = {{LANGUAGES}};  // willay/languages.py, filled in when served
  const KEY = "willay";
  const $ = (id) => document.getElementById(id);
  const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
  const load = () => { try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; } };
  const s = Object.assign({ install: hex(16), lang: null, consent: null, region: null, pack: null,
    queue: [], heard: [], outbox: [], alerts: [], seenAlerts: [], saveData: false, current: null }, load());
  const session = hex(12);
  const save = () => localStorage.setItem(KEY, JSON.stringify(s));
  const t = (k) => (T[s.lang] || T.quy)[k] || T.es[k];
  const el = (tag, props, ...kids) => {
    const { dataset, ...rest } = props || {};
    const e = Object.assign(document.createElement(tag), rest);
    Object.assign(e.dataset, dataset || {});
    kids.forEach((k) => e.append(k));
    return e;
  };
  const button = (text, onclick, cls) => el("button", { textContent: text, onclick, className: cls || "" });
  const saveData = () => s.saveData || !!(navigator.connection && navigator.connection.saveData);

  // -- events: queued here, sent in order, each id accepted once by the server ----------------
  function record(kind, fields) {
    s.outbox.push(Object.assign({ id: hex(16), ts: new Date().toISOString(), kind, session, lang: s.lang }, fields));
    save();
    flush();
  }
  let flushing = false;
  async function flush() {
    if (flushing || !s.outbox.length || !navigator.onLine) return status();
    flushing = true;
    const batch = s.outbox.slice(0, 100);
    try {
      const r = await fetch("/app/events", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ install: s.install, events: batch }) });
      if (r.ok || r.status === 400) {  // 400: a batch the server can never take
        const sent = new Set(batch.map((e) => e.id));
        s.outbox = s.outbox.filter((e) => !sent.has(e.id));
        save();
      }
    } catch (e) { /* offline: kept for later */ }
    flushing = false;
    status();
    if (s.outbox.length && navigator.onLine) setTimeout(flush, 2000);
  }
  function status() {
    const n = s.outbox.length;
    $("net").textContent = (navigator.onLine ? "" : t("offline")) + (n ? ` ${n} ${t("pending")}` : "");
  }

  // -- the pack: whole the first time, then only what changed (304 when nothing did) ----------
  async function syncPack() {
    if (!navigator.onLine) return;
    const have = s.pack && s.pack.lang === s.lang;
    const url = `/app/pack/${s.lang}` + (have ? `?have=${s.pack.tips.map((x) => x.h).join(".")}` : "");
    try {
      const r = await fetch(url, { headers: have ? { "If-None-Match": `"${s.pack.v}"` } : {}, cache: "no-store" });
      if (r.status === 304 || !r.ok) return;
      const p = await r.json();
      if (p.keep) {
        const byHash = new Map(s.pack.tips.concat(p.tips).map((x) => [x.h, x]));
        p.tips = p.keep.map((h) => byHash.get(h)).filter(Boolean);
        delete p.keep;
      }
      s.pack = p;
      save();
    } catch (e) { /* offline: the pack we have */ }
  }
  const tipById = (id) => s.pack && s.pack.tips.find((x) => x.id === id);

  // -- the queue the server's model ranked; offline, the pack's order --------------------------
  async function refill(topic) {
    if (!navigator.onLine) return;
    const exclude = s.heard.slice(-200).concat(s.queue.map((q) => q.id));
    try {
      const r = await fetch("/app/queue", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ install: s.install, lang: s.lang, topic: topic || null, exclude, n: 5 }) });
      if (!r.ok) return;
      const body = await r.json();
      s.saveData = body.saveData;
      body.tips.forEach((q) => { q.topic = topic || null; s.queue.push(q); });
      save();
    } catch (e) { /* offline */ }
  }
  async function nextTip(topic) {
    const fits = (q) => (q.topic || null) === (topic || null) && tipById(q.id) && !s.heard.includes(q.id);
    if (s.queue.filter(fits).length < 2) await refill(topic);
    const i = s.queue.findIndex(fits);
    if (i >= 0) return s.queue.splice(i, 1)[0];
    const local = s.pack.tips.find((x) => (!topic || x.t === topic) && !s.heard.includes(x.id));
    return local ? { id: local.id, pick: null } : null;
  }

  // -- audio: fetched only when asked (the service worker keeps it), never prefetched on Save-Data
  async function clip(file) {
    const r = await fetch(`/audio/${file}`);
    if (!r.ok) throw new Error(r.status);
    return URL.createObjectURL(await r.blob());
  }
  function prefetchNext() {
    if (saveData() || !navigator.onLine) return;
    const q = s.queue.find((x) => tipById(x.id) && tipById(x.id).a);
    if (q) fetch(`/audio/${tipById(q.id).a[0]}`).catch(() => {});
  }

  // -- screens -----------------------------------------------------------------------------------
  function show(...kids) {
    const main = $("main");
    main.replaceChildren(...kids);
    $("lang").textContent = s.lang ? LANGS.find((l) => l[0] === s.lang)[1] : "";
  }
  function chooseLanguage() {
    show(el("p", { textContent: "Elige tu idioma / Simiykita akllay" }),
      el("div", { className: "list" }, ...LANGS.map(([code, name]) => button(name, async () => {
        s.lang = code; s.queue = []; s.current = null; save();
        show(el("p", { textContent: t("loading") }));
        await syncPack();
        route();
      }))));
  }
  function askConsent() {
    show(el("p", { textContent: t("consent") }),
      button(t("accept"), () => { s.consent = true; save(); record("consent", { accepted: true }); route(); }, "main"),
      button(t("decline"), () => { s.consent = false; save(); record("consent", { accepted: false }); route(); }));
  }
  function home() {
    const region = el("select", { id: "region", onchange: () => {
      s.region = region.value || null; save();
      if (s.consent) record("profile_update", { region: s.region });
      watchAlerts();
    } });
    region.append(el("option", { value: "", textContent: t("noregion") }),
      ...s.pack.regions.map(([id, name]) => el("option", { value: id, textContent: name, selected: id === s.region })));
    show(button(t("forme"), () => openTip(null), "main"),
      el("h3", { textContent: t("topics") }),
      el("div", { className: "list" }, ...s.pack.topics.map(([id, name]) => button(name, () => openTip(id)))),
      el("p", {}, el("label", { textContent: t("region") + " " }, region)),
      button(t("lang"), () => { s.lang = null; save(); route(); }));
  }
  async function openTip(topic) {
    const q = await nextTip(topic);
    if (!q) return show(el("p", { textContent: t("none") }), button(t("home"), home));
    q.topic = topic || null;
    s.current = q;
    s.heard.push(q.id);
    s.heard = s.heard.slice(-300);
    save();
    record("tip_served", { tip_id: q.id, pick: q.pick });
    renderTip(q);
    prefetchNext();
  }
  function renderTip(q) {
    const tip = tipById(q.id);
    if (!tip) return home();
    const answered = el("p", { id: "answered" });
    const feedback = (useful) => () => {
      record("feedback", { tip_id: tip.id, useful, pick: q.pick });
      answered.textContent = t("thanks");
    };
    const player = el("audio", { id: "player", controls: true, preload: "none", hidden: true });
    const listen = tip.a ? button(`${t("listen")} (${Math.ceil(tip.a[1] / 1024)} KB)`, async () => {
      listen.disabled = true;
      try { player.src = await clip(tip.a[0]); player.hidden = false; await player.play(); }
      catch (e) { listen.disabled = false; }
    }) : "";
    if (listen) listen.id = "listen";
    const name = (s.pack.topics.find((x) => x[0] === tip.t) || [, ""])[1];
    show(el("div", { className: "tip", id: "tip", dataset: { id: tip.id } },
      el("h3", { textContent: name }),
      el("p", { textContent: tip.x }),
      el("p", { className: "src" }, `${t("source")}: `, el("a", { href: tip.s[1], textContent: tip.s[0], rel: "noopener" }))),
      listen, player,
      el("p", {}, button(t("useful"), feedback(true), "main"), button(t("notuseful"), feedback(false))),
      answered,
      button(t("next"), () => openTip(q.topic), "main"),
      button(t("home"), () => { s.current = null; save(); home(); }));
  }
  function route() {
    if (!s.lang) return chooseLanguage();
    if (!s.pack || s.pack.lang !== s.lang) {
      show(el("p", { textContent: t("loading") }));
      return syncPack().then(() => (s.pack && s.pack.lang === s.lang ? route() : chooseLanguage()));
    }
    if (s.consent === null) return askConsent();
    if (s.current) return renderTip(s.current);  // where they were: a promoter replays a tip
    home();
  }

  // -- alerts: found on opening, pushed while open (Server-Sent Events), kept for offline -------
  function showAlerts(list) {
    const now = new Date();
    s.alerts = list.filter((a) => new Date(a.ends) > now);
    save();
    $("alerts").replaceChildren(...s.alerts.map((a) => el("div", { textContent: a.text, dataset: { id: a.id } })));
    if (document.visibilityState === "visible") {
      s.alerts.filter((a) => !s.seenAlerts.includes(a.id)).forEach((a) => {
        s.seenAlerts.push(a.id);
        record("alert_seen", { alert_id: a.id, region: s.region });
      });
      s.seenAlerts = s.seenAlerts.slice(-50);
      save();
    }
  }
  let source = null;
  function watchAlerts() {
    if (source) source.close();
    showAlerts(s.alerts);
    if (!navigator.onLine || !window.EventSource) return;
    const q = new URLSearchParams({ session, lang: s.lang || "es" });
    if (s.region) q.set("region", s.region);
    source = new EventSource(`/app/alerts/stream?${q}`);
    source.addEventListener("alerts", (e) => showAlerts(JSON.parse(e.data)));
  }

  window.addEventListener("online", () => { flush(); watchAlerts(); syncPack(); });
  window.addEventListener("offline", status);
  document.addEventListener("visibilitychange", () => {
    // a hidden page holds no stream open (no data spent); shown again, it asks afresh
    if (document.visibilityState === "hidden") { if (source) source.close(); source = null; }
    else watchAlerts();
  });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app" });
  save();
  route();
  watchAlerts();
  flush();
  if (s.pack) syncPack();
})();
