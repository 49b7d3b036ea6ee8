// The frame every page shares: on a phone the menu and the filters start folded (one line
// each), so the page's first numbers are on the first screen; on a wider screen, and
// without JavaScript, they stay open.
(function () {
  "use strict";
  if (!window.matchMedia || !window.matchMedia("(max-width: 640px)").matches) return;
  document.querySelectorAll("details[data-fold-on-phone]").forEach(function (d) {
    d.removeAttribute("open");
  });
})();
