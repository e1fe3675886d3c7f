// The page's settings in the address (after #), so a link reproduces them: model, strength, size,
// colours, the example photo and paintings, the blend. Uploaded pictures stay on the device and
// are never part of a link.
const KEYS = ["model", "alpha", "size", "colors", "photo", "style", "style2", "mix", "tab"];

export function readSettings() {
  const params = new URLSearchParams(location.hash.slice(1));
  return Object.fromEntries(KEYS.filter((k) => params.has(k)).map((k) => [k, params.get(k)]));
}

export function writeSettings(settings) {
  const params = new URLSearchParams();
  for (const key of KEYS) {
    if (settings[key] !== undefined && settings[key] !== null && settings[key] !== "") params.set(key, settings[key]);
  }
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}
