/* PitchTank: the judges' tablet.
 *
 * Offline first. Every choice goes to localStorage at once and is marked pending; a queue
 * PUTs the newest sheet of each pitch and keeps retrying until the server has it. Each
 * revision carries a client_seq that only grows (Date.now()-based, and always above what
 * the server holds), so a resend is stored once and a stale one never wins.
 * The stage is followed by polling state.json with If-None-Match (see tablet.py for why).
 */
(function () {
  "use strict";

  var root = document.getElementById("tablet");
  if (!root) return;

  var T = readJSON("tablet-i18n") || {};
  var initialState = readJSON("tablet-state");
  var sessionId = root.dataset.sessionId;
  var storageKey = "pitchtank:tablet:" + sessionId + ":" + root.dataset.judgeId;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.content : "";
  var lang = root.dataset.lang || document.documentElement.lang || "es-MX";

  var MIN_RETRY = 1000;
  var MAX_RETRY = 10000;
  var REQUEST_TIMEOUT = 8000;
  var COMMENT_DEBOUNCE = 600;

  var el = {
    form: byId("score-form"), comment: byId("comment"), status: byId("save-status"),
    progress: byId("progress"), recuse: byId("recuse"), dialog: byId("recuse-dialog"),
    reason: byId("recuse-reason"), recuseQuestion: byId("recuse-question"),
    recuseError: byId("recuse-error"), recuseConfirm: byId("recuse-confirm"),
    waiting: byId("waiting"), waitingDetail: byId("waiting-detail"), now: byId("now"),
    position: byId("now-position"), name: byId("now-name"), tagline: byId("now-tagline"),
    phase: byId("phase"), timer: byId("timer"), timerNote: byId("timer-note"), deck: byId("deck-link"),
    otherOpen: byId("other-open"), otherList: byId("other-open-list"), otherItem: byId("other-open-item"),
    viewingOther: byId("viewing-other"), viewingOtherText: byId("viewing-other-text"),
    backToStage: byId("back-to-stage"), connection: byId("connection"), notice: byId("notice"),
    announce: byId("announce")
  };
  var fieldsets = Array.prototype.slice.call(el.form.querySelectorAll("[data-criterion]"));

  var state = null;          // the last state.json
  var etag = null;
  var clockOffset = 0;       // server time minus this device's time, in ms
  var chosenPitchId = null;  // an earlier pitch the judge chose to revise, or null to follow the stage
  var viewedPitchId = null;
  var shownCurrentId = null;
  var fetchedPitches = {};   // pitch ids whose server copy was read since the page loaded
  var sending = false;
  var sendFailures = 0;
  var retryTimer = null;
  var commentTimer = null;
  var pollTimer = null;
  var online = true;
  var sessionProblem = null; // "logged_out" | "expired": shown until a request works again

  // ---------- helpers ----------
  function byId(id) { return document.getElementById(id); }

  function readJSON(id) {
    var node = byId(id);
    try { return node ? JSON.parse(node.textContent) : null; } catch (error) { return null; }
  }

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (match, name) {
      return values[name] === undefined ? match : String(values[name]);
    });
  }

  function request(method, url, body, extraHeaders) {
    var headers = { "Accept": "application/json", "Accept-Language": lang };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    Object.keys(extraHeaders || {}).forEach(function (name) { headers[name] = extraHeaders[name]; });
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT) : null;
    return fetch(url, {
      method: method, headers: headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      window.clearTimeout(timer);
      // A page route answers a lost login with a redirect to the login form.
      if (response.redirected && /\/login/.test(response.url)) return { status: 401, data: null, response: response };
      if (response.status === 304) return { status: 304, data: null, response: response };
      return response.json().then(
        function (data) { return { status: response.status, data: data, response: response }; },
        function () { return { status: response.status, data: null, response: response }; }
      );
    }, function (error) {
      window.clearTimeout(timer);
      throw error;
    });
  }

  function scoresUrl(pitchId) { return root.dataset.scoresUrl.replace("{id}", pitchId); }

  function problemText(data, fallback) {
    if (!data) return fallback;
    var errors = data.errors ? Object.keys(data.errors).map(function (k) { return data.errors[k].join(" "); }) : [];
    return [data.detail || fallback].concat(errors).join(" ");
  }

  function timeOfDay(iso) {
    var when = iso ? new Date(iso) : new Date();
    try {
      return when.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit",
        hour12: false, timeZone: "America/Mexico_City" });
    } catch (error) {
      return when.toLocaleTimeString();
    }
  }

  // ---------- the device's copy: {pitchId: {scores, comment, clientSeq, serverSeq, pending, savedAt, blocked}} ----------
  var memoryStore = {};

  function loadStore() {
    try {
      var raw = window.localStorage.getItem(storageKey);
      return raw ? JSON.parse(raw) || {} : {};
    } catch (error) {
      return memoryStore;
    }
  }

  var store = loadStore();

  function persist() {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify(store));
    } catch (error) {
      memoryStore = store; // private mode or a full disk: keep going in memory
    }
  }

  function entryFor(pitchId) {
    var key = String(pitchId);
    if (!store[key]) {
      store[key] = { scores: {}, comment: "", clientSeq: 0, serverSeq: 0, pending: false, savedAt: null, blocked: null };
    }
    return store[key];
  }

  // Strictly increasing per judge and pitch, across reloads, and above the server's copy.
  function nextSeq(entry) {
    return Math.max(Date.now(), entry.clientSeq + 1, entry.serverSeq + 1);
  }

  function pendingCount() {
    return Object.keys(store).filter(function (id) { return store[id].pending && !store[id].blocked; }).length;
  }

  // ---------- state of the session ----------
  function pitchById(id) {
    if (!state || id === null || id === undefined) return null;
    for (var i = 0; i < state.pitches.length; i++) {
      if (state.pitches[i].id === id) return state.pitches[i];
    }
    return null;
  }

  function isRecused(pitchId) { return !!state && state.recused_pitch_ids.indexOf(pitchId) >= 0; }
  function isVoided(pitchId) { return !!state && state.voided_pitch_ids.indexOf(pitchId) >= 0; }

  function scoringOf(pitchId) {
    var pitch = pitchById(pitchId);
    return pitch ? pitch.scoring : "not_opened";
  }

  function canEdit(pitchId) {
    return pitchId !== null && scoringOf(pitchId) === "open" && !isRecused(pitchId) && !isVoided(pitchId) &&
      state.status !== "published";
  }

  function applyState(next, receivedAt) {
    var previous = state;
    state = next;
    clockOffset = Date.parse(next.server_time) - receivedAt;
    if (previous && previous.rubric !== next.rubric) showNotice(T.rubric_changed);

    next.pitches.forEach(function (pitch) {
      var entry = store[String(pitch.id)];
      if (!entry || !entry.blocked) return;
      var before = previous ? (previous.pitches.filter(function (p) { return p.id === pitch.id; })[0] || {}).scoring : null;
      // Scoring (re)opened after unsent scores bounced off it, or the page was reloaded:
      // let the server judge them once more.
      var retry = entry.blocked === "conflict" ? pitch.scoring === "open" && before !== "open"
        : entry.blocked === "forbidden" && !previous;
      if (retry) { entry.blocked = null; entry.error = null; }
    });
    next.recused_pitch_ids.forEach(function (id) {
      var entry = store[String(id)];
      if (entry && entry.pending) { entry.pending = false; entry.blocked = "recused"; }
    });
    persist();

    var currentId = next.current_pitch ? next.current_pitch.id : null;
    if (currentId !== shownCurrentId) {
      shownCurrentId = currentId;
      chosenPitchId = null; // a new pitch on stage: follow it
      if (next.current_pitch) announce(fill(T.now_pitching, { venture: next.current_pitch.venture.name }));
    }
    if (chosenPitchId !== null && scoringOf(chosenPitchId) !== "open") chosenPitchId = null;
    render();
    flushSoon();
  }

  function poll() {
    window.clearTimeout(pollTimer);
    var sentAt = Date.now();
    var headers = etag ? { "If-None-Match": etag } : {};
    request("GET", root.dataset.stateUrl, undefined, headers).then(function (result) {
      setOnline(true);
      if (result.status === 401 || result.status === 403) {
        sessionProblem = result.status === 401 ? "logged_out" : "not_judge";
        renderStatus();
      } else if (result.status === 200 && result.data) {
        sessionProblem = sessionProblem === "expired" ? sessionProblem : null;
        etag = result.response.headers.get("ETag");
        // The server's clock read halfway through the round trip.
        applyState(result.data, (sentAt + Date.now()) / 2);
      } else if (result.status === 304) {
        sessionProblem = sessionProblem === "expired" ? sessionProblem : null;
      }
    }, function () {
      setOnline(false);
    }).then(schedulePoll, schedulePoll);
  }

  function schedulePoll() {
    window.clearTimeout(pollTimer);
    var seconds = (state && state.poll_seconds) || 2;
    // A sleeping tablet need not poll; it catches up the moment it wakes.
    pollTimer = window.setTimeout(poll, document.hidden ? seconds * 5000 : seconds * 1000);
  }

  function setOnline(value) {
    if (online === value) return;
    online = value;
    el.connection.hidden = value;
    root.classList.toggle("is-offline", !value);
    if (value) {
      flushNow();
      if (viewedPitchId !== null) reconcile(viewedPitchId); // a no-op unless the last read failed
    }
    renderStatus();
  }

  // ---------- the server's copy of one sheet ----------
  function reconcile(pitchId) {
    if (fetchedPitches[pitchId] || isRecused(pitchId)) return;
    fetchedPitches[pitchId] = true;
    request("GET", scoresUrl(pitchId)).then(function (result) {
      if (result.status !== 200 || !result.data) {
        if (result.status >= 500 || result.status === 401) fetchedPitches[pitchId] = false;
        return;
      }
      adoptServer(pitchId, result.data);
      persist();
      if (pitchId === viewedPitchId) renderForm();
      renderStatus();
      flushSoon();
    }, function () {
      fetchedPitches[pitchId] = false; // offline: read it again once the connection is back
      setOnline(false);
    });
  }

  /* Merge what the server holds. Its copy wins when its client_seq is newer than ours; a
   * pending local revision that is newer stays pending and is (re)sent. */
  function adoptServer(pitchId, data) {
    var entry = entryFor(pitchId);
    var serverSeq = data.client_seq || 0;
    entry.serverSeq = Math.max(entry.serverSeq, serverSeq);
    if (serverSeq > entry.clientSeq) {
      entry.scores = data.scores || {};
      entry.comment = data.comment || "";
      entry.clientSeq = serverSeq;
      entry.pending = false;
      entry.savedAt = data.updated_at;
      entry.blocked = null;
      entry.error = null;
    } else if (serverSeq > 0 && serverSeq === entry.clientSeq) {
      entry.pending = false; // stored already: only the answer to the last send was lost
      entry.savedAt = data.updated_at;
    } else if (!entry.pending && entry.clientSeq > serverSeq && Object.keys(entry.scores).length) {
      entry.pending = true; // the device remembers a revision the server lacks: send it again
    }
    return entry;
  }

  // ---------- the send queue ----------
  function nextPending() {
    var ids = Object.keys(store).filter(function (id) { return store[id].pending && !store[id].blocked; });
    if (viewedPitchId !== null && ids.indexOf(String(viewedPitchId)) > 0) {
      ids.splice(ids.indexOf(String(viewedPitchId)), 1);
      ids.unshift(String(viewedPitchId));
    }
    return ids.length ? Number(ids[0]) : null;
  }

  function flushSoon() { window.setTimeout(flush, 0); }

  function flushNow() {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    sendFailures = 0;
    flush();
  }

  function retryLater() {
    sendFailures += 1;
    var delay = Math.min(MIN_RETRY * Math.pow(2, sendFailures - 1), MAX_RETRY);
    window.clearTimeout(retryTimer);
    retryTimer = window.setTimeout(function () { retryTimer = null; flush(); }, delay);
  }

  function flush() {
    if (sending || retryTimer) return;
    var pitchId = nextPending();
    if (pitchId === null) { renderStatus(); return; }
    var entry = entryFor(pitchId);
    var sentSeq = entry.clientSeq;
    sending = true;
    renderStatus();
    var body = { scores: entry.scores, comment: entry.comment, client_seq: sentSeq };
    request("PUT", scoresUrl(pitchId), body).then(function (result) {
      sending = false;
      var ok = handlePut(pitchId, sentSeq, result);
      persist();
      setOnline(true);
      if (pitchId === viewedPitchId) renderForm();
      renderStatus();
      if (ok) { sendFailures = 0; flush(); } else { retryLater(); renderStatus(); }
    }, function () {
      sending = false;
      setOnline(false);
      retryLater();
      renderStatus();
    });
  }

  /* Apply the answer to one PUT; false when it is worth retrying later. */
  function handlePut(pitchId, sentSeq, result) {
    var entry = entryFor(pitchId);
    var status = result.status;
    if (status === 200 && result.data) {
      sessionProblem = null;
      var serverSeq = result.data.client_seq || 0;
      if (serverSeq > sentSeq) {
        adoptServer(pitchId, result.data); // a newer revision from elsewhere: the server wins
      } else if (serverSeq === sentSeq) {
        entry.serverSeq = Math.max(entry.serverSeq, serverSeq);
        entry.savedAt = result.data.updated_at;
        entry.blocked = null;
        if (entry.clientSeq === sentSeq) entry.pending = false; // otherwise a newer edit waits its turn
      } else {
        return false; // never expected: the server holds less than it confirmed; try again later
      }
      return true;
    }
    if (status === 409) {
      // Scoring closed, or the organizer voided the sheet: stop until scoring opens again.
      entry.blocked = "conflict";
      entry.error = problemText(result.data, T.closed_unsent);
      etag = null; // the next poll tells which
      return true;
    }
    if (status === 403) {
      entry.blocked = "forbidden";
      entry.error = problemText(result.data, T.forbidden);
      return true;
    }
    if (status === 422 || status === 404) {
      entry.blocked = "invalid";
      entry.error = problemText(result.data, T.invalid);
      return true;
    }
    if (status === 401) sessionProblem = "logged_out";
    else if (status === 400) sessionProblem = "expired"; // the CSRF token no longer matches the login
    return false; // 5xx, 429 and the like: keep it pending and try again
  }

  // ---------- the judge's input ----------
  function edit(change) {
    if (viewedPitchId === null || !canEdit(viewedPitchId)) return;
    var entry = entryFor(viewedPitchId);
    change(entry);
    entry.clientSeq = nextSeq(entry);
    entry.pending = true;
    if (entry.blocked === "invalid") { entry.blocked = null; entry.error = null; }
    persist();
  }

  el.form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type !== "radio" || !/^score-/.test(input.name)) return;
    var key = input.closest("[data-criterion]").dataset.criterion;
    edit(function (entry) { entry.scores[key] = parseInt(input.value, 10); });
    renderProgress();
    renderStatus();
    flushSoon();
  });

  el.comment.addEventListener("input", function () {
    var value = el.comment.value;
    edit(function (entry) { entry.comment = value; }); // on the device at once; sent after a pause
    renderStatus();
    window.clearTimeout(commentTimer);
    commentTimer = window.setTimeout(flush, COMMENT_DEBOUNCE);
  });
  el.comment.addEventListener("blur", function () { window.clearTimeout(commentTimer); flush(); });
  el.form.addEventListener("submit", function (event) { event.preventDefault(); });

  window.addEventListener("online", function () { setOnline(true); flushNow(); poll(); });
  window.addEventListener("offline", function () { setOnline(false); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { flushNow(); poll(); } });

  el.backToStage.addEventListener("click", function () { chosenPitchId = null; render(); });

  // ---------- conflict of interest ----------
  el.recuse.addEventListener("click", function () {
    var pitch = pitchById(viewedPitchId);
    if (!pitch) return;
    el.recuseQuestion.textContent = fill(T.recuse_question, { venture: pitch.venture.name });
    el.reason.value = "";
    el.recuseError.hidden = true;
    el.dialog.dataset.pitchId = String(pitch.id);
    if (typeof el.dialog.showModal === "function") {
      el.dialog.showModal();
    } else if (window.confirm(el.recuseQuestion.textContent)) {
      sendRecusal(pitch.id, "");
    }
  });

  el.recuseConfirm.addEventListener("click", function (event) {
    event.preventDefault(); // keep the dialog open until the server has answered
    sendRecusal(Number(el.dialog.dataset.pitchId), el.reason.value);
  });

  function sendRecusal(pitchId, reason) {
    el.recuseConfirm.disabled = true;
    var url = root.dataset.recusalUrl.replace("{id}", pitchId);
    request("POST", url, { reason: reason }).then(function (result) {
      el.recuseConfirm.disabled = false;
      if (result.status === 201 || result.status === 409) {
        if (state.recused_pitch_ids.indexOf(pitchId) < 0) state.recused_pitch_ids.push(pitchId);
        var entry = entryFor(pitchId);
        entry.pending = false;
        entry.blocked = "recused";
        persist();
        if (el.dialog.open) el.dialog.close("done");
        etag = null; // the next poll brings the server's view
        render();
      } else {
        el.recuseError.textContent = problemText(result.data, T.recuse_failed);
        el.recuseError.hidden = false;
      }
    }, function () {
      el.recuseConfirm.disabled = false;
      el.recuseError.textContent = T.recuse_failed;
      el.recuseError.hidden = false;
    });
  }

  // ---------- rendering ----------
  function announce(text) {
    el.announce.textContent = "";
    window.setTimeout(function () { el.announce.textContent = text; }, 50);
  }

  function showNotice(text) {
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  function render() {
    if (!state) return;
    var current = state.current_pitch;
    viewedPitchId = chosenPitchId !== null ? chosenPitchId : (current ? current.id : null);
    renderStage(current);
    renderOtherOpen();
    el.form.hidden = viewedPitchId === null || fieldsets.length === 0;
    el.form.dataset.pitchId = viewedPitchId === null ? "" : String(viewedPitchId);
    var other = viewedPitchId !== null && (!current || viewedPitchId !== current.id);
    el.viewingOther.hidden = !other;
    if (viewedPitchId === null) el.recuse.hidden = el.recuse.disabled = true;
    if (other) el.viewingOtherText.textContent = fill(T.earlier_pitch, { venture: pitchById(viewedPitchId).venture.name });
    el.backToStage.hidden = !current;
    if (viewedPitchId !== null) reconcile(viewedPitchId);
    renderForm();
    renderStatus();
  }

  function renderStage(current) {
    el.now.hidden = !current;
    el.waiting.hidden = !!current;
    if (!current) {
      var detail = { scheduled: T.not_started, ended: T.ended, published: T.published }[state.status] || "";
      el.waitingDetail.textContent = detail;
      return;
    }
    el.position.textContent = fill(T.position, { position: current.position, total: state.total_pitches });
    el.name.textContent = current.venture.name;
    el.tagline.textContent = current.venture.tagline || "";
    el.phase.textContent = current.phase ? T["phase_" + current.phase] || current.phase : "";
    el.phase.className = "badge phase phase--" + (current.phase || "none");
    var deckUrl = current.deck_url;
    el.deck.hidden = !deckUrl;
    if (deckUrl) el.deck.href = deckUrl;
    tick();
  }

  function renderOtherOpen() {
    var current = state.current_pitch;
    var others = state.pitches.filter(function (p) {
      return p.scoring === "open" && (!current || p.id !== current.id) && p.id !== viewedPitchId && !isRecused(p.id);
    });
    el.otherOpen.hidden = others.length === 0;
    el.otherList.textContent = "";
    others.forEach(function (pitch) {
      var item = el.otherItem.content.firstElementChild.cloneNode(true);
      var button = item.querySelector("button");
      button.textContent = pitch.position + ". " + pitch.venture.name;
      button.dataset.pitchId = String(pitch.id);
      button.addEventListener("click", function () { chosenPitchId = pitch.id; render(); el.form.scrollIntoView(); });
      el.otherList.appendChild(item);
    });
  }

  function renderForm() {
    if (viewedPitchId === null) return;
    var entry = store[String(viewedPitchId)] || { scores: {}, comment: "" };
    var editable = canEdit(viewedPitchId);
    fieldsets.forEach(function (fieldset) {
      var key = fieldset.dataset.criterion;
      var chosen = entry.scores[key];
      fieldset.querySelectorAll("input[type=radio]").forEach(function (input) {
        input.checked = chosen !== undefined && Number(input.value) === chosen;
        input.disabled = !editable;
      });
      fieldset.classList.toggle("criterion--done", chosen !== undefined);
    });
    // Never overwrite what the judge is typing.
    if (document.activeElement !== el.comment || el.form.dataset.renderedPitch !== String(viewedPitchId)) {
      el.comment.value = entry.comment || "";
    }
    el.form.dataset.renderedPitch = String(viewedPitchId);
    el.comment.disabled = !editable;
    el.form.classList.toggle("rubric--locked", !editable);
    el.recuse.hidden = isRecused(viewedPitchId);
    el.recuse.disabled = isRecused(viewedPitchId) || state.status === "published";
    renderProgress();
  }

  function renderProgress() {
    if (viewedPitchId === null || isRecused(viewedPitchId)) { el.progress.textContent = ""; return; }
    var entry = store[String(viewedPitchId)] || { scores: {} };
    var weighted = fieldsets.filter(function (f) { return Number(f.dataset.weight) > 0; });
    var done = weighted.filter(function (f) { return entry.scores[f.dataset.criterion] !== undefined; }).length;
    el.progress.textContent = fill(T.progress, { done: done, total: weighted.length });
  }

  function renderStatus() {
    var text = "";
    var kind = "idle";
    var pitchId = viewedPitchId;
    var entry = pitchId === null ? null : store[String(pitchId)];
    var pending = pendingCount();
    if (pitchId === null) {
      if (pending) { kind = "pending"; text = fill(T.pending, { n: pending }); }
    } else if (isRecused(pitchId) || (entry && entry.blocked === "recused")) {
      kind = "recused"; text = T.recused;
    } else if (isVoided(pitchId) || (entry && entry.blocked === "voided")) {
      kind = "voided"; text = T.voided;
    } else if (entry && entry.pending && entry.blocked === "conflict") {
      kind = "closed"; text = scoringOf(pitchId) === "open" ? entry.error : T.closed_unsent;
    } else if (entry && entry.pending && entry.blocked) {
      kind = "error"; text = entry.error || T.invalid;
    } else if (entry && entry.pending) {
      kind = "pending";
      text = sending && online && sendFailures === 0 ? T.saving : fill(T.pending, { n: pending });
    } else {
      var scoring = scoringOf(pitchId);
      var saved = entry && entry.savedAt ? fill(T.saved, { time: timeOfDay(entry.savedAt) }) : "";
      if (scoring === "open") { kind = saved ? "saved" : "open"; text = saved || T.open; }
      else if (scoring === "closed") { kind = "closed"; text = saved ? T.closed + " · " + saved : T.closed; }
      else { kind = "not-open"; text = T.not_open; }
      if (pending && kind !== "closed") text += " · " + fill(T.pending, { n: pending });
    }
    if (sessionProblem) { kind = "error"; text = T[sessionProblem] + (text ? " · " + text : ""); }
    if (el.status.textContent !== text) el.status.textContent = text;
    el.status.dataset.state = kind;
    root.dataset.pending = String(pending);
  }

  // ---------- the timer ----------
  function tick() {
    var current = state && state.current_pitch;
    if (!current) return;
    var seconds = null;
    var note = "";
    if (current.paused_remaining_seconds !== null && current.paused_remaining_seconds !== undefined) {
      seconds = current.paused_remaining_seconds;
      note = T.paused;
    } else if (current.phase_ends_at) {
      seconds = Math.ceil((Date.parse(current.phase_ends_at) - (Date.now() + clockOffset)) / 1000);
      if (seconds <= 0) { seconds = 0; note = T.time_up; }
    }
    el.timer.hidden = seconds === null; // scoring has no timer
    var text = seconds === null ? "" : Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    if (el.timer.textContent !== text) el.timer.textContent = text;
    if (el.timerNote.textContent !== note) el.timerNote.textContent = note;
    el.timer.classList.toggle("timer--paused", note === T.paused);
    el.timer.classList.toggle("timer--low", seconds !== null && seconds <= 30 && note !== T.paused);
  }

  // ---------- start: the device's copy first, then the server's ----------
  if (initialState) applyState(initialState, Date.now());
  window.setInterval(tick, 250);
  flushNow();
  schedulePoll();
})();
