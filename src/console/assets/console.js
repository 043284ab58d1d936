// hookwall console: progressive enhancement only; every page works without this file.
// 1. <time datetime="…Z"> elements are rewritten into the viewer's time zone.
// 2. A page whose <main> has data-refresh="N" is fetched again every N seconds and its <main>
//    replaced (the overview uses it). Text is moved as DOM nodes parsed by DOMParser from the
//    server's own escaped HTML; nothing is evaluated.
(function () {
  "use strict";

  function localTimes(root) {
    var nodes = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) continue;
      node.title = node.getAttribute("datetime");
      node.textContent = when.toLocaleString(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
      });
    }
  }

  function refresh(main, seconds) {
    window.setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin", redirect: "follow" })
        .then(function (response) {
          if (response.redirected || !response.ok) {
            // The session ended: let the server send the browser where it belongs.
            window.location.reload();
            return null;
          }
          return response.text();
        })
        .then(function (text) {
          if (text === null) return;
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = doc.getElementById("main");
          if (fresh) {
            localTimes(fresh);
            main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
          }
          refresh(main, seconds);
        })
        .catch(function () { refresh(main, seconds); });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    var main = document.getElementById("main");
    var seconds = main && parseInt(main.getAttribute("data-refresh") || "", 10);
    if (main && seconds > 0) refresh(main, seconds);
  });
})();
