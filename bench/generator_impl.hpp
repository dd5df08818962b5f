// Internals of one generator process, shared by generator.cpp (the loop, the schedule and the
// results) and generator_client.cpp (one client's connection: handshake, rooms, framing).
#pragma once
#include "generator.hpp"
#include "histogram.hpp"
#include "report.hpp"
#include "wire.hpp"

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <deque>
#include <vector>

namespace craft::bench::detail {

inline constexpr uint64_t pipe_tag = UINT64_MAX;
inline constexpr size_t read_buffer_size = 256 * 1024;
inline constexpr size_t max_backlog = 1 << 20;       // unsent bytes per connection before we skip sends
inline constexpr int64_t drain_timeout_ns = 5'000'000'000;
inline constexpr int64_t second = 1'000'000'000;
inline constexpr uint32_t op_data = 1, op_echo = 2;

enum class State : uint8_t { unstarted, connecting, upgrading, hello_sent, wait_room, joining, ready, closed };
enum class Outcome : uint8_t { pending, ready, failed, dropped };

inline const char* state_name(State s) {
  switch (s) {
    case State::unstarted: return "unstarted";
    case State::connecting: return "connect";
    case State::upgrading: return "upgrade";
    case State::hello_sent: return "hello";
    case State::wait_room: return "wait-room";
    case State::joining: return "join";
    case State::ready: return "ready";
    case State::closed: return "closed";
  }
  return "?";
}

struct Conn {
  int fd = -1;
  // A redirected join: the first node's connection, kept open (out of epoll) until the join
  // at the room's node is answered: closing it first would give the seat back (§4.21).
  int parked_fd = -1;
  State state = State::unstarted;
  Outcome outcome = Outcome::pending;
  bool want_out = false;
  uint32_t group = 0;
  int64_t started_ns = 0;
  int64_t last_send_ns = 0;
  int64_t join_sent_ns = 0;  // room_create / room_join / room_join_or_create sent
  int32_t redirect_target = -1;  // after a room_redirect: index into Generator::redirect_targets_
  std::string reservation;       // from a room_redirect, spent by the next room_join
  std::string redirect_room;     // idle --join-or-create: the room a room_redirect named
  uint64_t session_id = 0;  // tick: to find ourselves in snapshots
  uint32_t input_seq = 0;   // tick: last input sent
  uint32_t acked_seq = 0;   // tick: last input a snapshot showed applied
  std::array<int64_t, 16> input_sent_ns{};  // tick: send time by seq % 16
  // Resumable sessions (protocol.md §3.2): sequenced server messages are not numbered on the
  // wire; we count them, and ack what we have on the next send or after 64 / 500 ms.
  uint64_t server_seq = 0;        // sequenced server messages received
  uint64_t server_seq_acked = 0;  // the highest seq we have acked
  int64_t unacked_since_ns = 0;   // when the oldest unacked one arrived; 0 = none
  bool resuming = false;          // held: this connection resumes a held session
  std::string resume_token;       // from the latest welcome
  std::string in;   // a partial frame, only while one is pending
  std::string out;  // unsent bytes, only while the socket is full
};

struct Group {
  uint32_t first = 0;
  uint32_t size = 0;
  uint32_t alive = 0;  // members ready and not dropped
  std::string room_id;
  int64_t join_at_ns = 0;  // --join-after-ms: members join from then on
};

inline constexpr uint64_t ack_every_messages = 64;
inline constexpr int64_t ack_every_ns = 500'000'000;
inline constexpr int64_t ack_scan_ns = 100'000'000;

// held: the phases of one run (generator_held.cpp).
enum class HeldPhase : uint8_t {
  connect, settle_connected, cut, settle_held, feeders, settle_feeders, feed, settle_fed, resume, settle_resumed, done
};

class Generator {
 public:
  Generator(const Options& o, const GeneratorPlan& p) : o_(o), plan_(p), conns_(p.count) {}
  int run();

 private:
  // setup
  void start_connect(uint32_t i);
  void on_connected(uint32_t i);
  void send_hello(uint32_t i);
  void on_welcome(uint32_t i, const v1::Welcome& w);
  void on_joined(uint32_t i, const std::string& room_id);
  void send_join(uint32_t i);
  void mark_ready(uint32_t i);
  void fail(uint32_t i, const std::string& reason);
  void lose(uint32_t i, const std::string& reason);
  void close_conn(Conn& c);
  void check_timeouts(int64_t now);
  // io
  void on_event(uint32_t i, uint32_t events);
  void on_readable(uint32_t i);
  size_t consume(uint32_t i, char* data, size_t size);
  void on_envelope(uint32_t i, std::string_view payload);
  void on_room_data(uint32_t i, const FastEnvelope& e);
  void on_snapshot(uint32_t i, std::string_view json);
  // cross-node joins (generator_redirect.cpp)
  void follow_redirect(uint32_t i, const std::string& url, std::string room_id, std::string reservation);
  void send_input(uint32_t i, int64_t now);
  void send_bytes(uint32_t i, std::string_view bytes);
  void send_envelope(uint32_t i, const v1::Envelope& e);
  void send_data(uint32_t i, uint32_t op, std::string_view data);
  // acks (resumable)
  void on_sequenced(uint32_t i);
  uint64_t take_ack(uint32_t i);  // the seq to ack on a message being sent now, or 0
  void send_ack(uint32_t i);
  void ack_scan(int64_t now);
  bool resumable(uint32_t i) const { return o_.resumable && i < plan_.count; }  // feeders are plain
  // held (generator_held.cpp)
  void held_init();
  void held_step(int64_t now);
  void held_start_batch(int64_t now);
  bool held_range_settled(uint32_t lo, uint32_t hi) const;
  void held_cut_round(int64_t now);
  void held_feed(int64_t now);
  void held_after_feed(int64_t now);
  void held_resume(int64_t now);
  void held_sample(const std::string& label);
  void cut(uint32_t i);
  void set_want_out(uint32_t i, bool on);
  void flush(uint32_t i);
  // run
  void on_parent_line(const std::string& line);
  void drive_sends(int64_t now);
  void keepalive(int64_t now);
  void progress(int64_t now);
  void finish();
  void note(const std::string& text);
  void launch(int64_t now);
  bool in_window(int64_t t) const { return t >= t0_ && t < t1_; }

  const Options& o_;
  const GeneratorPlan& plan_;
  std::vector<Conn> conns_;
  std::vector<Group> groups_;
  std::deque<uint32_t> delayed_;  // --join-after-ms: groups whose members wait, by join_at_ns
  void join_delayed(int64_t now);
  std::vector<uint32_t> senders_;
  int epoll_ = -1;
  sockaddr_in server_{};
  sockaddr_in join_server_{};  // --cross-node: where a room's other members connect
  std::vector<std::pair<std::string, sockaddr_in>> redirect_targets_;  // URL -> address
  uint64_t redirects_ = 0;
  sockaddr_in source_{};
  bool bind_source_ = false;
  uint32_t next_source_port_ = 0;  // --source-ports: offset of the next port to try
  MaskRng rng_;
  std::unique_ptr<char[]> buffer_{new char[read_buffer_size]};
  std::string scratch_, frame_, payload_;  // payload_: timestamp + padding
  std::string parent_in_;
  PipeWriter up_;

  // phases
  int64_t connect_start_ = 0;
  uint32_t launched_ = 0;
  uint32_t launch_limit_ = 0;      // launch clients up to this index (held: the current batch)
  int64_t launch_origin_ = 0;      // connects are paced from here...
  uint32_t launch_base_ = 0;       // ...counting from this client
  int64_t next_ack_scan_ = 0;
  bool setup_reported_ = false;
  bool go_ = false;
  bool done_ = false;
  int64_t send_start_ = 0, t0_ = INT64_MAX, t1_ = INT64_MAX;
  int64_t cpu0_ = -1, cpu1_ = -1;
  uint64_t send_seq_ = 0;

  // counters
  uint32_t connected_ = 0, ready_ = 0, failed_ = 0, dropped_ = 0;
  int64_t setup_ns_ = 0;
  uint64_t sent_total_ = 0, delivered_total_ = 0;
  uint64_t sent_window_ = 0, expected_ = 0, delivered_window_ = 0, delivered_of_window_ = 0;
  uint64_t errors_ = 0, rate_limited_ = 0, skipped_ = 0, backlogged_ = 0, pings_ = 0;
  std::map<std::string, uint64_t> reasons_;
  Histogram latency_;  // relay: send -> receive; echo: A -> B (one way, same clock)
  Histogram rtt_;      // echo: A -> B -> A
  Histogram join_;     // room_join / room_join_or_create -> room_joined
  uint64_t unresumable_ = 0;  // resumable hellos answered without a resume token
  uint64_t acks_sent_ = 0, acks_piggybacked_ = 0;

  // held
  HeldPhase held_phase_ = HeldPhase::connect;
  uint32_t batch_groups_ = 1;         // groups per batch
  uint32_t batch_g0_ = 0, batch_g1_ = 0;
  uint32_t cut_round_ = 0;            // member index within each room being cut
  bool cut_acked_ = false;            // this round's members have sent their last ack
  int64_t phase_at_ = 0;              // when the current phase (or cut half-round) is due
  int64_t next_settle_check_ = 0;
  uint64_t held_total_ = 0;           // sessions we cut (the server should hold them)
  uint32_t feeders_ = 0;              // one per room, indices plan_.count + group
  uint64_t feed_per_feeder_ = 0;      // messages each feeder sends in all
  uint32_t feed_step_ = 0;
  uint64_t feed_step_end_ = 0;        // feed_seq_ at the end of this step
  uint64_t feed_seq_ = 0;             // messages sent by all feeders, round-robin
  int64_t feed_start_ = 0;
  uint64_t feed_base_ = 0;
  std::vector<HeldSample> samples_;
  uint32_t resume_next_ = 0;          // next held session to resume
  int64_t resume_origin_ = 0, resume_deadline_ = 0;
  uint64_t resumed_ = 0, resume_fresh_ = 0, resume_failed_ = 0;
  uint64_t replayed_ = 0, replay_expected_ = 0;  // room_data received on resumed connections
  int notes_ = 0;
};

}  // namespace craft::bench::detail
