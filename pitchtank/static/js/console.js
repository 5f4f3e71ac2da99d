/* The organizer's console: keeps the pitch on stage, the timer, the judges' status and the
   controls current without reloading. The page works fully without this file (reload it). */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var TICK_MS = 500;

  function $(root, selector) { return root.querySelector(selector); }
  function $all(root, selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }

  function setText(element, text) {
    if (element && element.textContent !== text) element.textContent = text;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : match;
    });
  }

  function formatSeconds(total) {
    total = Math.max(0, Math.floor(total));
    var minutes = Math.floor(total / 60);
    var seconds = total % 60;
    return minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
  }

  function Console(root) {
    this.root = root;
    this.url = root.dataset.statusUrl;
    var labels = document.getElementById("console-labels");
    this.labels = labels ? JSON.parse(labels.textContent) : {};
    this.timer = $(root, "[data-field=timer]");
    this.offsetMs = 0; // server clock minus this device's clock
    this.endsAt = null;
    this.pausedSeconds = null;
    this.status = root.dataset.sessionStatus || null;
    this.version = null;
    this.inFlight = false;
    this.readTimerFromPage();
  }

  Console.prototype.readTimerFromPage = function () {
    if (!this.timer) return;
    var serverTime = Date.parse(this.timer.dataset.serverTime || "");
    if (!isNaN(serverTime)) this.offsetMs = serverTime - Date.now();
    this.setTimer(this.timer.dataset.endsAt || null,
                  this.timer.dataset.pausedSeconds === "" ? null : Number(this.timer.dataset.pausedSeconds));
  };

  Console.prototype.setTimer = function (endsAt, pausedSeconds) {
    var parsed = endsAt ? Date.parse(endsAt) : NaN;
    this.endsAt = isNaN(parsed) ? null : parsed;
    this.pausedSeconds = pausedSeconds === null || pausedSeconds === undefined || isNaN(pausedSeconds) ? null : pausedSeconds;
    this.tick();
  };

  Console.prototype.tick = function () {
    if (!this.timer) return;
    var text;
    var remaining = null;
    if (this.pausedSeconds !== null) {
      remaining = this.pausedSeconds;
      text = formatSeconds(remaining) + " (" + (this.labels.paused || "paused") + ")";
    } else if (this.endsAt !== null) {
      remaining = (this.endsAt - (Date.now() + this.offsetMs)) / 1000;
      text = formatSeconds(remaining);
    } else {
      text = this.labels.no_timer || "—";
    }
    setText(this.timer, text);
    this.timer.classList.toggle("console-timer--paused", this.pausedSeconds !== null);
    this.timer.classList.toggle("console-timer--low", this.pausedSeconds === null && remaining !== null && remaining <= 30);
  };

  Console.prototype.setOnline = function (online) {
    var sync = $(this.root, "[data-field=sync]");
    if (!sync) return;
    setText(sync, online ? "" : (this.labels.offline || "Offline"));
    sync.classList.toggle("console-sync--offline", !online);
  };

  Console.prototype.poll = function () {
    var self = this;
    if (self.inFlight || document.hidden) return;
    self.inFlight = true;
    var sentAt = Date.now();
    window.fetch(self.url, {
      credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.redirected || response.status === 401 || response.status === 403 || type.indexOf("json") === -1) {
        // Logged out or no longer allowed: the page itself says what to do.
        window.location.reload();
        return null;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (payload) {
      if (!payload) return;
      var serverTime = Date.parse(payload.pitch_state.server_time || "");
      if (!isNaN(serverTime)) self.offsetMs = serverTime - (sentAt + Date.now()) / 2;
      self.setOnline(true);
      self.apply(payload);
    }).catch(function () {
      self.setOnline(false);
    }).then(function () {
      self.inFlight = false;
    });
  };

  Console.prototype.apply = function (payload) {
    var state = payload.pitch_state;
    if (this.status === null) this.status = state.status;
    if (state.status !== this.status) {
      // A new stage of the session shows other sections: reload, unless a reason is being typed.
      var reason = $(document, "#void textarea");
      if (!reason || !reason.value.trim()) {
        window.location.reload();
        return;
      }
    }
    this.applyStatus(state);
    this.applyCurrent(state);
    this.applyActions(payload.actions || []);
    this.applyJudges(payload.judge_status);
    this.applyPitches(payload.pitches || [], state);
  };

  Console.prototype.applyStatus = function (state) {
    var holder = $(this.root, "[data-field=status]");
    var badge = holder && $(holder, ".badge");
    if (badge) {
      badge.className = "badge badge--" + state.status;
      setText(badge, (this.labels.status || {})[state.status] || state.status);
    }
    var visibility = $(this.root, "[data-field=visibility]");
    if (visibility) {
      setText(visibility, state.leaderboard_public ? this.labels.visibility_public : this.labels.visibility_hidden);
    }
  };

  Console.prototype.applyCurrent = function (state) {
    var current = state.current_pitch;
    var box = $(this.root, "[data-field=current]");
    var none = $(this.root, "[data-field=no-current]");
    if (box) box.hidden = !current;
    if (none) none.hidden = !!current;
    if (!current) {
      this.setTimer(null, null);
      return;
    }
    setText($(this.root, "[data-field=position]"), String(current.position));
    setText($(this.root, "[data-field=venture]"), current.venture.name);
    setText($(this.root, "[data-field=phase]"), current.phase ? ((this.labels.phase || {})[current.phase] || current.phase) : "—");
    setText($(this.root, "[data-field=scoring]"), (this.labels.scoring || {})[current.scoring] || current.scoring);
    this.setTimer(current.phase_ends_at, current.paused_remaining_seconds);
  };

  Console.prototype.applyActions = function (actions) {
    $all(this.root, "form[data-action-form]").forEach(function (form) {
      var action = form.dataset.actionForm;
      var fits = actions.indexOf(action) !== -1;
      if (action === "show_leaderboard" || action === "hide_leaderboard") {
        form.hidden = !fits;
      } else {
        var button = $(form, "button");
        if (button) button.disabled = !fits;
      }
    });
  };

  Console.prototype.judgeState = function (state) {
    var span = document.createElement("span");
    if (!state) {
      span.className = "muted";
      span.textContent = "—";
      return span;
    }
    span.className = "judge-state judge-state--" + state;
    var icon = document.createElement("span");
    icon.className = "judge-state__icon";
    icon.setAttribute("aria-hidden", "true");
    span.appendChild(icon);
    span.appendChild(document.createTextNode((this.labels.judge || {})[state] || state));
    return span;
  };

  Console.prototype.applyJudges = function (status) {
    var self = this;
    if (!status) return;
    var counts = { scored: 0, missing: 0, recused: 0, voided: 0 };
    status.judges.forEach(function (judge) {
      if (Object.prototype.hasOwnProperty.call(counts, judge.current)) counts[judge.current] += 1;
      var row = $(self.root, "tr[data-judge-id='" + judge.id + "']");
      if (!row) return;
      var cell = $(row, "[data-field=judge-current]");
      if (cell && cell.dataset.state !== String(judge.current)) {
        cell.dataset.state = String(judge.current);
        cell.replaceChildren(self.judgeState(judge.current));
      }
      var progressCell = $(row, "[data-field=judge-progress]");
      if (progressCell) {
        var text = fill(self.labels.progress || "{scored}/{expected}", judge);
        if (progressCell.dataset.text !== text) {
          progressCell.dataset.text = text;
          var bar = document.createElement("progress");
          bar.max = judge.expected || 1;
          bar.value = judge.scored;
          bar.setAttribute("aria-hidden", "true");
          progressCell.replaceChildren(document.createTextNode(text + " "), bar);
        }
      }
    });
    setText($(self.root, "[data-field=summary]"), fill(self.labels.summary || "", counts));
  };

  Console.prototype.applyPitches = function (pitches, state) {
    var self = this;
    var currentId = state.current_pitch ? state.current_pitch.id : null;
    pitches.forEach(function (pitch) {
      var item = $(self.root, "li[data-pitch-id='" + pitch.id + "']");
      if (!item) return;
      if (pitch.id === currentId) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
      setText($(item, "[data-field=pitch-status]"), (self.labels.pitch_status || {})[pitch.status] || pitch.status);
      setText($(item, "[data-field=pitch-scoring]"), (self.labels.scoring || {})[pitch.scoring] || pitch.scoring);
      $all(item, "form[data-pitch-action]").forEach(function (form) {
        var action = form.dataset.pitchAction;
        form.hidden = pitch.actions.indexOf(action) === -1;
        if (action === "open_scoring") {
          setText($(form, "[data-label]"), pitch.scoring === "closed" ? self.labels.reopen : self.labels.open);
        }
      });
    });
  };

  Console.prototype.start = function () {
    var self = this;
    window.setInterval(function () { self.tick(); }, TICK_MS);
    window.setInterval(function () { self.poll(); }, POLL_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) self.poll();
    });
    self.poll();
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-console]");
    if (root && root.dataset.statusUrl && window.fetch) new Console(root).start();
  });
})();
