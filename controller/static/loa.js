/* Loa web UI: small progressive enhancements. Every page works without this file; words shown
   here come from data-* attributes the server filled from the catalog. */
(function () {
  "use strict";

  function csrf() {
    var input = document.querySelector('input[name="csrf"]');
    return input ? input.value : "";
  }

  /* Live character count beside the text. */
  function charCount() {
    var text = document.getElementById("text");
    var count = document.getElementById("count");
    if (!text || !count) return;
    text.addEventListener("input", function () { count.textContent = String(text.value.length); });
  }

  /* Render text on the server and play it here ("nghe thử"). */
  function speak(text, audio, button, errorBox) {
    var body = new FormData();
    body.append("csrf", csrf());
    body.append("text", text);
    ["voice", "rate"].forEach(function (name) {
      var field = document.getElementById(name);
      if (field && button.id === "preview") body.append(name, field.value);
    });
    var label = button.textContent;
    button.disabled = true;
    button.textContent = button.dataset.busy || label;
    if (errorBox) { errorBox.hidden = true; errorBox.textContent = ""; }
    return fetch("/announcements/preview.mp3", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          return response.text().then(function (message) { throw new Error(message); });
        }
        return response.blob();
      })
      .then(function (blob) {
        if (audio.dataset.url) URL.revokeObjectURL(audio.dataset.url);
        var url = URL.createObjectURL(blob);
        audio.dataset.url = url;
        audio.src = url;
        audio.dataset.ready = "1";
        var played = audio.play();
        if (played && played.catch) played.catch(function () { /* autoplay refused: the controls remain */ });
      })
      .catch(function (error) {
        if (errorBox) { errorBox.textContent = error.message; errorBox.hidden = false; }
      })
      .finally(function () { button.disabled = false; button.textContent = label; });
  }

  function preview() {
    var button = document.getElementById("preview");
    if (!button) return;
    button.addEventListener("click", function () {
      speak(document.getElementById("text").value, document.getElementById("preview-audio"),
            button, document.getElementById("preview-error"));
    });
  }

  function listenButtons() {
    document.querySelectorAll(".listen-btn").forEach(function (button) {
      button.addEventListener("click", function () {
        var text = button.dataset.text;
        if (button.dataset.textFrom) text = document.querySelector(button.dataset.textFrom).value;
        if (!text) return;
        speak(text, document.querySelector(button.dataset.audio), button, null);
      });
    });
  }

  /* Record from the microphone (MediaRecorder) into the form's file input. */
  function recorder() {
    var button = document.getElementById("record");
    if (!button) return;
    var status = document.getElementById("record-status");
    var input = document.getElementById("audio");
    var playback = document.getElementById("record-audio");
    var recorded = document.getElementById("recorded");
    var media = null;
    var chunks = [];
    if (!window.MediaRecorder || !navigator.mediaDevices) {
      button.disabled = true;
      status.textContent = button.dataset.unsupported;
      return;
    }
    button.addEventListener("click", function () {
      if (media && media.state === "recording") { media.stop(); return; }
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        chunks = [];
        var type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
        media = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
        media.addEventListener("dataavailable", function (e) { if (e.data.size) chunks.push(e.data); });
        media.addEventListener("stop", function () {
          stream.getTracks().forEach(function (t) { t.stop(); });
          var blob = new Blob(chunks, { type: media.mimeType || "audio/webm" });
          var file = new File([blob], "ghi-am.webm", { type: blob.type });
          var transfer = new DataTransfer();
          transfer.items.add(file);
          input.files = transfer.files;
          recorded.value = "1";
          playback.src = URL.createObjectURL(blob);
          playback.hidden = false;
          button.textContent = button.dataset.start;
          button.setAttribute("aria-pressed", "false");
          status.textContent = button.dataset.done;
        });
        media.start();
        button.textContent = button.dataset.stop;
        button.setAttribute("aria-pressed", "true");
        status.textContent = "● REC";
      }).catch(function () { status.textContent = button.dataset.denied; });
    });
    input.addEventListener("change", function () { recorded.value = "0"; });
  }

  /* Schedule and relay forms: show the fields of the chosen kind and frequency. */
  function scheduleForm() {
    document.querySelectorAll("#schedule-form, #relay-form").forEach(whenFields);
  }
  function whenFields(form) {
    function sync() {
      var kind = form.querySelector('input[name="kind"]:checked');
      var recurring = kind && kind.value === "recurring";
      var frequency = form.querySelector("#frequency").value;
      form.querySelectorAll(".when-once").forEach(function (el) { el.hidden = recurring; });
      form.querySelectorAll(".when-recurring").forEach(function (el) { el.hidden = !recurring; });
      form.querySelectorAll(".when-weekly").forEach(function (el) { el.hidden = frequency !== "weekly"; });
      form.querySelectorAll(".when-monthly").forEach(function (el) { el.hidden = frequency !== "monthly"; });
    }
    form.addEventListener("change", sync);
    sync();
    /* The live check paints errors only once the official has touched the form: the first
       input or change (capture phase, before htmx sends it) marks it. */
    var touched = form.querySelector('input[name="touched"]');
    function touch() { if (touched) touched.value = "1"; }
    form.addEventListener("input", touch, true);
    form.addEventListener("change", touch, true);
  }

  /* Zone tree: ticking an area ticks the areas beneath it (they are reached anyway). */
  function zoneTree() {
    document.querySelectorAll("fieldset.zones").forEach(function (set) {
      set.addEventListener("change", function (e) {
        var box = e.target;
        if (!box.dataset || !box.dataset.zone) return;
        var stack = [box.dataset.zone];
        while (stack.length) {
          var parent = stack.pop();
          set.querySelectorAll('input[data-parent="' + parent + '"]').forEach(function (child) {
            child.checked = box.checked;
            stack.push(child.dataset.zone);
          });
        }
      });
    });
  }

  /* The phone menu (a <details> that works without this): Escape closes it and puts the focus
     back on its button, so the keyboard is not left on a hidden item. */
  function menuButton() {
    var toggle = document.querySelector(".menu-toggle");
    if (!toggle) return;
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape" || !toggle.open) return;
      toggle.open = false;
      toggle.querySelector("summary").focus();
    });
  }

  /* The map (nodes_map.html): hidden until a tile loads. A tile failing before any loaded, or
     none loaded within a few seconds (no Internet), hides it again and says so; the list by
     village stays below. A tile arriving later (a slow 3G link) brings the map back. With
     tiles, a click on the map fills the position form's latitude and longitude. */
  var MAP_TILE_WAIT_MS = 6000;
  function map() {
    var el = document.getElementById("map");
    if (!el || !window.L) return;
    var offline = document.getElementById("map-offline");
    var points = JSON.parse(el.dataset.points || "[]");
    el.hidden = false;
    var m = L.map(el);
    var loaded = false;
    function giveUp() {
      if (loaded) return;
      el.hidden = true;
      if (offline) offline.hidden = false;
    }
    var tiles = L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: "© OpenStreetMap" });
    tiles.on("tileload", function () {
      loaded = true;
      if (offline) offline.hidden = true;
      if (el.hidden) {
        el.hidden = false;
        m.invalidateSize();
      }
      var hint = document.querySelector(".map-hint");
      if (hint) hint.hidden = false;
    });
    tiles.on("tileerror", giveUp);
    tiles.addTo(m);
    window.setTimeout(giveUp, MAP_TILE_WAIT_MS);
    var bounds = [];
    points.forEach(function (p) {
      var marker = L.circleMarker([p.lat, p.lon], { radius: 9, color: p.online ? "#1e6b2f" : "#b3261e" }).addTo(m);
      var label = document.createElement("span");
      label.textContent = p.name + " — " + (p.online ? el.dataset.online : el.dataset.offline);
      marker.bindPopup(label);
      bounds.push([p.lat, p.lon]);
    });
    if (bounds.length) m.fitBounds(bounds, { maxZoom: 15, padding: [20, 20] });
    else m.setView([16.0, 106.0], 5); // Việt Nam, until a cluster has a position
    var lat = document.getElementById("position-lat");
    var lon = document.getElementById("position-lon");
    if (lat && lon) {
      m.on("click", function (e) {
        if (!loaded) return;
        lat.value = e.latlng.lat.toFixed(6);
        lon.value = e.latlng.lng.toFixed(6);
        lat.focus();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    charCount();
    preview();
    listenButtons();
    recorder();
    scheduleForm();
    zoneTree();
    menuButton();
    map();
  });
})();
