// The frame every page shares: on a phone the menu and the filters start folded (one line
// each), so the page's first numbers are on the first screen; on a wider screen, and
// without JavaScript, they stay open.
//
// A table or chart wider than the screen scrolls inside its box: such a box is told apart
// (a visible "scroll sideways" hint, and a focusable region named for screen readers) so
// no column is hidden without a sign, and a keyboard can scroll it.
(function () {
  "use strict";
  if (window.matchMedia && window.matchMedia("(max-width: 640px)").matches) {
    document.querySelectorAll("details[data-fold-on-phone]").forEach(function (d) {
      d.removeAttribute("open");
    });
  }
  var hint = document.body.dataset.scrollHint || "";
  function mark() {
    document.querySelectorAll(".table-wrap, .chart-scroll").forEach(function (box) {
      var wide = box.scrollWidth > box.clientWidth + 1;
      var note = box.previousElementSibling;
      var has = note && note.classList.contains("scroll-hint");
      if (wide && !has) {
        var p = document.createElement("p");
        p.className = "scroll-hint";
        p.textContent = hint;
        box.parentNode.insertBefore(p, box);
      } else if (!wide && has) {
        note.remove();
      }
      if (wide) {
        box.setAttribute("tabindex", "0");
        if (!box.getAttribute("role")) box.setAttribute("role", "region");
        if (!box.getAttribute("aria-label") && !box.getAttribute("aria-labelledby")) {
          var cap = box.querySelector("caption, figcaption") || box.closest("figure, section");
          var title = cap ? (cap.querySelector("h2, figcaption") || cap).textContent.trim() : "";
          box.setAttribute("aria-label", (title ? title + " — " : "") + hint);
        }
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
  document.addEventListener("toggle", mark, true);
})();
