// Resumable sessions' acks (docs/protocol.md §3.2): sequenced server messages are counted
// and acked on the next send, or alone after 64 messages / 500 ms.
#include "generator_impl.hpp"

#include "proc.hpp"

namespace craft::bench::detail {

// Server messages after welcome are numbered except the link-level ones (protocol.md §3.2);
// the caller has already left those out.
void Generator::on_sequenced(uint32_t i) {
  Conn& c = conns_[i];
  if (!resumable(i) || c.session_id == 0) return;
  ++c.server_seq;
  if (c.unacked_since_ns == 0) c.unacked_since_ns = mono_ns();
  if (c.server_seq - c.server_seq_acked >= ack_every_messages) send_ack(i);
}

uint64_t Generator::take_ack(uint32_t i) {
  Conn& c = conns_[i];
  if (!resumable(i) || c.server_seq <= c.server_seq_acked) return 0;
  c.server_seq_acked = c.server_seq;
  c.unacked_since_ns = 0;
  ++acks_piggybacked_;
  return c.server_seq;
}

void Generator::send_ack(uint32_t i) {
  Conn& c = conns_[i];
  // Only on a welcomed connection: an ack written before the upgrade or the hello would be
  // read by the server as a broken HTTP request or a message before hello.
  bool welcomed = c.state == State::wait_room || c.state == State::joining || c.state == State::ready;
  if (c.fd < 0 || !welcomed || c.server_seq <= c.server_seq_acked) return;
  c.server_seq_acked = c.server_seq;
  c.unacked_since_ns = 0;
  ++acks_sent_;
  v1::Envelope e;
  e.mutable_ack()->set_seq(c.server_seq);
  send_envelope(i, e);
}

// The 500 ms rule, checked every 100 ms: ack a little early rather than late.
void Generator::ack_scan(int64_t now) {
  for (uint32_t i = 0; i < launched_ && i < plan_.count; ++i) {
    Conn& c = conns_[i];
    if (c.unacked_since_ns && now - c.unacked_since_ns >= ack_every_ns - ack_scan_ns) send_ack(i);
  }
}

}  // namespace craft::bench::detail
