// The page: choices (photo, painting, blend, model, strength, colours, size), running them in this
// browser or on the server, the result, and the camera tab (camera.js).
import { BrowserModel, blendStats } from "./browser-model.js";
import { Camera } from "./camera.js";
import { matchColor } from "./color.js";
import { pixelsAt, scaledSize } from "./pixels.js";
import { exampleUrl, PAINTINGS, PHOTOS, readableName } from "./presets.js";
import { ResultView } from "./result-view.js";
import { serverStylize } from "./server-model.js";
import { readSettings, writeSettings } from "./settings-url.js";

const $ = (id) => document.getElementById(id);
// The in-browser model's memory: WebAssembly has 4 GB at most, and a phone less.
const BROWSER_MAX_SIDE = 1024;
const BROWSER_MAX_PIXELS = 1024 * 1536;
// The networks work at an eighth of the size and pad by reflection there: 16 px is the least.
const MIN_SIDE = 16;

// A picked picture: { key, file (Blob), name (for file names), title, credit, bitmap, example }
// or, for a bank style, { key, bank: name, title }.
const state = { content: null, style: null, server: null, browserAvailable: false, modelFolder: null, busy: false,
                again: false };
let browserModel = null;
let camera = null;  // the camera tab (camera.js), made once the page's functions exist
let pickCount = 0;
const styleStatsCache = new Map();
const result = new ResultView();

const model = () => document.querySelector("input[name=model]:checked")?.value;
const alpha = () => Number($("alpha").value);
const mix = () => Number($("mix").value);
const keepColours = () => $("preserve-color").checked && !$("preserve-color").disabled;
const liveRerender = () => model() === "browser" || model() === "fast";

// ---- messages -------------------------------------------------------------------------------

function showError(message) {
  $("error").textContent = message;
  $("error").scrollIntoView({ block: "nearest" });
}
const clearError = () => { $("error").textContent = ""; };
function setStatus(text) { $("status").textContent = text; }

// ---- picking pictures -----------------------------------------------------------------------

const stem = (name) => name.replace(/\.[^.]*$/, "").replace(/[^\w-]+/g, "-").replace(/^-+|-+$/g, "") || "picture";

async function decodePicture(file, label) {
  try {
    return await createImageBitmap(file);
  } catch (_) {
    throw new Error(`${label} is not a picture this browser can read; choose a JPEG, PNG or WebP file.`);
  }
}

async function pick(kind, file, extra = {}) {
  if (!file) return;
  const label = `"${file.name || "the pasted picture"}"`;
  let bitmap;
  try {
    bitmap = await decodePicture(file, label);
  } catch (err) {
    showError(err.message);
    return;
  }
  if (Math.min(bitmap.width, bitmap.height) < MIN_SIDE) {
    showError(`${label} is ${bitmap.width} x ${bitmap.height} pixels; the models need at least ${MIN_SIDE} on each side.`);
    return;
  }
  clearError();
  const choice = { key: `${kind}-${++pickCount}`, file, bitmap, name: stem(file.name || "pasted"),
                   title: extra.title || file.name || "pasted picture", credit: extra.credit || "", example: extra.example || null };
  state[kind] = choice;
  const preview = $(`${kind}-preview`);
  preview.src = URL.createObjectURL(file);
  preview.alt = kind === "content" ? `your photo: ${choice.title}` : `the painting: ${choice.title}`;
  preview.hidden = false;
  $(`${kind}-hint`).hidden = true;
  if (kind === "content") {
    $("content-name").textContent = `${choice.title}, ${bitmap.width} x ${bitmap.height} pixels${choice.credit ? ` (${choice.credit})` : ""}`;
  } else {
    $("style-credit").textContent = choice.credit ? `${choice.title}: ${choice.credit}` : choice.title;
  }
  markPressed(kind, extra.button || null);
  updateControls();
  changed();
}

function pickBank(name, button) {
  clearError();
  state.style = { key: `bank-${name}`, bank: name, name: stem(name), title: readableName(name) };
  $("style-preview").src = button.querySelector("img").src;
  $("style-preview").alt = `the learned style: ${readableName(name)}`;
  $("style-preview").hidden = false;
  $("style-hint").hidden = true;
  $("style-credit").textContent = `${readableName(name)} (a learned style on the server)`;
  markPressed("style", button);
  updateControls();
  changed();
}

function markPressed(kind, button) {
  const group = kind === "content" ? "#example-photos .thumb" : "#example-styles .thumb, #bank-styles .thumb";
  document.querySelectorAll(group).forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
}

async function exampleFile(id) {
  const blob = await (await fetch(exampleUrl(id))).blob();
  return new File([blob], `${id}.jpg`, { type: blob.type || "image/jpeg" });
}

function thumb(src, title, onClick) {
  const button = Object.assign(document.createElement("button"), { type: "button", className: "thumb", title });
  button.setAttribute("aria-pressed", "false");
  button.append(Object.assign(document.createElement("img"), { src, alt: title }));
  button.addEventListener("click", () => onClick(button));
  return button;
}

async function pickExample(kind, preset, button) {
  await pick(kind, await exampleFile(preset.id), { title: preset.title, credit: preset.credit, example: preset.id, button });
}

function buildGalleries() {
  for (const photo of PHOTOS) {
    $("example-photos").append(thumb(exampleUrl(photo.id), `${photo.title} (${photo.credit})`,
      (b) => pickExample("content", photo, b)));
  }
  for (const painting of PAINTINGS) {
    const button = thumb(exampleUrl(painting.id), `${painting.title}, ${painting.credit}`, (b) => pickExample("style", painting, b));
    button.dataset.example = painting.id;
    $("example-styles").append(button);
    $("style2").append(new Option(`${painting.title} (example)`, `example:${painting.id}`));
  }
}

for (const kind of ["content", "style"]) {
  const drop = $(`${kind}-drop`);
  $(kind).addEventListener("change", (e) => { pick(kind, e.target.files[0]); e.target.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); pick(kind, e.dataTransfer.files[0]); });
}

// Paste: into the painting when the focus is in the painting's column, otherwise the photo.
document.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === "file" && i.type.startsWith("image/"));
  if (!item) return;
  e.preventDefault();
  const kind = document.activeElement?.closest("#style-section") ? "style" : "content";
  const file = item.getAsFile();
  pick(kind, new File([file], file.name && file.name !== "image.png" ? file.name : "pasted.png", { type: file.type }));
});

// ---- engines --------------------------------------------------------------------------------

async function findEngines() {
  try {
    const response = await fetch("v1/info");
    if (response.ok) state.server = await response.json();
  } catch (_) { /* a static host: no server */ }
  // The graphs beside the page (a static site), or made by the server from its fast model.
  try {
    if ((await fetch("static/model/model.json")).ok) state.modelFolder = "static/model/";
  } catch (_) { /* offline, or not there */ }
  state.browserAvailable = Boolean(state.modelFolder);
  const serverModels = state.server?.models || {};
  $("choice-browser").hidden = !state.browserAvailable;
  $("choice-fast").hidden = !("fast" in serverModels);
  $("choice-quality").hidden = !("quality" in serverModels);
  const first = [state.server?.default_model, "quality", "fast"].find((m) => m && m in serverModels)
    || (state.browserAvailable ? "browser" : null);
  if (first) $(`model-${first}`).checked = true;
  if (!first) {
    showError("Nothing here can stylize: this page has no server and no in-browser model next to it.");
    $("go").disabled = true;
  }
  if (state.server && "fast" in serverModels && !state.modelFolder) offerServerGraphs();
  if (state.server) await loadBank();
  else $("model-hint").textContent = "This copy of the page has no server: everything runs in this browser, and photos never leave it.";
}

// The server makes the in-browser graphs from its fast model the first time they are asked for
// (seconds), so the choice appears when they are ready, without holding up the page.
async function offerServerGraphs() {
  try {
    if (!(await fetch("v1/web-model/model.json")).ok) return;
  } catch (_) { return; }
  state.modelFolder = "v1/web-model/";
  state.browserAvailable = true;
  $("choice-browser").hidden = false;
  const s = readSettings();
  if (s.model === "browser") { $("model-browser").checked = true; changed(); }
}

async function loadBank() {
  try {
    const response = await fetch("v1/styles");
    if (!response.ok) return;
    const { styles } = await response.json();
    $("bank-label").hidden = styles.length === 0;
    for (const style of styles) {
      const button = thumb(style.thumbnail, readableName(style.name), (b) => pickBank(style.name, b));
      button.dataset.bank = style.name;
      $("bank-styles").append(button);
      $("style2").append(new Option(`${readableName(style.name)} (learned)`, `bank:${style.name}`));
    }
  } catch (_) { /* uploads and examples still work */ }
}

async function loadBrowserModel() {
  if (!browserModel) {
    setStatus("Loading the in-browser model (about 6 MB and the runtime, once)...");
    browserModel = BrowserModel.load(state.modelFolder).catch((err) => { browserModel = null; throw err; });
  }
  return browserModel;
}

// ---- which controls apply -------------------------------------------------------------------

function updateControls() {
  const browser = model() === "browser";
  const bankStyle = Boolean(state.style?.bank);
  const second = $("style2").value;
  document.querySelectorAll("#bank-styles .thumb").forEach((b) => { b.disabled = browser; });
  for (const option of $("style2").options) option.disabled = browser && option.value.startsWith("bank:");
  $("bank-label").textContent = browser ? "learned styles (on the server only; choose a server model to use them)"
    : "learned styles (on the server, with either server model)";
  const cameraTab = camera?.active;
  $("preserve-color").disabled = bankStyle || second.startsWith("bank:") || cameraTab;
  $("color-hint").textContent = cameraTab ? "Not available for the camera."
    : $("preserve-color").disabled ? "Not available with a learned style: the server keeps a learned style's own colours." : "";
  $("mix").disabled = !second;
  $("mix-value").textContent = `${Math.round(mix() * 100)} %`;
  $("alpha-value").textContent = alpha().toFixed(2);
  const limit = browser ? BROWSER_MAX_SIDE : (state.server?.limits?.max_side || 2048);
  $("size").max = limit;
  $("size-hint").textContent = `From 64 to ${limit}. A smaller photo keeps its own size (it is never enlarged).`
    + (browser ? "" : " Large sizes take tens of seconds on a server without a GPU.");
  const where = browser ? "Runs here with WebAssembly; pictures never leave this device."
    : state.server ? `Each ${camera?.active ? "frame" : "photo"} is sent to this page's server, stylised and sent back; nothing is stored.`
    : $("model-hint").textContent;
  $("model-hint").textContent = camera?.active && state.server?.models && "quality" in state.server.models
    ? `${where} The camera needs a fast model, so the quality model is for photos only.` : where;
  saveSettings();
}

function saveSettings() {
  const second = $("style2").value;
  writeSettings({
    model: model(), alpha: alpha().toFixed(2), size: $("size").value, colors: $("preserve-color").checked ? 1 : "",
    photo: state.content?.example || "", style: state.style?.bank ? `bank:${state.style.bank}` : state.style?.example || "",
    style2: second, mix: second ? mix().toFixed(2) : "", tab: camera?.active ? "camera" : "",
  });
}

async function applySettings() {
  const s = readSettings();
  if (s.model && $(`model-${s.model}`) && !$(`choice-${s.model}`).hidden) $(`model-${s.model}`).checked = true;
  if (s.alpha !== undefined && !Number.isNaN(Number(s.alpha))) $("alpha").value = s.alpha;
  if (s.size && /^\d+$/.test(s.size)) $("size").value = s.size;
  $("preserve-color").checked = s.colors === "1";
  if (s.style2 && [...$("style2").options].some((o) => o.value === s.style2)) $("style2").value = s.style2;
  if (s.mix !== undefined && !Number.isNaN(Number(s.mix))) $("mix").value = s.mix;
  const photo = PHOTOS.find((p) => p.id === s.photo);
  if (photo) await pickExample("content", photo, $("example-photos").children[PHOTOS.indexOf(photo)]);
  const painting = PAINTINGS.find((p) => p.id === s.style);
  if (painting) await pickExample("style", painting, document.querySelector(`#example-styles [data-example="${painting.id}"]`));
  const bankButton = s.style?.startsWith("bank:") && document.querySelector(`#bank-styles [data-bank="${CSS.escape(s.style.slice(5))}"]`);
  if (bankButton) pickBank(s.style.slice(5), bankButton);
  if (s.tab === "camera") camera.setTab(true);
  updateControls();
}

// ---- size -----------------------------------------------------------------------------------

// The shorter side to work at, or an error in words.
function workingSide() {
  const raw = $("size").value.trim();
  const limit = Number($("size").max);
  if (!/^\d+$/.test(raw) || Number(raw) < 64 || Number(raw) > limit) {
    throw new Error(`The size must be a whole number of pixels from 64 to ${limit} (it is the photo's shorter side).`);
  }
  const { width, height } = state.content.bitmap;
  const side = Math.min(Number(raw), width, height);
  const [w, h] = scaledSize(width, height, side);
  const maxPixels = model() === "browser" ? BROWSER_MAX_PIXELS : limit * limit;
  if (w * h > maxPixels) {
    const fits = Math.floor(Math.sqrt(maxPixels * Math.min(width, height) / Math.max(width, height)));
    throw new Error(`At ${side} px this photo would be ${w} x ${h} pixels, more than ${model() === "browser" ? "this browser mode" : "the server"} `
      + `takes (${(maxPixels / 1e6).toFixed(1)} million); choose ${fits} px or less.`);
  }
  return side;
}

// ---- running --------------------------------------------------------------------------------

function missingChoice() {
  if (!state.content && !state.style) return "Choose a photo and a painting first.";
  if (!state.content) return "Choose a photo first.";
  if (!state.style) return "Choose a painting first.";
  return null;
}

async function secondStyle() {
  const value = $("style2").value;
  if (!value) return null;
  const [kind, id] = value.split(/:(.*)/s);
  if (kind === "bank") return { key: value, bank: id, name: stem(id), title: readableName(id) };
  const preset = PAINTINGS.find((p) => p.id === id);
  const file = await exampleFile(id);
  return { key: value, file, bitmap: await createImageBitmap(file), name: id, title: preset?.title || id };
}

async function statsFor(style, photo) {
  const key = keepColours() ? `${style.key}|colours-of|${state.content.key}|${photo.width}` : style.key;
  if (!styleStatsCache.has(key)) {
    const modelObject = await loadBrowserModel();
    let painting = pixelsAt(style.bitmap, modelObject.info.style_size);  // the side the library reads it at
    if (keepColours()) painting = matchColor(painting, photo);
    styleStatsCache.set(key, modelObject.styleStats(painting).catch((err) => { styleStatsCache.delete(key); throw err; }));
  }
  return styleStatsCache.get(key);
}

// The style row for the browser: the painting's, or the blend's.
export async function browserStats(photo) {
  const second = await secondStyle();
  if (state.style.bank || second?.bank) throw new Error("Learned styles live on the server; choose a server model or an example painting.");
  const first = await statsFor(state.style, photo);
  return second ? blendStats([first, await statsFor(second, photo)], [1 - mix(), mix()]) : first;
}

async function runInBrowser(side) {
  const modelObject = await loadBrowserModel();
  const photo = pixelsAt(state.content.bitmap, side);
  const started = performance.now();
  const stats = await browserStats(photo);
  const painted = await modelObject.stylize(photo, stats, alpha());
  const canvas = Object.assign(document.createElement("canvas"), { width: painted.width, height: painted.height });
  canvas.getContext("2d").putImageData(painted, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const seconds = (performance.now() - started) / 1000;
  return { blob, note: `Done in ${seconds.toFixed(1)} s in this browser (fast model, ${modelObject.description}).` };
}

async function runOnServer(side) {
  const second = await secondStyle();
  return serverStylize({
    content: state.content, style: state.style, second, mix: mix(), model: model(), alpha: alpha(),
    keepColours: keepColours(), side,
  });
}

function styleLabel() {
  const second = $("style2").value;
  const secondName = second ? stem(second.split(":").slice(1).join(":")) : "";
  return secondName ? `${state.style.name}+${secondName}` : state.style.name;
}

async function stylize() {
  if (state.busy) { state.again = true; return; }
  clearError();
  const missing = missingChoice();
  if (missing) { showError(missing); return; }
  let side;
  try {
    side = workingSide();
  } catch (err) {
    showError(err.message);
    return;
  }
  state.busy = true;
  $("go").disabled = true;
  const settingsKey = currentSettingsKey();
  const started = performance.now();
  $("status").innerHTML = '<span class="spinner" aria-hidden="true"></span><span id="elapsed">Working...</span>';
  const tick = setInterval(() => { const e = $("elapsed"); if (e) e.textContent = `Working... ${((performance.now() - started) / 1000).toFixed(1)} s`; }, 250);
  try {
    const { blob, note } = model() === "browser" ? await runInBrowser(side) : await runOnServer(side);
    result.show(blob, $("content-preview").src, `${state.content.name}-${styleLabel()}.png`, settingsKey);
    clearInterval(tick);
    setStatus(note);
  } catch (err) {
    clearInterval(tick);
    result.clear();
    setStatus("");
    showError(`Could not stylize ${state.content.title}: ${err.message}`);
  } finally {
    clearInterval(tick);
    state.busy = false;
    $("go").disabled = false;
    if (state.again) { state.again = false; if (currentSettingsKey() !== result.settingsKey) stylize(); }
  }
}

function currentSettingsKey() {
  return JSON.stringify([state.content?.key, state.style?.key, $("style2").value, mix(), model(), alpha(),
                         keepColours(), $("size").value]);
}

// Something changed: a fast model paints again at once; otherwise the old result says it is old.
let rerenderTimer = null;
function changed() {
  updateControls();
  if (camera?.active) { camera.configChanged(); return; }
  if (!result.shown) return;
  const stale = currentSettingsKey() !== result.settingsKey;
  if (stale && liveRerender() && state.content && state.style) {
    clearTimeout(rerenderTimer);
    rerenderTimer = setTimeout(stylize, 250);
  } else {
    result.markStale(stale);
  }
}

$("controls").addEventListener("submit", (e) => { e.preventDefault(); stylize(); });
$("alpha").addEventListener("input", changed);
$("mix").addEventListener("input", changed);
$("style2").addEventListener("change", changed);
$("preserve-color").addEventListener("change", changed);
$("size").addEventListener("change", () => { if (result.shown) result.markStale(currentSettingsKey() !== result.settingsKey); saveSettings(); });
document.querySelectorAll("input[name=model]").forEach((r) => r.addEventListener("change", changed));
$("share").addEventListener("click", async () => {
  saveSettings();
  try {
    await navigator.clipboard.writeText(location.href);
    setStatus("A link to these settings is copied (uploaded pictures are not part of it).");
  } catch (_) {
    setStatus(`The link to these settings: ${location.href}`);
  }
});

// ---- the camera tab -------------------------------------------------------------------------

camera = new Camera({
  model, alpha, showError, clearError, updateControls, styleLabel: () => (state.style ? styleLabel() : "camera"),
  ensureStyle: async () => {
    if (!state.style) await pickExample("style", PAINTINGS[0], $("example-styles").children[0]);
    return state.style;
  },
  browserStats: async (frame) => browserStats(frame), loadBrowserModel,
  serverConfig: async () => {
    const second = await secondStyle();
    return { style: state.style, second, mix: mix() };
  },
  resultShown: () => result.shown,
});

// ---- start ----------------------------------------------------------------------------------

async function registerOfflineWorker() {
  // Only the static site (no server) caches itself; its worker also brings the isolation that
  // gives the runtime threads, which needs one reload the first time.
  if (state.server || !state.browserAvailable || !("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("sw.js");
    if (!self.crossOriginIsolated && !sessionStorage.getItem("stylize-isolation-reload")) {
      await navigator.serviceWorker.ready;
      sessionStorage.setItem("stylize-isolation-reload", "1");
      location.reload();
      return true;
    }
  } catch (_) { /* no offline copy; everything else works */ }
  return false;
}

async function start() {
  buildGalleries();
  await findEngines();
  if (await registerOfflineWorker()) return;
  await applySettings();
  document.body.dataset.ready = "true";  // tests and the benchmark wait for this
}
start();
