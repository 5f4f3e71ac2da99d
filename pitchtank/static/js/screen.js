/* PitchTank live leaderboard. The server renders a complete page; this keeps it live.

   Live updates come over Server-Sent Events (events "pitch" and "leaderboard"). If the
   stream fails or is refused (503 while the server's live push is down, e.g. Redis is
   unreachable), the page polls the leaderboard every 2 s and the session every 5 s, both with
   their ETags so that unchanged data costs a 304, and tries the stream again after 10-20 s
   (spread out, so a room of phones does not return at once). The root element's
   data-live attribute says which mode is on ("stream" or "polling"). The ranking is only
   shown when the audience may see it, whoever is logged in. */
(function () {
  "use strict";

  var root = document.querySelector("[data-screen]");
  if (!root || !window.JSON) return;

  var BOARD_POLL_MS = 2000;
  var PITCH_POLL_MS = 5000;
  var STREAM_RETRY_MS = 10000;
  var STREAM_RETRY_JITTER_MS = 10000;
  var STREAM_ERRORS_BEFORE_POLLING = 3;
  var ANNOUNCE_GAP_MS = 15000;
  var ENDING_SECONDS = 30;

  var urls = {
    stream: root.dataset.streamUrl,
    board: root.dataset.leaderboardUrl,
    session: root.dataset.sessionUrl
  };
  var t = JSON.parse(root.dataset.strings);
  var initial = JSON.parse(root.dataset.state);
  var taglines = initial.taglines || {};
  var total = parseInt(root.dataset.total, 10) || 0;
  var manyRows = parseInt(root.dataset.many, 10) || 10;
  var motionQuery = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
  var scoreFormat = window.Intl && Intl.NumberFormat
    ? new Intl.NumberFormat(t.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 })
    : null;

  function $(selector) { return root.querySelector(selector); }
  var el = {
    now: $("[data-now]"),
    idle: $("[data-now-idle]"),
    position: $("[data-now-position]"),
    venture: $("[data-now-venture]"),
    tagline: $("[data-now-tagline]"),
    phase: $("[data-now-phase]"),
    timer: $("[data-now-timer]"),
    message: $("[data-board-message]"),
    table: $("[data-board-table]"),
    rows: $("[data-board-rows]"),
    results: $("[data-results-link]"),
    announcer: $("[data-announcer]"),
    vote: $("[data-vote]")
  };

  var pitch = initial.pitch;
  var board = initial.leaderboard;
  var skewMs = 0; // the server's clock minus this device's clock
  var leaderId = leaderOf(boardEntries());
  var lastAnnouncedAt = 0;
  var pendingAnnouncement = null;
  var source = null;
  var streamErrors = 0;
  var retryTimer = null;
  var polling = false;
  var boardTimer = null;
  var pitchTimer = null;
  var etag = null;
  var sessionEtag = null;

  // ---------- small helpers ----------
  function fmt(text, values) {
    return String(text || "").replace(/%\((\w+)\)s/g, function (match, key) {
      return values[key] === undefined || values[key] === null ? match : String(values[key]);
    });
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  function formatScore(value) {
    if (value === null || value === undefined) return "\u2014";
    return scoreFormat ? scoreFormat.format(value) : Number(value).toFixed(1);
  }

  function parseTime(value) {
    // Trim microseconds to milliseconds: every browser parses that form.
    return value ? Date.parse(String(value).replace(/(\.\d{3})\d+/, "$1")) : NaN;
  }

  function reduceMotion() { return !!(motionQuery && motionQuery.matches); }

  function parse(data) {
    try { return JSON.parse(data); } catch (error) { return null; }
  }

  // ---------- what the audience may see ----------
  function visible() {
    if (!pitch) return false;
    if (pitch.status === "published") return true;
    return (pitch.status === "live" || pitch.status === "ended") && !!pitch.leaderboard_public;
  }

  function boardEntries() {
    return visible() && board && !board.hidden ? board.entries || [] : [];
  }

  function leaderOf(entries) {
    var top = entries[0];
    return top && top.score !== null && top.score !== undefined ? top.pitch_id : null;
  }

  // ---------- the pitch on stage ----------
  function remainingSeconds() {
    var current = pitch && pitch.current_pitch;
    if (!current) return null;
    if (current.paused_remaining_seconds !== null && current.paused_remaining_seconds !== undefined) {
      return current.paused_remaining_seconds;
    }
    var ends = parseTime(current.phase_ends_at);
    if (isNaN(ends)) return null;
    return Math.max(0, Math.ceil((ends - (Date.now() + skewMs)) / 1000));
  }

  function renderTimer() {
    var seconds = remainingSeconds();
    var current = pitch && pitch.current_pitch;
    var paused = !!current && current.paused_remaining_seconds !== null && current.paused_remaining_seconds !== undefined;
    if (seconds === null) {
      setText(el.timer, "");
    } else {
      var minutes = Math.floor(seconds / 60);
      var rest = seconds % 60;
      setText(el.timer, minutes + ":" + (rest < 10 ? "0" : "") + rest);
    }
    el.timer.classList.toggle("is-ending", seconds !== null && !paused && seconds > 0 && seconds <= ENDING_SECONDS);
    el.timer.classList.toggle("is-over", seconds === 0 && !paused);
  }

  function renderPitch() {
    var current = pitch && pitch.current_pitch;
    el.now.hidden = !current;
    el.idle.hidden = !!current;
    if (current) {
      var changed = el.venture.textContent !== current.venture.name;
      setText(el.position, current.position ? fmt(t.position, { position: current.position, total: total }) : "");
      setText(el.venture, current.venture.name);
      var tagline = current.venture.tagline;
      if (tagline === undefined || tagline === null) tagline = taglines[String(current.id)] || "";
      setText(el.tagline, tagline);
      var paused = current.paused_remaining_seconds !== null && current.paused_remaining_seconds !== undefined;
      setText(el.phase, paused ? t.paused : (t.phases[current.phase] || ""));
      if (changed && !reduceMotion()) {
        el.now.classList.remove("is-entering");
        void el.now.offsetWidth; // restart the animation
        el.now.classList.add("is-entering");
      }
    } else {
      setText(el.idle, t.statuses[pitch.status] || "");
    }
    el.vote.hidden = pitch.status !== "live";
    el.results.hidden = pitch.status !== "published";
    renderTimer();
    markCurrentRow();
  }

  function markCurrentRow() {
    var current = pitch && pitch.current_pitch;
    var currentId = current ? String(current.id) : "";
    Array.prototype.forEach.call(el.rows.rows, function (row) {
      var onStage = row.dataset.pitchId === currentId;
      row.classList.toggle("is-current", onStage);
      var badge = row.querySelector(".ranking__stage");
      if (badge) badge.hidden = !onStage;
    });
  }

  // ---------- the ranking ----------
  function createRow(pitchId) {
    var row = document.createElement("tr");
    row.dataset.pitchId = String(pitchId);
    var rank = document.createElement("td");
    rank.className = "ranking__rank";
    var venture = document.createElement("th");
    venture.scope = "row";
    venture.className = "ranking__venture";
    var name = document.createElement("span");
    name.className = "ranking__name";
    var stage = document.createElement("span");
    stage.className = "ranking__stage";
    stage.hidden = true;
    stage.textContent = t.on_stage;
    venture.appendChild(name);
    venture.appendChild(document.createTextNode(" "));
    venture.appendChild(stage);
    var score = document.createElement("td");
    score.className = "num ranking__score";
    var judges = document.createElement("td");
    judges.className = "num ranking__judges";
    row.appendChild(rank);
    row.appendChild(venture);
    row.appendChild(score);
    row.appendChild(judges);
    return row;
  }

  function updateRow(row, entry, isNew) {
    var scored = entry.score !== null && entry.score !== undefined;
    // Flash a row only when a judge's score for it arrived: normalizing nudges every other
    // score a little, and a board that flickers everywhere tells nothing.
    var judged = String(entry.judges_scored);
    var newScore = !isNew && row.dataset.judgesScored !== judged;
    row.dataset.judgesScored = judged;
    setText(row.querySelector(".ranking__rank"), scored ? String(entry.rank) : "\u2014");
    setText(row.querySelector(".ranking__name"), entry.venture.name);
    setText(row.querySelector(".ranking__score"), formatScore(entry.score));
    setText(row.querySelector(".ranking__judges"),
      fmt(t.judges_of, { scored: entry.judges_scored, expected: entry.judges_expected }));
    row.classList.toggle("is-leader", entry.rank === 1 && scored);
    if (newScore && !reduceMotion()) {
      row.classList.remove("is-updated");
      void row.offsetWidth;
      row.classList.add("is-updated");
    }
  }

  function boardMessage(entries) {
    if (!pitch || pitch.status === "scheduled") return t.not_started;
    if (!visible() || !board || board.hidden) return t.hidden;
    if (!entries.length) return t.empty;
    return "";
  }

  function renderBoard() {
    var entries = boardEntries();
    var message = boardMessage(entries);
    var wasHidden = el.table.hidden;
    setText(el.message, message);
    el.message.hidden = !message;
    el.table.hidden = !!message;
    if (message) {
      // Nothing hidden may linger in the page, not even for screen readers.
      while (el.rows.firstChild) el.rows.removeChild(el.rows.firstChild);
      return;
    }
    el.table.classList.toggle("ranking--many", entries.length > manyRows);

    // FLIP: remember where each row was, reorder, then slide rows from there to their new place.
    var animate = !wasHidden && !reduceMotion();
    var existing = {};
    var before = {};
    Array.prototype.forEach.call(el.rows.rows, function (row) {
      existing[row.dataset.pitchId] = row;
      if (animate) before[row.dataset.pitchId] = row.getBoundingClientRect().top;
    });
    var keep = {};
    entries.forEach(function (entry, index) {
      var id = String(entry.pitch_id);
      var row = existing[id];
      var isNew = !row;
      if (isNew) row = createRow(id);
      updateRow(row, entry, isNew);
      keep[id] = row;
      if (el.rows.rows[index] !== row) el.rows.insertBefore(row, el.rows.rows[index] || null);
    });
    Object.keys(existing).forEach(function (id) {
      if (!keep[id]) el.rows.removeChild(existing[id]);
    });
    markCurrentRow();

    if (animate) {
      var moved = [];
      Object.keys(keep).forEach(function (id) {
        if (before[id] === undefined) return;
        var delta = before[id] - keep[id].getBoundingClientRect().top;
        if (Math.abs(delta) < 1) return;
        keep[id].style.transition = "none";
        keep[id].style.transform = "translateY(" + delta + "px)";
        moved.push(keep[id]);
      });
      if (moved.length) {
        void el.rows.offsetHeight; // apply the start positions before animating to the end
        window.requestAnimationFrame(function () {
          moved.forEach(function (row) {
            row.style.transition = "";
            row.style.transform = "";
          });
        });
      }
    }
    announceLeader(entries);
  }

  // ---------- announcements: only a new leader, and not too often ----------
  function announce(text) {
    lastAnnouncedAt = Date.now();
    el.announcer.textContent = "";
    window.setTimeout(function () { el.announcer.textContent = text; }, 50);
  }

  function announceLeader(entries) {
    var id = leaderOf(entries);
    if (id === null || id === leaderId) return;
    leaderId = id;
    var text = fmt(t.leader, { name: entries[0].venture.name });
    var wait = lastAnnouncedAt + ANNOUNCE_GAP_MS - Date.now();
    if (pendingAnnouncement) window.clearTimeout(pendingAnnouncement);
    pendingAnnouncement = null;
    if (wait <= 0) {
      announce(text);
    } else {
      pendingAnnouncement = window.setTimeout(function () {
        pendingAnnouncement = null;
        announce(text);
      }, wait);
    }
  }

  // ---------- applying updates ----------
  function onPitch(data, dateHeader) {
    if (!data) return;
    if (pitch && typeof data.version === "number" && typeof pitch.version === "number" && data.version < pitch.version) {
      return; // an older state than the one shown
    }
    if (data.server_time) {
      var server = parseTime(data.server_time);
      if (!isNaN(server)) skewMs = server - Date.now();
    } else if (dateHeader) {
      var approx = Date.parse(dateHeader) - Date.now(); // whole seconds only: use for big skews
      if (!isNaN(approx) && Math.abs(approx - skewMs) > 2000) skewMs = approx;
    }
    var wasVisible = visible();
    pitch = data;
    renderPitch();
    if (visible() !== wasVisible) {
      renderBoard();
      if (visible()) {
        // Showing the board again changes no score, so no leaderboard event follows: fetch it.
        fetchBoard(false);
        if (!source) connect();
      }
    }
  }

  function onBoard(data) {
    if (!data) return;
    if (board && typeof data.version === "number" && typeof board.version === "number" && data.version < board.version) {
      return;
    }
    board = data;
    renderBoard();
  }

  // ---------- the stream ----------
  function connect() {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    if (!window.EventSource) {
      startPolling();
      return;
    }
    if (source) source.close();
    streamErrors = 0;
    var stream = new EventSource(urls.stream);
    source = stream;
    stream.addEventListener("open", function () {
      if (source !== stream) return;
      streamErrors = 0;
      stopPolling();
      root.dataset.live = "stream";
    });
    stream.addEventListener("pitch", function (event) {
      streamErrors = 0;
      onPitch(parse(event.data));
    });
    stream.addEventListener("leaderboard", function (event) {
      streamErrors = 0;
      onBoard(parse(event.data));
    });
    stream.addEventListener("error", function () {
      if (source !== stream) return;
      streamErrors += 1;
      // CLOSED: refused (hidden board, 403) or broken. Otherwise the browser reconnects by
      // itself (the server ends every stream after a few minutes); poll if that keeps failing.
      if (stream.readyState === 2 || streamErrors >= STREAM_ERRORS_BEFORE_POLLING) fallBack();
    });
  }

  function fallBack() {
    if (source) source.close();
    source = null;
    startPolling();
    window.clearTimeout(retryTimer);
    retryTimer = window.setTimeout(connect, STREAM_RETRY_MS + Math.random() * STREAM_RETRY_JITTER_MS);
  }

  // ---------- polling ----------
  function startPolling() {
    if (polling) return;
    polling = true;
    root.dataset.live = "polling";
    pollBoard();
    pollPitch();
  }

  function stopPolling() {
    polling = false;
    window.clearTimeout(boardTimer);
    window.clearTimeout(pitchTimer);
  }

  function fetchBoard(conditional) {
    var headers = { Accept: "application/json" };
    if (conditional && etag) headers["If-None-Match"] = etag;
    return window.fetch(urls.board, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 304) return null;
        if (response.status === 403) {
          return { hidden: true, entries: [], version: board ? board.version : 0 };
        }
        if (!response.ok) return null;
        etag = response.headers.get("ETag");
        return response.json();
      })
      .then(onBoard)
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  function pollBoard() {
    window.clearTimeout(boardTimer);
    if (!polling) return;
    var next = function () { if (polling) boardTimer = window.setTimeout(pollBoard, BOARD_POLL_MS); };
    // While the board is hidden there is nothing to fetch; the session poll sees it reappear.
    if (!visible() || !window.fetch) { next(); return; }
    fetchBoard(true).then(next);
  }

  function fromSession(data) {
    var current = data.current_pitch;
    var slot = null;
    (data.pitches || []).forEach(function (p) { if (current && p.id === current.id) slot = p; });
    return {
      session_id: data.id,
      status: data.status,
      leaderboard_public: data.leaderboard_public,
      current_pitch: current ? {
        id: current.id,
        position: slot ? slot.position : null,
        venture: { id: slot ? slot.venture.id : null, name: slot ? slot.venture.name : "" },
        phase: current.phase,
        phase_ends_at: current.phase_ends_at,
        paused_remaining_seconds: current.paused_remaining_seconds,
        scoring: current.scoring
      } : null
    };
  }

  function pollPitch() {
    window.clearTimeout(pitchTimer);
    if (!polling) return;
    var next = function () { if (polling) pitchTimer = window.setTimeout(pollPitch, PITCH_POLL_MS); };
    if (!window.fetch) { next(); return; }
    var headers = { Accept: "application/json" };
    if (sessionEtag) headers["If-None-Match"] = sessionEtag;
    window.fetch(urls.session, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 304 || !response.ok) return null;
        sessionEtag = response.headers.get("ETag");
        var date = response.headers.get("Date");
        return response.json().then(function (data) { onPitch(fromSession(data), date); });
      })
      .catch(function () { /* try again at the next tick */ })
      .then(next);
  }

  // ---------- start ----------
  window.setInterval(renderTimer, 500);
  if (pitch && pitch.server_time) {
    var server = parseTime(pitch.server_time);
    if (!isNaN(server)) skewMs = server - Date.now();
  }
  renderTimer();
  connect();
})();
