// Models page: Approve (approvers) and Promote (editors) buttons. Each is a POST to the REST API
// with the sign-in cookie and the X-Loopline-UI header; the registry decides (four eyes, gates):
// a refusal's message is shown as it came. After a success the page reloads to show the new
// state, and the result stays on screen across the reload.
(function () {
  "use strict";
  var FLASH = "loopline-models-flash";
  var message = document.getElementById("action-message");

  function show(text, good) {
    if (!message) return;
    message.textContent = text;
    message.className = "message " + (good ? "good" : "bad");
  }

  try {
    var flash = sessionStorage.getItem(FLASH);
    if (flash) {
      sessionStorage.removeItem(FLASH);
      show(flash, true);
    }
  } catch (e) { /* storage off: no flash */ }

  function act(button) {
    var name = button.dataset.model, version = button.dataset.version, alias = button.dataset.alias;
    var action = button.dataset.action;
    var path = "/api/v1/models/" + encodeURIComponent(name) + "/versions/" + encodeURIComponent(version) +
      "/" + action;
    button.disabled = true;
    fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Loopline-UI": "1" },
      body: JSON.stringify({ alias: alias, reason: "from the dashboard" })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          button.disabled = false;
          show("Refused (" + response.status + "): " + (data.message || response.statusText), false);
          return;
        }
        var done = action === "approve"
          ? "Approved " + name + " version " + version + " for " + alias + " (by " + data.actor + ")."
          : "Promoted " + name + " version " + version + " to " + alias + " (by " + data.actor + ").";
        try {
          sessionStorage.setItem(FLASH, done);
        } catch (e) {
          show(done, true);  // no storage: say it now, the reload shows the new state
        }
        window.location.reload();
      });
    }).catch(function (error) {
      button.disabled = false;
      show("Could not reach the server: " + error, false);
    });
  }

  document.querySelectorAll("button.model-action").forEach(function (button) {
    button.addEventListener("click", function () { act(button); });
  });
})();
