// One client socket: reads in reactor style (wait for readable, read into the shard's
// buffer), cuts the bytes into messages for its transport, and writes queued frames with
// one gathered write per loop turn. What the messages mean is Session's business (it
// overrides the virtual hooks below); plain HTTP requests go to the shard's ShardHandler.
#pragma once
#include "net/frame.hpp"
#include "net/handler.hpp"
#include "net/shard.hpp"
#include "net/tls.hpp"

#include <asio/ip/tcp.hpp>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace craft {

namespace http {
struct Request;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Transport : uint8_t { http, websocket, tcp };
  using IpKey = craft::IpKey;

  Connection(Shard& shard, asio::ip::tcp::socket socket, Transport transport, IpKey ip);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers with the shard and starts reading. Call on the shard's thread.
  void start();
  // Speak TLS on this socket (net/tls.hpp, connection_tls.cpp); takes `ssl`. Call before
  // start(). A null `ssl` (OpenSSL out of memory) closes the socket instead.
  void use_tls(SSL* ssl);
  // Queues a frame; it goes out with this loop turn's gathered write. Past
  // limits.send_queue_bytes the connection is closed with 4002 instead.
  void send(const Frame& frame);
  // Queues a frame that may wait: it leaves with the next write to this peer (one syscall
  // for both), or at the next sweep at the latest. For messages whose timing is loose (the
  // resume ack): a client that gets 20 snapshots a second sends no extra write for them.
  void send_lazily(const Frame& frame);
  // Server-initiated close: before_close() may queue a last message, then (WebSocket) a close
  // frame with `code`; once those are handed to the kernel the sending side shuts down and the
  // socket closes at the peer's EOF or after a short linger. For 4002 the unsent backlog is
  // dropped first, so the close tail is next in line for a reader that resumes.
  void close(uint16_t code, std::string_view reason);
  bool is_open() const { return state_ == State::open; }
  // Bytes queued and not yet written (what limits.send_queue_bytes bounds).
  uint32_t queued_bytes() const { return out_bytes_; }
  Transport transport() const { return transport_; }
  Shard& shard() { return shard_; }
  const IpKey& ip() const { return ip_; }
  // Called by the shard's sweep timer.
  void sweep(TimePoint now);
  // Called by the shard's flush at the end of a loop turn.
  void flush();

  // A connection's socket and transport state, moved to another Connection (maybe on another
  // shard): a resumed session lives on its own shard, its new connection lands on any.
  struct Pipe {
    int fd = -1;
    bool v6 = false;
    std::unique_ptr<net::TlsStream> tls;
    std::string partial;    // received bytes not yet consumed
    std::string fragments;
    std::vector<Frame> out; // queued output not yet written
    uint32_t out_offset = 0;
    IpKey ip{};
    TimePoint accepted{};   // the handshake timeout counts from here, wherever the pipe goes
    Transport transport = Transport::tcp;
    WireFormat format = WireFormat::tcp;
    bool fragment_is_text = false;
    bool in_fragmented_message = false;
    bool tls_established = false;
  };
  // Stops consuming after the message being handled; later bytes stay unread for detach().
  void pause_reading() { paused_ = true; }
  // Takes the socket and transport state; this connection is then closed without a word:
  // no on_closed(), and its connection slot goes with the pipe. Call on this shard, outside
  // this connection's own callbacks (post first).
  Pipe detach();
  // Speaks over `pipe` (from detach()) from now on, as if accepted here; the connection must
  // be closed (or never started). Takes the pipe's connection slot. Reading starts with
  // resume_reading(), so the owner can queue output first.
  void attach(Pipe pipe);
  void resume_reading();
  // Server ping frame on WebSocket (the peer's pong comes back to on_pong()).
  void send_ping_frame(std::string_view payload);

 protected:
  // One complete message: a WebSocket message (text or binary) or a TCP frame payload.
  virtual void on_message(std::string_view payload, bool text) = 0;
  virtual void on_websocket_open() {}
  // The TLS handshake finished (only with use_tls()): the peer can now be told things.
  virtual void on_tls_established() {}
  bool uses_tls() const { return tls_ != nullptr; }
  virtual void before_close(uint16_t code, std::string_view reason) { (void)code, (void)reason; }
  // The connection is over (closing began or the socket is gone); called exactly once per
  // socket. `code`: the server's close code, 1000 for the client's own close frame, 1006
  // when the socket ended without either (EOF, reset, write error).
  virtual void on_closed(uint16_t code) { (void)code; }
  // A WebSocket pong frame (the answer to send_ping_frame()).
  virtual void on_pong(std::string_view payload) { (void)payload; }
  // A WebSocket ping frame arrived: false drops it unanswered (a rate limit; the owner may
  // close the connection). Control frames are tiny, so without this a ping flood is a CPU
  // sink that no message limit sees.
  virtual bool on_ping() { return true; }
  // The connection's slot in the connection limits outlives the socket (a session held for
  // resume keeps it); the owner then releases it with release_slot().
  void keep_slot() { keep_slot_ = true; }
  void release_slot();
  virtual void on_sweep(TimePoint now) { (void)now; }
  // A plain HTTP request (not a WebSocket upgrade) is about to be answered: true refuses it
  // with 503 because this connection is over a connection limit.
  virtual bool over_connection_limit() { return false; }
  // A request head (upgrade or plain HTTP) parsed, before anything answers it: false answers
  // 400 and closes (src/net/forwarded.hpp: a trusted proxy's bad X-Forwarded-For), unless
  // the hook closed the connection itself (abort()).
  virtual bool on_request_head(const http::Request& request) { (void)request; return true; }
  // The client's address behind a trusted proxy replaces the peer's (per-IP limits, auth limiter).
  void set_ip(const IpKey& ip) { ip_ = ip; }
  // TCP from a trusted proxy: the stream may start with a PROXY protocol header
  // (src/net/proxy_protocol.hpp). Once it has or has not, on_stream_client() gets the client
  // (the peer itself without a header); a bad header closes with 1002.
  void expect_proxy_header() { expect_proxy_header_ = true; }
  virtual void on_stream_client(const IpKey& client) { (void)client; }
  // Closes the socket now, without a word or a linger (a connection the limits drop).
  void abort() { finish_close(); }
  // Frame for the transport this connection uses for a server message.
  WireFormat wire_format() const { return format_; }
  void set_wire_format(WireFormat f) { format_ = f; }
  TimePoint last_receive() const { return last_receive_; }
  TimePoint opened_at() const { return opened_at_; }

 private:
  friend class Shard;
  enum class State : uint8_t { open, closing, closed };

  void wait_readable();
  // `generation`: the socket the wait was for; a wait for an earlier (detached or closed)
  // socket of this connection does nothing.
  void on_readable(const std::error_code& ec, uint8_t generation);
  // Hands `n` bytes read into the shard buffer to consume(), keeping a partial frame.
  void deliver(char* buffer, size_t n);
  void on_readable_tls();
  void flush_tls();
  // Consumes as many complete units from `data` as there are; returns bytes used.
  size_t consume(char* data, size_t size);
  size_t consume_http(char* data, size_t size);
  size_t consume_websocket(char* data, size_t size);
  size_t consume_tcp(char* data, size_t size);
  void handle_http(const http::Request& request, std::string_view body);
  void upgrade_websocket(const http::Request& request);
  // A transport-made refusal (400/413) in the handler's format, else plain text.
  std::string http_refusal(const http::Request& request, int status, std::string_view why);
  // A response from the handler: 4xx answers are counted, then it ends the connection.
  void deliver_http(std::string response);
  void finish_http(std::string response);
  void protocol_violation(uint16_t code, std::string_view reason);
  bool hello_limited() const;  // no message yet, and limits.max_hello_bytes set
  uint64_t message_limit() const;  // limits.max_hello_bytes until the first message, then max_message_size
  const char* message_limit_name() const;
  // Every byte for the peer goes through here and counts against limits.send_queue_bytes;
  // false if it did not fit (the connection is then closing with 4002).
  bool send_raw(std::string bytes);
  // `lazy`: no flush is scheduled for it (send_lazily()).
  bool enqueue(Frame frame, bool lazy = false);
  void drop_unsent_backlog();
  void wait_writable();
  void finish_close();
  void on_closed_once(uint16_t code);

  Shard& shard_;
  asio::ip::tcp::socket socket_;
  // Intrusive list of the shard's connections: no per-connection map entry.
  Connection* prev_ = nullptr;
  Connection* next_ = nullptr;
  std::string partial_;       // bytes of an incomplete frame; empty almost always
  std::string fragments_;     // a fragmented WebSocket message being reassembled
  std::vector<Frame> out_;    // queued output, gathered into one write
  std::unique_ptr<net::TlsStream> tls_;  // null for plain TCP
  uint32_t out_offset_ = 0;   // bytes of out_[0] already written
  uint32_t out_bytes_ = 0;
  TimePoint last_receive_;
  // While open: when the connection was accepted (handshake timeout). While closing: when the
  // close tail was handed to the kernel, where the close linger starts. One field for both
  // keeps an idle connection's memory where docs/benchmarks.md measured it.
  TimePoint opened_at_;
  TimePoint closing_since_;   // close() ran
  IpKey ip_;
  Transport transport_;
  State state_ = State::open;
  WireFormat format_ = WireFormat::ws_binary;
  // Flags as bits: touched only on this connection's shard, and a byte each would push every
  // connection into the next allocation size.
  bool flush_scheduled_ : 1 = false;
  bool write_waiting_ : 1 = false;
  bool fragment_is_text_ : 1 = false;
  bool in_fragmented_message_ : 1 = false;
  bool closed_notified_ : 1 = false;
  bool in_close_tail_ : 1 = false;  // close() is queueing the disconnect envelope and close frame
  bool send_shut_down_ : 1 = false;
  bool http_pending_ : 1 = false;  // an API call is running; its answer ends the connection
  bool expect_proxy_header_ : 1 = false;
  bool tls_established_ : 1 = false;  // the TLS handshake finished (and was counted)
  bool paused_ : 1 = false;           // pause_reading(): consume nothing more
  bool keep_slot_ : 1 = false;        // keep_slot(): finish_close leaves the slot counted
  bool slot_released_ : 1 = false;
  bool first_message_seen_ : 1 = false;  // limits.max_hello_bytes applies until then
  uint8_t generation_ = 0;            // bumped per socket (detach, attach)
};

}  // namespace craft
