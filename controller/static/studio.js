/* Giọng xã's recording studio: record a sheet with the microphone (MediaRecorder, as the
   announcement page's Ghi âm), put the take in the form's file input and send the form; the
   server cuts and checks it. Without this file the form still takes a chosen file. Words come
   from the button's data-* attributes (the catalog). */
(function () {
  "use strict";

  function studio(form) {
    var button = form.querySelector(".vb-record");
    var status = form.querySelector(".record-status");
    var input = form.querySelector('input[type="file"]');
    if (!button || !input) return;
    if (!window.MediaRecorder || !navigator.mediaDevices || !window.DataTransfer) {
      button.disabled = true;
      status.textContent = button.dataset.unsupported;
      return;
    }
    var media = null;
    var chunks = [];
    button.addEventListener("click", function () {
      if (media && media.state === "recording") { media.stop(); return; }
      // The announcer's own level and pauses: no automatic gain or noise suppression, which
      // would raise the noise in the pauses and blur where one syllable ends.
      var constraints = { audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } };
      navigator.mediaDevices.getUserMedia(constraints).then(function (stream) {
        chunks = [];
        var type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
        media = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
        media.addEventListener("dataavailable", function (e) { if (e.data.size) chunks.push(e.data); });
        media.addEventListener("stop", function () {
          stream.getTracks().forEach(function (t) { t.stop(); });
          var blob = new Blob(chunks, { type: media.mimeType || "audio/webm" });
          var file = new File([blob], "to-doc.webm", { type: blob.type });
          var transfer = new DataTransfer();
          transfer.items.add(file);
          input.files = transfer.files;
          button.setAttribute("aria-pressed", "false");
          button.disabled = true;
          status.textContent = button.dataset.sending;
          if (form.requestSubmit) form.requestSubmit(); else form.submit();
        });
        media.start();
        button.textContent = button.dataset.stop;
        button.setAttribute("aria-pressed", "true");
        status.textContent = "● REC";
      }).catch(function () { status.textContent = button.dataset.denied; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.take-form").forEach(studio);
  });
})();
