// Audio and video calls: the call buttons, the incoming-call dialog and the in-call grid.
// Browsers connect to each other directly (a mesh of RTCPeerConnections); the server only
// relays the signalling frames over /ws/ (docs/realtime.md, "Calls"). Whoever joins a call
// makes the offers to everyone already in it, so two people never offer to each other.

import { get, getAll } from "./api.js";
import { callInviteDialog } from "./dialogs.js";
import { el, initials } from "./format.js";
import { icon } from "./icons.js";
import { conversationName, emit, on, state, userName } from "./store.js";

const SPEAKING_LEVEL = 0.04;  // RMS of the waveform above which someone counts as speaking
const SPEAKING_HOLD_MS = 500;  // keeps the indicator steady between syllables
const METER_EVERY_MS = 60;  // with 2048-sample windows (~43 ms) this hears nearly everything
// Errors that answer a call.start or call.accept: the call we were setting up is off.
const SETUP_ERRORS = new Set(["too_many_participants", "busy", "call_in_progress", "nobody_to_call",
  "not_found", "not_a_member", "forbidden", "archived", "invalid", "rate_limited", "call_ended",
  "not_ringing", "already_joined", "call_full"]);

export class CallManager {
  constructor(socket) {
    this.socket = socket;
    this.call = null;           // the call we are in (or starting): {id, conversation, media}
    this.starting = false;      // call.start or call.accept sent, not yet answered
    this.ringing = null;        // the incoming call shown in the dialog
    this.local = null;          // our camera and microphone
    this.screen = null;         // the screen we share
    this.peers = new Map();     // user id -> {pc, stream, tile, pending: [candidates]}
    this.muted = false;
    this.cameraOff = false;
    this.audioContext = null;
    this.meters = new Map();    // user id -> {analyser, data}
    this.iceConfig = null;
    this.joinable = null;       // a call going on in the open conversation that we are not in
    this.build();
    on("frame", (frame) => this.receive(frame));
    window.addEventListener("beforeunload", () => { if (this.call) this.socket.send({ type: "call.leave", call: this.call.id }); });
  }

  // --- The page parts ---

  build() {
    this.audioButton = document.getElementById("call-audio-button");
    this.videoButton = document.getElementById("call-video-button");
    this.joinButton = document.getElementById("call-join-button");
    this.audioButton.addEventListener("click", () => this.start("audio"));
    this.videoButton.addEventListener("click", () => this.start("video"));
    this.joinButton.addEventListener("click", () => this.join());

    this.incoming = el("section", { class: "call-incoming", id: "call-incoming", role: "alertdialog",
      "aria-labelledby": "call-incoming-title", "aria-describedby": "call-incoming-detail", hidden: true });
    document.body.append(this.incoming);

    this.status = el("p", { class: "call-status", id: "call-status", role: "status", "aria-live": "polite" });
    this.grid = el("div", { class: "call-grid", id: "call-grid" });
    this.muteButton = el("button", { type: "button", class: "call-control", id: "call-mute", "aria-pressed": "false",
      "aria-label": "Mute microphone", title: "Mute microphone", onclick: () => this.toggleMute() }, icon("mic"));
    this.cameraButton = el("button", { type: "button", class: "call-control", id: "call-camera", "aria-pressed": "false",
      "aria-label": "Turn camera off", title: "Turn camera off", onclick: () => this.toggleCamera() }, icon("video"));
    this.screenButton = el("button", { type: "button", class: "call-control", id: "call-screen", "aria-pressed": "false",
      "aria-label": "Share your screen", title: "Share your screen", onclick: () => this.toggleScreen() }, icon("monitor"));
    this.leaveButton = el("button", { type: "button", class: "call-control call-leave", id: "call-leave",
      "aria-label": "Leave the call", onclick: () => this.hangUp() }, icon("hang-up"), " Leave");
    this.title = el("h2", { class: "call-title", id: "call-title" }, "Call");
    this.overlay = el("section", { class: "call-overlay", id: "call-overlay", "aria-labelledby": "call-title", hidden: true },
      el("header", { class: "call-header" }, this.title, this.status),
      this.grid,
      el("div", { class: "call-controls", role: "toolbar", "aria-label": "Call controls" },
        this.muteButton, this.cameraButton, this.screenButton, this.leaveButton));
    document.body.append(this.overlay);
  }

  // Show the call buttons where one can call: conversations one belongs to, not archived.
  // Where a call is going on without us, a Join button takes their place.
  drawButtons(conversation) {
    if (this.drawStartButtons(conversation) && !this.call) this.findJoinable(conversation.id);
  }

  drawStartButtons(conversation) {
    const canCall = Boolean(conversation && conversation.is_member && !conversation.archived);
    this.audioButton.hidden = !canCall;
    this.videoButton.hidden = !canCall;
    this.showJoin(null);
    return canCall;
  }

  async findJoinable(conversationId) {
    const asked = this.joinVersion;
    let calls;
    try {
      calls = (await get(`conversations/${conversationId}/calls/`)).results;
    } catch {
      return;  // offline or gone: the start buttons stay
    }
    // A call.status that arrived meanwhile is newer than this answer.
    if (state.current !== conversationId || this.call || this.joinVersion !== asked) return;
    const going = calls.find((call) => call.state === "active"
      && !call.participants.some((p) => p.user === state.me.id && p.state === "joined"));
    this.showJoin(going || null);
  }

  showJoin(call) {
    this.joinVersion = (this.joinVersion || 0) + 1;
    this.joinable = call;
    this.joinButton.hidden = !call;
    if (!call) return;
    const count = call.participants.filter((p) => p.state === "joined").length;
    const kind = call.media === "video" ? "video call" : "audio call";
    this.joinButton.textContent = `Join the ${kind} (${count} in it)`;
    this.joinButton.setAttribute("aria-label", `Join the ${kind} going on here, ${count} in it`);
    this.audioButton.hidden = true;
    this.videoButton.hidden = true;
  }

  redrawButtons() {
    this.drawButtons(state.conversations.get(state.current));
  }

  // --- Frames from the server ---

  receive(frame) {
    switch (frame.type) {
      case "call.started": return this.started(frame.call);
      case "call.ring": return this.ring(frame.call);
      case "call.ring_stopped": return this.ringStopped(frame);
      case "call.accepted": return this.accepted(frame.call);
      case "call.participant": return this.participantChanged(frame);
      case "call.signal": return this.signal(frame);
      case "call.media": return this.mediaChanged(frame);
      case "call.ended": return this.ended(frame);
      case "call.status": return this.statusChanged(frame);
      case "error":
        if (this.starting && SETUP_ERRORS.has(frame.code)) {
          this.starting = false;
          this.teardown();
          this.redrawButtons();
        }
        return null;
      default: return null;
    }
  }

  started(call) {
    this.starting = false;
    this.call = { id: call.id, conversation: call.conversation, media: call.media };
    const others = call.participants.filter((p) => p.user !== state.me.id && p.state === "ringing");
    this.say(others.length ? `Ringing ${others.map((p) => userName(p.user)).join(", ")}…` : "Calling…");
    for (const participant of call.participants) {
      if (participant.user !== state.me.id && participant.state === "ringing") this.tile(participant.user, "Ringing…");
    }
  }

  ring(call) {
    if (this.call || this.ringing) return;  // in a call, or already deciding on one
    this.ringing = call;
    const conversation = state.conversations.get(call.conversation);
    const caller = call.caller;
    const avatar = el("span", { class: "avatar call-avatar", "aria-hidden": "true" });
    if (caller.avatar_url) avatar.append(el("img", { src: caller.avatar_url, alt: "" }));
    else avatar.textContent = initials(caller.display_name);
    const kind = call.media === "video" ? "video call" : "audio call";
    const where = conversation && conversation.kind !== "direct" ? ` in #${conversationName(conversation)}` : "";
    this.incoming.replaceChildren(
      avatar,
      el("div", { class: "call-incoming-text" },
        el("h2", { id: "call-incoming-title" }, caller.display_name),
        el("p", { id: "call-incoming-detail" }, `is calling you: ${kind}${where}`)),
      el("div", { class: "call-incoming-actions" },
        el("button", { type: "button", class: "call-decline", id: "call-decline",
          "aria-label": `Decline the ${kind} from ${caller.display_name}`, onclick: () => this.decline() }, "Decline"),
        el("button", { type: "button", class: "primary call-accept", id: "call-accept",
          "aria-label": `Accept the ${kind} from ${caller.display_name}`, onclick: () => this.accept() }, "Accept")));
    this.incoming.hidden = false;
    this.incoming.querySelector("#call-accept").focus();
  }

  ringStopped(frame) {
    // A call one declined or missed may still be going on: offer to join it.
    if (!this.call && !this.starting) this.redrawButtons();
    if (!this.ringing || this.ringing.id !== frame.call) return;
    const caller = this.ringing.caller.display_name;
    this.closeIncoming();
    if (frame.reason === "missed") emit("toast", { text: `You missed a call from ${caller}.` });
    else if (frame.reason === "answered_elsewhere") emit("toast", { text: "You answered the call in another window." });
  }

  // A call in one of our conversations started, changed or ended (call.status).
  statusChanged(frame) {
    if (frame.conversation !== state.current || this.call || this.starting) return;
    if (this.ringing && this.ringing.id === frame.call) return;  // the incoming dialog offers it
    if (frame.state === "active" && !frame.joined.includes(state.me.id)) {
      this.showJoin({ id: frame.call, conversation: frame.conversation, media: frame.media, state: frame.state,
        participants: frame.joined.map((user) => ({ user, state: "joined" })) });
    } else if (this.joinable && this.joinable.id === frame.call) {
      this.drawStartButtons(state.conversations.get(state.current));
    }
  }

  accepted(call) {
    this.starting = false;
    this.call = { id: call.id, conversation: call.conversation, media: call.media };
    this.say("Connecting…");
    for (const participant of call.participants) {
      if (participant.user === state.me.id || participant.state !== "joined") continue;
      this.offerTo(participant.user);
      this.showMedia(participant.user, participant);
    }
  }

  participantChanged(frame) {
    if (!this.call || frame.call !== this.call.id) return;
    const { user, state: participantState } = frame.participant;
    if (participantState === "joined") {
      this.peer(user);  // they will send us an offer
      this.showMedia(user, frame.participant);
      this.say(`${userName(user)} joined.`);
      return;
    }
    this.dropPeer(user);
    const how = { left: frame.dropped ? "lost their connection" : "left", declined: "declined", missed: "did not answer", busy: "is busy" };
    this.say(`${userName(user)} ${how[participantState] || participantState}.`);
  }

  ended(frame) {
    if (this.ringing && this.ringing.id === frame.call) {
      this.closeIncoming();
      if (frame.reason === "missed") emit("toast", { text: `You missed a call from ${this.lastCaller}.` });
    }
    if (!this.call || this.call.id !== frame.call) return;
    this.teardown();
    this.redrawButtons();
    emit("toast", { text: frame.detail });
  }

  // --- Starting, answering, leaving ---

  async start(media) {
    if (this.call || this.starting) { emit("toast", { text: "You are already in a call." }); return; }
    const conversation = state.conversations.get(state.current);
    if (!conversation) return;
    let invite;
    try {
      invite = await this.chooseInvitees(conversation, media);
    } catch (error) {
      emit("toast", { text: `Cannot start the call: ${error.message}` });
      return;
    }
    if (invite === null) return;  // cancelled
    const problem = await this.enter(conversation, media, "Calling…",
      { type: "call.start", conversation: conversation.id, media, ...(invite ? { invite } : {}) });
    if (problem) emit("toast", { text: `Cannot start the call: ${problem}` });
  }

  // Open the camera and microphone, show the call and send `frame` (call.start or
  // call.accept); its answer (call.started, call.accepted or an error) does the rest. On
  // failure everything is undone and the reason returned.
  async enter(conversation, media, status, frame) {
    this.starting = true;
    let problem = null;
    try {
      await this.prepare(media);
      this.showOverlay(conversation, media);
      this.say(status);
      if (!this.socket.send(frame)) problem = "you are offline; try again when the connection is back.";
    } catch (error) {
      problem = error.message;
    }
    if (problem) {
      this.starting = false;
      this.teardown();
      this.redrawButtons();
    }
    return problem;
  }

  // In a channel with more people than a call holds, ask whom to ring: undefined rings
  // everyone, null means the caller cancelled.
  async chooseInvitees(conversation, media) {
    if (conversation.kind === "direct") return undefined;
    if (!this.iceConfig) this.iceConfig = await get("calls/ice-servers/");
    const max = this.iceConfig.max_participants - 1;
    const members = (await getAll(`conversations/${conversation.id}/members/?limit=200`)).filter((member) =>
      member.user !== state.me.id && !member.is_bot && state.users.get(member.user)?.is_active !== false);
    if (members.length <= max) return undefined;
    return callInviteDialog({ conversation, members, max, media });
  }

  async accept() {
    const call = this.ringing;
    if (!call) return;
    this.closeIncoming();
    const problem = await this.enter(state.conversations.get(call.conversation), call.media, "Connecting…",
      { type: "call.accept", call: call.id });
    if (!problem) return;
    this.socket.send({ type: "call.decline", call: call.id });  // stop it ringing for nothing
    emit("toast", { text: `Cannot answer the call: ${problem}` });
  }

  // Join a call going on in the open conversation (rung for it or not): call.accept.
  async join() {
    const call = this.joinable;
    if (!call || this.call || this.starting) return;
    this.showJoin(null);
    const problem = await this.enter(state.conversations.get(call.conversation), call.media, "Joining…",
      { type: "call.accept", call: call.id });
    if (problem) emit("toast", { text: `Cannot join the call: ${problem}` });
  }

  decline() {
    if (!this.ringing) return;
    this.socket.send({ type: "call.decline", call: this.ringing.id });
    this.closeIncoming();
  }

  hangUp() {
    if (this.call) this.socket.send({ type: "call.leave", call: this.call.id });
    this.teardown();  // the others may talk on: their call.status brings the Join button back
  }

  closeIncoming() {
    if (this.ringing) this.lastCaller = this.ringing.caller.display_name;
    this.ringing = null;
    this.incoming.hidden = true;
    this.incoming.replaceChildren();
  }

  async prepare(media) {
    if (!this.iceConfig) this.iceConfig = await get("calls/ice-servers/");
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === "video" });
    this.muted = false;
    this.cameraOff = media !== "video";
    this.audioContext = this.audioContext || new AudioContext();
    if (this.audioContext.state === "suspended") this.audioContext.resume().catch(() => {});
  }

  showOverlay(conversation, media) {
    this.title.textContent = `${media === "video" ? "Video" : "Audio"} call · ${conversation ? conversationName(conversation) : ""}`;
    this.grid.replaceChildren();
    const mine = this.tile(state.me.id, "You");
    const video = mine.querySelector("video");
    video.muted = true;  // never play our own microphone back
    video.srcObject = this.local;
    video.play().catch(() => {});
    this.meter(state.me.id, this.local);
    this.drawControls();
    this.overlay.hidden = false;
    this.leaveButton.focus();
  }

  teardown() {
    for (const userId of [...this.peers.keys()]) this.dropPeer(userId);
    for (const stream of [this.local, this.screen]) stream?.getTracks().forEach((track) => track.stop());
    this.local = null;
    this.screen = null;
    this.call = null;
    this.meters.clear();
    this.grid.replaceChildren();
    this.overlay.hidden = true;
  }

  say(text) {
    this.status.textContent = text;
  }

  // --- Peer connections ---

  peer(userId) {
    let peer = this.peers.get(userId);
    if (peer) return peer;
    const pc = new RTCPeerConnection({ iceServers: this.iceConfig?.ice_servers || [] });
    peer = { pc, stream: new MediaStream(), pending: [] };
    this.peers.set(userId, peer);
    const tile = this.tile(userId, userName(userId));
    const video = tile.querySelector("video");
    video.srcObject = peer.stream;
    pc.addEventListener("icecandidate", (event) => {
      if (event.candidate && this.call) {
        this.socket.send({ type: "call.signal", call: this.call.id, to: userId, candidate: event.candidate.toJSON() });
      }
    });
    pc.addEventListener("track", (event) => {
      peer.stream.addTrack(event.track);
      video.play().catch(() => {});
      if (event.track.kind === "audio") this.meter(userId, peer.stream);
    });
    pc.addEventListener("connectionstatechange", () => {
      tile.dataset.connection = pc.connectionState;
      if (pc.connectionState === "connected") this.say("Connected.");
      if (pc.connectionState === "failed") this.say(`Could not connect to ${userName(userId)}.`);
    });
    return peer;
  }

  // Our tracks on a peer's two transceivers (audio, video); a missing camera leaves the
  // video sender empty, so sharing the screen later needs no renegotiation.
  attachLocal(pc) {
    const audio = this.local?.getAudioTracks()[0] || null;
    const video = this.screen?.getVideoTracks()[0] || this.local?.getVideoTracks()[0] || null;
    const transceivers = pc.getTransceivers();
    const audioTransceiver = transceivers.find((t) => t.receiver.track.kind === "audio");
    const videoTransceiver = transceivers.find((t) => t.receiver.track.kind === "video");
    if (audioTransceiver) { audioTransceiver.direction = "sendrecv"; audioTransceiver.sender.replaceTrack(audio); }
    else pc.addTransceiver(audio || "audio", { direction: "sendrecv" });
    if (videoTransceiver) { videoTransceiver.direction = "sendrecv"; videoTransceiver.sender.replaceTrack(video); }
    else pc.addTransceiver(video || "video", { direction: "sendrecv" });
  }

  async offerTo(userId) {
    const { pc } = this.peer(userId);
    this.attachLocal(pc);
    await pc.setLocalDescription(await pc.createOffer());
    this.socket.send({ type: "call.signal", call: this.call.id, to: userId, description: pc.localDescription.toJSON() });
  }

  async signal(frame) {
    if (!this.call || frame.call !== this.call.id) return;
    const peer = this.peer(frame.from);
    const { pc } = peer;
    try {
      if (frame.description) {
        await pc.setRemoteDescription(frame.description);
        if (frame.description.type === "offer") {
          this.attachLocal(pc);
          await pc.setLocalDescription(await pc.createAnswer());
          this.socket.send({ type: "call.signal", call: this.call.id, to: frame.from, description: pc.localDescription.toJSON() });
        }
        for (const candidate of peer.pending.splice(0)) await pc.addIceCandidate(candidate);
      } else if (frame.candidate) {
        if (pc.remoteDescription) await pc.addIceCandidate(frame.candidate);
        else peer.pending.push(frame.candidate);
      }
    } catch (error) {
      console.warn("call signalling failed", error);
      this.say(`Could not connect to ${userName(frame.from)}.`);
    }
  }

  dropPeer(userId) {
    const peer = this.peers.get(userId);
    if (peer) peer.pc.close();
    this.peers.delete(userId);
    this.meters.delete(userId);
    this.grid.querySelector(`[data-user="${userId}"]`)?.remove();
  }

  // All our RTCPeerConnections (the browser tests read their statistics).
  peerConnections() {
    return [...this.peers.values()].map((peer) => peer.pc);
  }

  // --- The grid ---

  tile(userId, label) {
    let tile = this.grid.querySelector(`[data-user="${userId}"]`);
    if (tile) return tile;
    const user = state.users.get(userId);
    const avatar = el("span", { class: "avatar call-tile-avatar", "aria-hidden": "true" });
    if (user?.avatar_url) avatar.append(el("img", { src: user.avatar_url, alt: "" }));
    else avatar.textContent = initials(user?.display_name || label);
    tile = el("figure", { class: "call-tile", dataset: { user: String(userId), speaking: "false", muted: "false", video: "true" } },
      el("video", { autoplay: true, playsinline: true }),
      avatar,
      el("figcaption", { class: "call-tile-name" },
        el("span", { class: "call-tile-label" }, userId === state.me.id ? "You" : userName(userId)),
        el("span", { class: "call-tile-state" }, userId === state.me.id ? "" : label === userName(userId) ? "" : label)));
    this.grid.append(tile);
    return tile;
  }

  showMedia(userId, media) {
    const tile = this.tile(userId, userName(userId));
    tile.dataset.muted = String(!media.audio);
    tile.dataset.video = String(Boolean(media.video || media.screen));
    tile.dataset.screen = String(Boolean(media.screen));
    const flags = [!media.audio ? "muted" : "", media.screen ? "sharing their screen" : ""].filter(Boolean);
    tile.querySelector(".call-tile-state").textContent = flags.join(", ");
  }

  mediaChanged(frame) {
    if (!this.call || frame.call !== this.call.id) return;
    this.showMedia(frame.user, frame);
  }

  // Speaking indicators: an analyser on each stream's audio, sampled a few times a second.
  meter(userId, stream) {
    if (!this.audioContext || !stream.getAudioTracks().length || this.meters.has(userId)) return;
    const analyser = this.audioContext.createAnalyser();
    analyser.fftSize = 2048;
    this.audioContext.createMediaStreamSource(stream).connect(analyser);
    this.meters.set(userId, { analyser, data: new Uint8Array(analyser.fftSize), heardAt: -Infinity });
    if (!this.metering) this.metering = setInterval(() => this.sampleLevels(), METER_EVERY_MS);
  }

  sampleLevels() {
    if (!this.meters.size) { clearInterval(this.metering); this.metering = null; return; }
    const now = performance.now();
    for (const [userId, meter] of this.meters) {
      meter.analyser.getByteTimeDomainData(meter.data);
      let sum = 0;
      for (const value of meter.data) sum += ((value - 128) / 128) ** 2;
      const silenced = userId === state.me.id && this.muted;
      if (Math.sqrt(sum / meter.data.length) > SPEAKING_LEVEL && !silenced) meter.heardAt = now;
      const tile = this.grid.querySelector(`[data-user="${userId}"]`);
      if (tile) tile.dataset.speaking = String(now - meter.heardAt < SPEAKING_HOLD_MS);
    }
  }

  // --- Controls ---

  drawControls() {
    const draw = (button, pressed, label) => {
      button.setAttribute("aria-pressed", String(pressed));
      button.setAttribute("aria-label", label);
      button.title = label;
    };
    draw(this.muteButton, this.muted, this.muted ? "Unmute microphone" : "Mute microphone");
    this.muteButton.replaceChildren(icon(this.muted ? "mic-off" : "mic"));
    draw(this.cameraButton, this.cameraOff, this.cameraOff ? "Turn camera on" : "Turn camera off");
    draw(this.screenButton, Boolean(this.screen), this.screen ? "Stop sharing your screen" : "Share your screen");
    const mine = this.grid.querySelector(`[data-user="${state.me.id}"]`);
    if (mine) this.showMedia(state.me.id, this.mediaState());
  }

  mediaState() {
    return { audio: !this.muted, video: !this.cameraOff, screen: Boolean(this.screen) };
  }

  announceMedia() {
    this.drawControls();
    if (this.call) this.socket.send({ type: "call.media", call: this.call.id, ...this.mediaState() });
  }

  toggleMute() {
    this.muted = !this.muted;
    for (const track of this.local?.getAudioTracks() || []) track.enabled = !this.muted;
    this.announceMedia();
  }

  async toggleCamera() {
    if (!this.local) return;
    let track = this.local.getVideoTracks()[0];
    if (!track && this.cameraOff) {
      try {
        const camera = await navigator.mediaDevices.getUserMedia({ video: true });
        track = camera.getVideoTracks()[0];
        this.local.addTrack(track);
      } catch (error) {
        emit("toast", { text: `Cannot turn the camera on: ${error.message}` });
        return;
      }
    }
    this.cameraOff = !this.cameraOff;
    if (track) track.enabled = !this.cameraOff;
    if (!this.screen) this.replaceVideo(this.cameraOff ? null : track);
    this.announceMedia();
  }

  async toggleScreen() {
    if (this.screen) { this.stopScreen(); return; }
    try {
      this.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
    } catch (error) {
      if (error.name !== "NotAllowedError") emit("toast", { text: `Cannot share the screen: ${error.message}` });
      return;
    }
    const track = this.screen.getVideoTracks()[0];
    track.addEventListener("ended", () => this.stopScreen());
    this.replaceVideo(track);
    this.announceMedia();
  }

  stopScreen() {
    if (!this.screen) return;
    this.screen.getTracks().forEach((track) => track.stop());
    this.screen = null;
    const camera = this.local?.getVideoTracks()[0] || null;
    this.replaceVideo(this.cameraOff ? null : camera);
    this.announceMedia();
  }

  replaceVideo(track) {
    for (const { pc } of this.peers.values()) {
      const transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
      if (transceiver) transceiver.sender.replaceTrack(track);
    }
    const mine = this.grid.querySelector(`[data-user="${state.me.id}"] video`);
    if (mine) mine.srcObject = track ? new MediaStream([track]) : this.local;
  }
}
