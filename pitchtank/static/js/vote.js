/* PitchTank People's Choice: send the vote to the API and answer inline.

   Without this file the form posts to the page, which works the same way. The server decides
   who has voted (by account or by a browser cookie); localStorage only remembers, for display,
   that this browser voted. */
(function () {
  "use strict";

  var form = document.querySelector("form[data-vote-form]");
  if (!form || !window.fetch || !window.JSON) return;

  var status = document.getElementById(form.dataset.status);
  var storageKey = "pitchtank:peoples-choice:" + form.dataset.sessionId;
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var token = tokenMeta ? tokenMeta.getAttribute("content") : "";
  var lastClicked = null;
  var busy = false;

  function buttons() { return form.querySelectorAll('button[name="pitch_id"]'); }

  function nameOf(button) {
    var name = button.querySelector(".vote-button__name");
    return name ? name.textContent.trim() : "";
  }

  function fill(text, name) { return String(text || "").replace("%(name)s", name); }

  function say(message, kind) {
    if (!status) return;
    status.className = "vote-status vote-status--" + kind;
    status.textContent = "";
    // A fresh text node is announced even when the same message repeats.
    window.setTimeout(function () {
      status.textContent = message;
      if (status.scrollIntoView) status.scrollIntoView({ block: "nearest" });
    }, 50);
  }

  function remembered() {
    try { return JSON.parse(window.localStorage.getItem(storageKey) || "null"); } catch (error) { return null; }
  }

  function remember(pitchId, name) {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify({ pitch_id: pitchId, name: name, at: Date.now() }));
    } catch (error) { /* private mode or full: the server still knows */ }
  }

  function setBusy(on) {
    busy = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    Array.prototype.forEach.call(buttons(), function (button) { button.disabled = on; });
  }

  function close(chosen) {
    Array.prototype.forEach.call(buttons(), function (button) {
      button.disabled = true;
      var isChosen = chosen === button;
      button.classList.toggle("is-chosen", isChosen);
      var mark = button.querySelector(".vote-button__mark");
      if (mark) mark.hidden = !isChosen;
    });
    form.setAttribute("aria-busy", "false");
  }

  // What the server said when the page was drawn wins; otherwise show what this browser remembers.
  var chosenButton = form.querySelector(".vote-button.is-chosen");
  if (form.dataset.voted === "1") {
    if (chosenButton) remember(parseInt(chosenButton.value, 10), nameOf(chosenButton));
  } else {
    var earlier = remembered();
    if (earlier && earlier.name) say(fill(form.dataset.remembered, earlier.name), "info");
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest('button[name="pitch_id"]') : null;
    if (button) lastClicked = button;
  });

  form.addEventListener("submit", function (event) {
    var button = event.submitter || lastClicked;
    if (!button || button.name !== "pitch_id") return; // let the browser post the form
    event.preventDefault();
    if (busy) return;
    var pitchId = parseInt(button.value, 10);
    var name = nameOf(button);
    setBusy(true);
    say(form.dataset.sending, "info");
    window.fetch(form.dataset.apiUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Language": form.dataset.lang,
        "X-CSRFToken": token
      },
      body: JSON.stringify({ pitch_id: pitchId })
    }).then(function (response) {
      if (response.status === 201) {
        remember(pitchId, name);
        close(button);
        say(fill(form.dataset.thanks, name), "success");
        return null;
      }
      return response.json().catch(function () { return {}; }).then(function (problem) {
        var detail = problem && problem.detail;
        if (response.status === 409) {
          // Already voted, or voting has closed: either way no vote can be cast here now.
          close(null);
          say(detail || form.dataset.already, "error");
        } else if (response.status === 400) {
          setBusy(false);
          say(form.dataset.expired, "error");
        } else {
          setBusy(false);
          say(detail || form.dataset.failed, "error");
        }
      });
    }).catch(function () {
      setBusy(false);
      say(form.dataset.failed, "error");
    });
  });
})();
