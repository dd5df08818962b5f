// Connection's TLS paths (net/tls.hpp): the same reactor as connection.cpp — wait for
// readable, decrypt into the shard's one read buffer, hand the bytes to consume(); queued
// frames leave once per loop turn, coalesced into records of up to 16 KB in a per-shard
// scratch buffer. A closing connection drains raw bytes in on_readable() as without TLS.
#include "net/connection.hpp"

#include <algorithm>

namespace craft {

namespace {
// Records decrypted per wakeup before yielding to the shard's other connections. The
// wait for readable is edge-triggered, so stopping early re-posts instead of waiting.
constexpr int records_per_wakeup = 16;
}  // namespace

void Connection::use_tls(SSL* ssl) {
  if (!ssl) {
    std::error_code ec;
    socket_.close(ec);  // start() then sees the closed socket and releases the slot
    return;
  }
  tls_ = std::make_unique<net::TlsStream>(ssl, static_cast<int>(socket_.native_handle()));
}

void Connection::on_readable_tls() {
  char* buffer = shard_.read_buffer();
  const size_t capacity = shard_.read_buffer_size();
  for (int round = 0; round < records_per_wakeup; ++round) {
    net::TlsStream::Want want;
    size_t n = tls_->read(buffer, capacity, want);
    if (!tls_established_ && tls_->handshake_done()) {
      tls_established_ = true;
      shard_.metrics().tls_handshakes.add();
      on_tls_established();
      if (state_ == State::closed) return;
    }
    if (n == 0) {
      switch (want) {
        case net::TlsStream::Want::read:
          // Output that waited for the handshake (flush_tls saw Want::read) goes now.
          if ((!out_.empty() || tls_->pending() > 0) && !flush_scheduled_ && !write_waiting_) {
            flush_scheduled_ = true;
            shard_.schedule_flush(shared_from_this());
          }
          wait_readable();
          return;
        case net::TlsStream::Want::write:
          // The handshake's reply met a full socket: read again once it drains.
          socket_.async_wait(asio::ip::tcp::socket::wait_write, [self = shared_from_this(), g = generation_](
                                                                    const std::error_code& ec) { self->on_readable(ec, g); });
          return;
        default:
          // Garbage instead of a ClientHello, plaintext HTTP, a bad record, close_notify, EOF.
          if (!tls_established_) shard_.metrics().tls_handshake_failures.add();
          finish_close();
          return;
      }
    }
    shard_.metrics().bytes_in.add(n);
    shard_.metrics().read_calls.add();
    deliver(buffer, n);
    if (state_ == State::closed || paused_) return;
    if (state_ == State::closing) return wait_readable();  // drain raw until the peer's EOF
  }
  shard_.post([self = shared_from_this(), g = generation_] { self->on_readable({}, g); });
}

void Connection::flush_tls() {
  std::string& scratch = net::tls_scratch();
  if (state_ == State::closing && !tls_->handshake_done()) {
    // Closing before the handshake finished (handshake timeout, a TCP-port connection over
    // a limit): closing drains raw bytes, so the handshake never will. Nothing can be
    // said to the peer; drop the tail and shut down.
    out_.clear();
    out_offset_ = 0;
    out_bytes_ = 0;
    tls_->drop_pending();
  }
  while (!out_.empty() || tls_->pending() > 0) {
    // Coalesce small frames into one record: one encryption and one syscall for a turn's worth.
    scratch.clear();
    size_t offset = out_offset_;
    for (size_t i = 0; i < out_.size() && scratch.size() < net::tls_record_bytes; ++i, offset = 0) {
      const auto& frame = *out_[i];
      size_t take = std::min(frame.size() - offset, net::tls_record_bytes - scratch.size());
      scratch.append(frame.data() + offset, take);
    }
    const size_t pending_before = tls_->pending();
    net::TlsStream::Want want;
    size_t taken = tls_->write(scratch, want);
    shard_.metrics().write_calls.add();
    // Taken bytes leave out_; those still in the stream's pending record count on in
    // out_bytes_, so limits.send_queue_bytes sees every byte not yet in the kernel.
    const size_t pending_after = tls_->pending();
    shard_.metrics().bytes_out.add(taken + pending_before - pending_after);
    out_bytes_ = static_cast<uint32_t>(out_bytes_ + pending_after - pending_before - taken);
    size_t left = taken;
    size_t done = 0;
    while (done < out_.size()) {
      size_t remaining = out_[done]->size() - out_offset_;
      if (left < remaining) {
        out_offset_ += static_cast<uint32_t>(left);
        break;
      }
      left -= remaining;
      out_offset_ = 0;
      ++done;
    }
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(done));
    switch (want) {
      case net::TlsStream::Want::nothing: break;
      case net::TlsStream::Want::write: wait_writable(); return;
      case net::TlsStream::Want::read: return;  // mid-handshake: on_readable_tls flushes after
      default: finish_close(); return;
    }
  }
  if (out_.capacity() > 16) std::vector<Frame>().swap(out_);  // idle connections give memory back
  if (scratch.capacity() > 2 * net::tls_record_bytes) std::string().swap(scratch);
  if (state_ == State::closing && !send_shut_down_) {
    send_shut_down_ = true;
    opened_at_ = shard_.now();  // closing now: the close linger starts here (connection.hpp)
    // Closed by us before the handshake finished: limits.handshake_timeout_ms, a limit.
    if (!tls_established_) shard_.metrics().tls_handshake_failures.add();
    tls_->shutdown();           // close_notify, best effort
    std::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }
}

}  // namespace craft
