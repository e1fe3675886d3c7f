// Stylising on the page's server: POST /v1/stylize, the answer as a PNG.

function appendStyles(form, style, second, mix) {
  if (!second) {
    if (style.bank) form.append("style_name", style.bank);
    else form.append("style", style.file);
    return;
  }
  if (Boolean(style.bank) !== Boolean(second.bank)) {
    throw new Error("a learned style blends only with another learned style, and a painting with a painting.");
  }
  const weights = [(1 - mix).toFixed(2), mix.toFixed(2)];
  if (style.bank) {
    form.append("style_name", `${style.bank}:${weights[0]},${second.bank}:${weights[1]}`);
  } else {
    form.append("style", style.file);
    form.append("style", second.file);
    form.append("style_weights", weights.join(","));
  }
}

// -> { blob, note } or throws an Error with the server's words.
export async function serverStylize({ content, style, second, mix, model, alpha, keepColours, side }) {
  const form = new FormData();
  form.append("content", content.file);
  appendStyles(form, style, second, mix);
  form.append("model", model);
  form.append("alpha", String(alpha));
  if (keepColours) form.append("preserve_color", "true");
  form.append("content_size", String(side));
  form.append("format", "png");
  let response;
  try {
    response = await fetch("v1/stylize", { method: "POST", body: form });
  } catch (_) {
    throw new Error("the server cannot be reached.");
  }
  if (!response.ok) {
    let detail = `the server answered ${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  const seconds = (Number(response.headers.get("X-Processing-Ms")) / 1000).toFixed(1);
  return { blob: await response.blob(),
           note: `Done in ${seconds} s on the server (${response.headers.get("X-Model")} model, ${response.headers.get("X-Device")}).` };
}
