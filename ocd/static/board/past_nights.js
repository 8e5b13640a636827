// OCD board: the night picker. A past night of the survey's archive (ocd archive) is shown with
// the live page's panels: the board feeds the night's events to the same model as the live
// night and sends every panel at once; this page draws them as it draws the first snapshot
// (board.js's apply). The live stream is closed meanwhile; "tonight (live)" loads the page
// again. Text from the archive is set with textContent only, as everywhere on the page.
"use strict";

const pastNight = { shown: null };

async function loadNights() {
  const picker = $("night-picker");
  let data = { nights: [], error: "the archive did not answer" };
  try {
    const response = await fetch("/api/archive/nights", { credentials: "same-origin" });
    data = await response.json();
  } catch (e) { /* the error above is shown */ }
  if (data.error) {
    picker.disabled = true;
    picker.title = `past nights: ${data.error}`;
    return;
  }
  for (const night of data.nights) {
    picker.appendChild(el("option", { value: night.night },
      `${night.night} (${night.events.toLocaleString("en")} events)`));
  }
  picker.disabled = data.nights.length === 0;
  picker.title = data.nights.length ? "show a past night from the archive" : "the archive holds no night yet";
}

async function showNight(night) {
  if (night === "live") { location.reload(); return; }
  state.pastNight = night;            // board.js then reconnects no more
  if (socket) socket.close();
  setText("link", `loading ${night}…`);
  $("link").className = "badge off";
  let response = null;
  let data = {};
  try {
    response = await fetch(`/api/archive/night/${encodeURIComponent(night)}`, { credentials: "same-origin" });
    data = await response.json();
  } catch (e) { data = { error: "the board did not answer" }; }
  if (!response || !response.ok) {
    setText("night-note", data.error || "could not load the night");
    setText("link", "past night");
    return;
  }
  pastNight.shown = night;
  state.offset = data.wall - Date.now() / 1000; // ages are told from the night's last event
  for (const [panel, panelData] of Object.entries(data.panels)) apply(panel, panelData);
  setText("link", `night ${night}`);
  $("link").className = "badge past";
  setText("night-note", `${data.shown.toLocaleString("en")} of ${data.events.toLocaleString("en")} events shown; the clock stopped at the last`);
}

document.addEventListener("DOMContentLoaded", () => {
  $("night-picker").onchange = (e) => { showNight(e.target.value); };
  loadNights();
});
