// The links the MLflow client prints ("View run at HOST/#/experiments/ID/runs/RUN_ID") and the
// MLflow UI's model links (#/models/NAME, #/models/NAME/versions/N) end in a hash fragment, which
// never reaches the server. This maps them to the loopline page: on the sign-in page into its
// hidden `next` field (sign in, then land there), anywhere else by replacing the location.
(function () {
  "use strict";

  function part(text) {
    try { return encodeURIComponent(decodeURIComponent(text)); } catch (e) { return null; }
  }

  function targetOf(hash) {
    var path = hash.replace(/^#/, "").replace(/^mlflow(?=\/)/, "").replace(/^\//, "").split("?")[0];
    var m = path.match(/^experiments\/(\d+)\/runs\/([A-Za-z0-9_-]+)\/?/);
    if (m) return "/runs/" + m[2];
    m = path.match(/^experiments\/(\d+)\/?$/);
    if (m) return "/runs?experiment=" + m[1];
    m = path.match(/^models\/([^/]+)\/versions\/(\d+)\/?$/);
    if (m) { var name = part(m[1]); return name && "/models/" + name + "/versions/" + m[2]; }
    m = path.match(/^models\/([^/]+)\/?$/);
    if (m) { var model = part(m[1]); return model && "/models/" + model; }
    return null;
  }

  var target = window.location.hash.length > 2 ? targetOf(window.location.hash) : null;
  if (!target) return;
  var next = document.querySelector("input[name=next]");
  if (next) {
    next.value = target;
    return;
  }
  window.location.replace(target);
})();
