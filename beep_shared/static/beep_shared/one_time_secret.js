// The page showing a one-time secret answers a POST: put the object's own page in its place
// in the history, so that reload or back shows that page (without the secret) instead of
// posting the form again.
(function () {
  "use strict";
  var box = document.getElementById("beep-one-time");
  if (box && box.dataset.replaceUrl && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", box.dataset.replaceUrl);
  }
})();
