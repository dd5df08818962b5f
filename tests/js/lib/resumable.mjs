// A resumable craft session (docs/protocol.md §3.1, §3.2), written from that page and
// proto/craft.proto alone, on top of the plain connections of client.mjs.
//
// One ResumableClient is one session; it outlives its connections ("links"). It counts the
// sequenced messages both ways (the numbers are not on the wire), acks what it received,
// keeps what it sent until the server acks it, and after a lost link says hello on a new
// one with the resume token and last_seq, then resends what the server had not received.
// Requests keep their cids and promises across a resume: the reply is either replayed by
// the server or comes after the resend.
import { Client, CraftError, Endpoint, TcpClient } from "./client.mjs";

// §3.2 "Every envelope is sequenced except hello, welcome, ping, pong, ack and disconnect".
const LINK_LEVEL = ["hello", "welcome", "ping", "pong", "ack", "disconnect"];
// A JSON envelope may carry fields this client does not know; only a link-level body
// makes it unsequenced, so an unknown new body is counted like any other message.
export const isSequenced = (m) => !LINK_LEVEL.some((k) => m[k] !== undefined);

// §3.2 "Held": a session is held when its connection "ends without a goodbye (EOF, reset, a
// server close 4001 for silence)". Any other close the server starts comes with a
// disconnect envelope of another code and ends the session (craftd: 4002, 4003, 1009...
// end it too), so only a link lost without a disconnect, or with 4001, is resumed.
const resumableLoss = (code) => code === null || code === 1006 || code === 4001;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class ResumableClient extends Endpoint {
  // where: a ws:// URL for transport "ws", a port (and options.host) for transport "tcp".
  // format: "json" (text frames) or "binary" (protobuf); TCP is always binary.
  // ackEvery / ackDelayMs: §3.2 "Ack at least every 64 messages or 500 ms".
  // acks: false makes a client that never acks (tests of the replay buffer bound).
  // answerServerPings: false makes a TCP client that ignores the server's pings (§3 item 5).
  // autoResume: after a lost link, resume on a new one with backoff until the window ends.
  constructor(where, { transport = "ws", host = "127.0.0.1", format = "json", ackEvery = 64, ackDelayMs = 500,
    acks = true, answerServerPings = true, autoResume = false, wsOptions = {}, tlsOptions = null } = {}) {
    super();
    this.where = where;
    this.transport = transport;
    this.host = host;
    this.format = transport === "tcp" ? "binary" : format;
    this.ackEvery = ackEvery;
    this.ackDelayMs = ackDelayMs;
    this.acks = acks;
    this.answerServerPings = answerServerPings;
    this.autoResume = autoResume;
    this.wsOptions = wsOptions;    // wss:// against a test certificate: { ca }
    this.tlsOptions = tlsOptions;  // TLS on the TCP port: { ca, servername }

    this.link = null;          // the current connection (a Client or TcpClient), or null while cut
    this.gen = 0;              // bumped per link: messages from an abandoned link are ignored
    this.welcomed = false;     // the current link carries the session (after welcome)
    this.ended = false;        // goodbye said, or the server refused to resume
    this.resumeToken = "";
    this.resumeWindowMs = 0;
    this.received = 0;         // sequenced server messages received, over every link
    this.ackSent = 0;          // the highest seq this client acked
    this.sent = 0;             // sequenced client messages numbered (sent or waiting to be)
    this.serverAcked = 0;      // the highest seq the server acked
    this.unacked = [];         // [{seq, envelope}] sent (or waiting), not yet acked by the server
    this.ackTimer = null;
    this.deaf = false;         // test hook: drop what arrives, as a network losing it would
    this.serverPings = 0;      // server pings answered (TCP)
    this.stats = { resumes: 0, resent: 0, acksSent: 0, piggybacked: 0 };
    this.lastResume = null;    // {helloLastSeq, welcomeLastSeq, resent}
    this.linkLost = null;      // a promise, resolved with the close code when the current link ends
    this.violations = [];      // server answers that contradict docs/protocol.md §3.2
  }

  // Opens a new connection; the session is not on it until a welcome.
  async connect() {
    const link = this.transport === "tcp" ? new TcpClient(this.where, this.host, this.tlsOptions)
      : new Client(this.where, { format: this.format, wsOptions: this.wsOptions });
    const gen = ++this.gen;
    link.receive = (m) => this.fromLink(gen, link, m);
    await link.connect();
    this.link = link;
    this.welcomed = false;
    this.disconnect = null;
    this.linkLost = link.closed.then(() => this.onLinkClosed(gen, link));
    return this;
  }

  // A fresh resumable session on the current link (§3.1): counters start over.
  async hello(name, extra = {}) {
    this.ended = false;
    this.received = this.ackSent = this.sent = this.serverAcked = 0;
    this.unacked = [];
    this.resumeToken = "";
    const m = await this.request({ hello: { protocolVersion: 1, name, resumable: true, ...extra } });
    return m.welcome;
  }

  // Resumes the session on a new connection (§3.2 "Resume"). Resolves with the welcome;
  // rejects with CraftError RESUME_FAILED or REPLAY_GAP, after which the session is over
  // and every request still waiting is rejected with the same code.
  async resume({ lastSeq = this.received } = {}) {
    if (!this.resumeToken || this.ended) throw new Error("no session to resume");
    this.dropLink();
    await this.connect();
    this.pendingResume = { helloLastSeq: lastSeq };
    try {
      const m = await this.request({ hello: { protocolVersion: 1, resumable: true, resumeToken: this.resumeToken,
        lastSeq: String(lastSeq) } });
      this.stats.resumes++;
      return m.welcome;
    } catch (e) {
      if (e instanceof CraftError && (e.code === "RESUME_FAILED" || e.code === "REPLAY_GAP")) this.sessionLost(e);
      throw e;
    }
  }

  // Goodbye (§3 item 6): a disconnect envelope; the server answers disconnect 1000 and
  // closes, and the session ends at once (not held).
  async goodbye(code = 1000, reason = "bye") {
    this.ended = true;
    this.clearAckTimer();
    const link = this.link;
    link.sendEnvelope({ disconnect: { code, reason } });
    await link.closed;
    return this.disconnect;
  }

  // Test hook: the connection dies without a goodbye. "reset" destroys the socket (the
  // server sees EOF); "freeze" stops using it but leaves it open, so the server still
  // thinks it alive (a half-open connection) until a resume replaces it.
  cut(how = "reset") {
    const link = this.link;
    this.dropLink();
    if (!link) return;
    const socket = link.socket ?? link.ws._socket;
    if (how === "freeze") {
      socket.pause();
      this.frozen = [...(this.frozen ?? []), socket];
    } else socket.destroy();
  }

  // Closes the sockets "freeze" left open (call at the end of a test).
  destroyFrozen() {
    for (const s of this.frozen ?? []) s.destroy();
    this.frozen = [];
  }

  dropLink() {
    this.gen++;
    this.link = null;
    this.welcomed = false;
    this.clearAckTimer();
  }

  // Requests and room_data go through here (Endpoint.request, Endpoint.send).
  sendEnvelope(envelope) {
    if (!isSequenced(envelope)) {
      if (!this.link) throw new Error(`not connected: cannot send ${Object.keys(envelope)}`);
      this.transmit(envelope);
      return;
    }
    if (this.ended) throw new Error("the session has ended");
    const seq = ++this.sent;
    this.unacked.push({ seq, envelope });
    // Before welcome, or while cut, it waits: after welcome it goes out with the resend.
    if (this.welcomed) this.transmit(envelope);
  }

  transmit(envelope) {
    let e = envelope;
    // §3.2: ack_seq "on any message it sends anyway"; hello has last_seq instead.
    if (this.acks && this.welcomed && this.received > this.ackSent && !e.hello && !e.ack) {
      e = { ...envelope, ackSeq: String(this.received) };
      this.ackSent = this.received;
      this.stats.piggybacked++;
      this.clearAckTimer();
    }
    this.link.sendEnvelope(e);
  }

  fromLink(gen, link, m) {
    if (gen !== this.gen || this.deaf) return;
    if (m.ping && !m.cid) {
      // §3 item 5: on TCP the server pings with a ping envelope, answered with a pong
      // echoing client_time_us, cid 0.
      if (this.answerServerPings) {
        this.serverPings++;
        link.sendEnvelope({ pong: { clientTimeUs: m.ping.clientTimeUs ?? "0" } });
      }
      return;
    }
    if (m.ack) {
      this.onServerAck(Number(m.ack.seq ?? 0));
      return;
    }
    if (m.welcome) this.onWelcome(m.welcome);
    else if (this.welcomed && isSequenced(m)) {
      this.received++;
      this.scheduleAck();
    }
    this.receive(m);
  }

  // Runs before the hello's promise settles and before the next message is read, so the
  // resend goes out before anything new and the replay is counted from the right number.
  onWelcome(w) {
    const last = Number(w.lastSeq ?? 0);
    // What the server says must fit what this client knows; a mismatch is recorded (the
    // tests assert there is none) rather than thrown inside the socket's event handler.
    if (w.resumed) {
      if (String(w.sessionId) !== this.sessionId) this.violations.push(`resumed session ${w.sessionId}, expected ${this.sessionId}`);
      if (last < this.serverAcked || last > this.sent) {
        this.violations.push(`welcome.last_seq ${last} outside [acked ${this.serverAcked}, sent ${this.sent}]`);
      }
      this.serverAcked = Math.max(this.serverAcked, Math.min(last, this.sent));
    } else {
      this.sessionId = String(w.sessionId);
      if (last !== 0) this.violations.push(`a fresh welcome with last_seq ${last}`);
    }
    this.welcome = w;
    this.resumeToken = w.resumeToken ?? "";
    this.resumeWindowMs = w.resumeWindowMs ?? 0;
    this.welcomed = true;
    this.unacked = this.unacked.filter((u) => u.seq > last);
    for (const u of this.unacked) this.transmit(u.envelope);
    this.stats.resent += w.resumed ? this.unacked.length : 0;
    if (w.resumed) this.lastResume = { ...this.pendingResume, welcomeLastSeq: last, resent: this.unacked.length };
  }

  onServerAck(seq) {
    if (seq <= this.serverAcked) return;
    this.serverAcked = Math.min(seq, this.sent);
    this.unacked = this.unacked.filter((u) => u.seq > this.serverAcked);
  }

  scheduleAck() {
    if (!this.acks) return;
    if (this.received - this.ackSent >= this.ackEvery) this.sendAck();
    else this.ackTimer ??= setTimeout(() => this.sendAck(), this.ackDelayMs);
  }

  sendAck() {
    this.clearAckTimer();
    if (!this.welcomed || this.received <= this.ackSent) return;
    this.ackSent = this.received;
    this.stats.acksSent++;
    this.link.sendEnvelope({ ack: { seq: String(this.received) } });
  }

  clearAckTimer() {
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }

  // The session is over: nothing waiting will ever be answered.
  sessionLost(error) {
    this.ended = true;
    this.resumeToken = "";
    this.unacked = [];
    for (const [cid, waiter] of [...this.pending]) {
      this.pending.delete(cid);
      waiter.reject(new CraftError(error.code, `session lost before an answer: ${error.message}`, cid));
    }
  }

  // Resolves linkLost with the close code: the disconnect envelope's, else the close
  // frame's (1006 when the socket just ended), else null (TCP EOF or reset).
  onLinkClosed(gen, link) {
    const code = this.disconnect?.code ?? link.closeCode ?? null;
    if (gen !== this.gen) return code;  // a link this client already gave up on
    this.dropLink();
    if (!resumableLoss(code)) this.ended = true;
    if (this.autoResume && !this.ended && this.resumeToken) this.resumeLoop();
    return code;
  }

  async resumeLoop() {
    const deadline = Date.now() + (this.resumeWindowMs || 15000);
    for (let delay = 50; Date.now() < deadline && !this.ended && !this.link; delay = Math.min(delay * 2, 1000)) {
      await sleep(delay);
      try {
        await this.resume();
        return;
      } catch (e) {
        if (e instanceof CraftError) return;  // the session is gone (sessionLost ran)
      }
    }
  }

  // Ends the session: a goodbye if it is live (a bare TCP close would leave it held),
  // else just the connection.
  async close() {
    this.destroyFrozen();
    if (this.link && this.welcomed && !this.ended) {
      await this.goodbye();
      return;
    }
    this.ended = true;
    this.clearAckTimer();
    const link = this.link;
    this.dropLink();
    if (link) await link.close();
  }
}
