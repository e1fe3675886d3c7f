// The static site's service worker (stylize export-web). Two jobs:
// - offline: the site's files are cached at install (the WebGPU runtime only once a page has used
//   it: most visitors never need its 18 MB); requests go to the network first (so a re-exported
//   site is seen at once), are cached, and fall back to the cache when there is no network;
// - threads: it adds the cross-origin isolation headers that static hosts do not send, without
//   which browsers refuse the WebAssembly runtime its threads.
const CACHE = "stylize-site";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const { files, cached_when_used: later = [] } = await (await fetch("static/site-files.json", { cache: "no-store" })).json();
    const cache = await caches.open(CACHE);
    await cache.addAll(["./", ...files.filter((file) => !later.includes(file))]);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function isolated(response) {
  if (!response || response.type === "opaque") return response;
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    try {
      const response = await fetch(request);
      if (response.ok) (await caches.open(CACHE)).put(request, response.clone());
      return isolated(response);
    } catch (offline) {
      const cached = await caches.match(request, { ignoreSearch: true });
      if (cached) return isolated(cached);
      throw offline;
    }
  })());
});
