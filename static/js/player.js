/* MusicMood player: shows the music the server chose for the listener's mood.
 *
 * Listens on `document` for `musicmood:message` (every server message; only `type: "playlist"`
 * matters here). Music changes only on a playlist message, and never cuts off what the
 * listener is playing: once they have interacted with the embed (focus moved into the Spotify
 * iframe), clicked a track, or chosen a mood by hand, a new playlist is offered with a
 * "Switch to <mood> music" button instead of being swapped in.
 * The Spotify iFrame API (which reports playback state) is remote JavaScript that cannot load
 * offline or in tests, so interaction stands in for "playing".
 */
(function () {
  "use strict";

  const root = document.getElementById("mm-player");
  if (!root) return;

  const $ = (id) => document.getElementById(id);
  const els = {
    reason: $("mm-player-reason"),
    degraded: $("mm-player-degraded"),
    switchBtn: $("mm-player-switch"),
    embed: $("mm-player-embed"),
    tracks: $("mm-player-tracks"),
    status: $("mm-player-status"),
    feedback: root.querySelectorAll("[data-feedback]"),
    moods: root.querySelectorAll("[data-mood]"),
  };

  const state = {
    current: null, // the playlist message playing now
    pending: null, // a newer playlist message waiting for the listener
    trackIndex: 0,
    engaged: false, // the listener interacted with what is playing
  };

  function csrfToken() {
    const input = root.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    }).then((response) =>
      response.json().then((body) => {
        if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
        return body;
      })
    );
  }

  function say(text) {
    els.status.textContent = text;
  }

  function setEmbed(url) {
    if (!url) {
      els.embed.hidden = true;
      els.embed.removeAttribute("src");
      return;
    }
    if (els.embed.getAttribute("src") !== url) els.embed.setAttribute("src", url);
    els.embed.hidden = false;
  }

  function formatMs(ms) {
    if (!ms) return "";
    const seconds = Math.round(ms / 1000);
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  function renderTracks(tracks) {
    els.tracks.replaceChildren();
    tracks.forEach((track, index) => {
      const item = document.createElement("li");
      item.className = "mm-player__track" + (index === state.trackIndex ? " is-current" : "");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.index = String(index);
      if (track.image) {
        const img = document.createElement("img");
        img.src = track.image;
        img.alt = "";
        img.width = 40;
        img.height = 40;
        button.appendChild(img);
      }
      const text = document.createElement("span");
      const artists = (track.artists || []).join(", ");
      text.textContent = (track.title || "Track " + (index + 1)) + (artists ? " — " + artists : "");
      button.appendChild(text);
      const length = formatMs(track.ms);
      if (length) {
        const time = document.createElement("time");
        time.textContent = length;
        button.appendChild(time);
      }
      item.appendChild(button);
      els.tracks.appendChild(item);
    });
  }

  function playTrack(index) {
    const tracks = (state.current && state.current.tracks) || [];
    if (index < 0 || index >= tracks.length) return false;
    state.trackIndex = index;
    setEmbed(tracks[index].embed_url);
    renderTracks(tracks);
    return true;
  }

  function apply(message) {
    state.current = message;
    state.pending = null;
    state.trackIndex = 0;
    state.engaged = false;
    els.switchBtn.hidden = true;
    root.dataset.mood = message.mood || "";
    root.dataset.mapping = message.mapping == null ? "" : String(message.mapping);
    els.reason.textContent = message.mapping == null
      ? "No music yet: " + message.reason + "."
      : "Playing " + message.mood + " music. Why: " + message.reason + ".";
    els.degraded.hidden = !message.degraded;
    els.degraded.textContent = message.degraded ? "Limited: " + message.degraded : "";
    setEmbed(message.embed_url);
    renderTracks(message.tracks || []);
    els.feedback.forEach((button) => (button.disabled = message.mapping == null));
    say("");
  }

  function offer(message) {
    state.pending = message;
    els.switchBtn.textContent = "Switch to " + message.mood + " music";
    els.switchBtn.hidden = false;
  }

  function receive(message) {
    const current = state.current;
    if (current && current.mapping === message.mapping && current.mood === message.mood) return;
    if (current && state.engaged) offer(message);
    else apply(message);
  }

  function detail(event) {
    const d = event.detail;
    if (!d) return null;
    return typeof d.type === "string" ? d : d.message || d.data || null;
  }

  document.addEventListener("musicmood:message", (event) => {
    const message = detail(event);
    if (message && message.type === "playlist") receive(message);
  });

  // Focus moving into the Spotify iframe means the listener pressed something in it.
  window.addEventListener("blur", () => {
    if (document.activeElement === els.embed) state.engaged = true;
  });

  els.switchBtn.addEventListener("click", () => {
    if (state.pending) apply(state.pending);
  });

  els.tracks.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-index]");
    if (button && playTrack(Number(button.dataset.index))) state.engaged = true;
  });

  els.feedback.forEach((button) =>
    button.addEventListener("click", () => {
      const current = state.current;
      if (!current || current.mapping == null) return;
      const action = button.dataset.feedback;
      post(root.dataset.feedbackUrl, { mapping: current.mapping, action: action })
        .then(() => {
          if (action === "skip") {
            say(playTrack(state.trackIndex + 1) ? "Skipped." : "Skipped (noted for the curator).");
          } else if (action === "not_my_mood") {
            say("Noted. Choose the mood you want below.");
            $("mm-player-override").classList.add("is-highlighted");
          } else {
            say("Thanks, noted.");
          }
        })
        .catch((error) => say("Could not send that: " + error.message));
    })
  );

  els.moods.forEach((button) =>
    button.addEventListener("click", () => {
      post(root.dataset.moodUrl, { mood: button.dataset.mood })
        .then((message) => {
          apply(message);
          state.engaged = true; // a hand-picked mood is not replaced by the camera's guess
          $("mm-player-override").classList.remove("is-highlighted");
        })
        .catch((error) => say("Could not change the mood: " + error.message));
    })
  );
})();
