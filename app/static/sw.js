// Willay service worker: the shell cache-first, the pack network-first with a cached fallback,
// and every clip once heard, cache-first (clips are content-addressed: they never change).
const SHELL = "willay-shell-{{VERSION}}";
const PACK = "willay-pack";
const AUDIO = "willay-audio";
const FILES = ["/app", "/app/app.js?v={{VERSION}}", "/app/manifest.webmanifest", "/app/icon.svg"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("willay-shell-") && k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

async function cacheFirst(name, request) {
  const cache = await caches.open(name);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.status === 200) cache.put(request, response.clone());
  return response;
}

async function networkFirst(name, request) {
  const cache = await caches.open(name);
  try {
    const response = await fetch(request);
    if (response.status === 200) cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = await cache.match(request);
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (e) => {
  const request = e.request;
  if (request.method !== "GET") return;
  const path = new URL(request.url).pathname;
  if (path.startsWith("/audio/") && !request.headers.has("range")) {
    e.respondWith(cacheFirst(AUDIO, request));
  } else if (path === "/app" || path === "/app/") {
    e.respondWith(caches.match("/app").then((hit) => hit || fetch(request)));
  } else if (path.startsWith("/app/pack/")) {
    e.respondWith(networkFirst(PACK, request));
  } else if (FILES.some((f) => f.split("?")[0] === path)) {
    e.respondWith(cacheFirst(SHELL, request));
  }
});
