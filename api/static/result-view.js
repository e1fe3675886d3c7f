// The result: before/after comparison, the download named after the photo and the painting, a
// full-size view, and the note that it is out of date when the settings have changed since.
const $ = (id) => document.getElementById(id);

export class ResultView {
  constructor() {
    this.url = null;
    this.settingsKey = null;
    $("full-view-open").addEventListener("click", () => {
      $("full-view-image").src = this.url;
      $("full-view").showModal();
    });
  }

  get shown() { return this.url !== null; }

  show(blob, beforeUrl, fileName, settingsKey) {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = URL.createObjectURL(blob);
    this.settingsKey = settingsKey;
    const box = $("result");
    const old = $("result-image");
    // Keep the box's height while the new picture decodes, so the controls do not jump.
    if (old) box.style.minHeight = `${box.offsetHeight}px`;
    box.replaceChildren(this.compare(beforeUrl));
    const image = $("result-image");
    image.decode().catch(() => {}).finally(() => {
      box.style.minHeight = "";
      // Shown as wide as the column allows, a portrait one no taller than most of the window.
      image.parentElement.style.width = `min(100%, calc(70vh * ${image.naturalWidth / Math.max(1, image.naturalHeight)}))`;
    });
    box.classList.remove("stale");
    $("download").href = this.url;
    $("download").download = fileName;
    $("download").textContent = `Download ${fileName}`;
    $("result-actions").hidden = false;
  }

  compare(beforeUrl) {
    const frame = Object.assign(document.createElement("div"), { className: "compare" });
    const after = Object.assign(document.createElement("img"), { id: "result-image", src: this.url, alt: "the stylised photo" });
    const before = Object.assign(document.createElement("img"), { id: "before-image", src: beforeUrl, alt: "" });
    const slider = Object.assign(document.createElement("input"), { type: "range", min: 0, max: 100, value: 0, id: "compare" });
    slider.setAttribute("aria-label", "Compare with the photo: share of the photo shown");
    const clip = () => { before.style.clipPath = `inset(0 ${100 - slider.value}% 0 0)`; };
    slider.addEventListener("input", clip);
    clip();
    const tag = (text, side) => {
      const span = Object.assign(document.createElement("span"), { className: "tag", textContent: text });
      span.style[side] = "8px";
      span.setAttribute("aria-hidden", "true");
      return span;
    };
    frame.append(after, before, slider, tag("before", "left"), tag("after", "right"));
    return frame;
  }

  markStale(stale) {
    const box = $("result");
    box.classList.toggle("stale", stale);
    box.querySelector(".stale-note")?.remove();
    if (stale) {
      const note = Object.assign(document.createElement("p"), { className: "stale-note",
        textContent: "The settings changed since this result: press Stylize to update it." });
      box.prepend(note);
    }
  }

  clear() {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.settingsKey = null;
    $("result").classList.remove("stale");
    $("result").replaceChildren(Object.assign(document.createElement("p"), { id: "result-empty", textContent: "Your painting appears here." }));
    $("result-actions").hidden = true;
    $("download").removeAttribute("href");
  }
}
