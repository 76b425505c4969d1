// suppress: small progressive enhancements. Every page works without this file.
// A form marked data-progress shows how much of its file has been sent, then that the list is
// being judged, instead of a page that looks frozen for a large list.
(function () {
  "use strict";
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      ev.preventDefault();
      var box = document.getElementById(form.getAttribute("data-progress"));
      var bar = box.querySelector("progress");
      var said = box.querySelector("[data-said]");
      box.hidden = false;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          bar.max = e.total; bar.value = e.loaded;
          said.textContent = (form.getAttribute("data-sending") || "Sending the file") + ": " + Math.floor(100 * e.loaded / e.total) + "%";
        }
      };
      xhr.upload.onload = function () {
        bar.removeAttribute("value");
        said.textContent = form.getAttribute("data-working") || "Sent. Working on it…";
      };
      xhr.onload = function () {
        // The server answers with the next page (the result, or the form with a sentence).
        if (xhr.responseURL && xhr.responseURL !== form.action) { window.location.assign(xhr.responseURL); return; }
        document.open(); document.write(xhr.responseText); document.close();
      };
      xhr.onerror = function () {
        said.textContent = "The connection failed before the server answered. Nothing was stored; try again.";
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      };
      xhr.send(new FormData(form));
    });
  });
})();
