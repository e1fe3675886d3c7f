// The example photos and paintings shipped in static/examples/, with names and credits
// (the licences are in the README's Credits).
export const PHOTOS = [
  { id: "gorilla", title: "Gorilla", credit: "GCompris (GPL-3+ / CC BY-SA)" },
  { id: "monument", title: "Monument", credit: "GCompris (GPL-3+ / CC BY-SA)" },
];

export const PAINTINGS = [
  { id: "sower", title: "The Sower", credit: "Vincent van Gogh, 1888 (public domain)" },
  { id: "coast", title: "Coast", credit: "Battle for Wesnoth art (GPL-2+)" },
  { id: "halstead", title: "The Halstead", credit: "Battle for Wesnoth, Liberty story art (GPL-2+)" },
  { id: "engraving", title: "Meeting the natives", credit: "FreeCol (GPL-2+)" },
  { id: "archer", title: "Archer", credit: "Battle for Wesnoth portrait (GPL-2+)" },
];

export const exampleUrl = (id) => new URL(`examples/${id}.jpg`, import.meta.url).href;

// "night_cafe" -> "Night cafe": a bank style's name as people read it.
export const readableName = (name) => {
  const words = name.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};
