// TLS for the HTTP/WebSocket and TCP ports (tls.cert_file / tls.key_file), on OpenSSL.
//
// TlsContext holds the certificate and key as an SSL_CTX; reload() builds a new one from the
// files and swaps it in, so handshakes that start later use the new certificate while open
// connections keep the SSL object (and the old SSL_CTX, reference-counted) they began with.
//
// TlsStream is one connection's TLS state over its non-blocking socket. It fits the reactor
// in connection.cpp: the caller waits for readable/writable, then calls read()/write(),
// which never block and never throw. OpenSSL reads the socket itself (socket BIO), decrypts
// into the caller's buffer (the shard's one read buffer); writes are coalesced by the
// caller into records of up to 16 KB. SSL_MODE_RELEASE_BUFFERS frees OpenSSL's record
// buffers whenever they are empty, so an idle TLS connection holds only its SSL object.
#pragma once
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace craft::net {

class TlsContext {
 public:
  // Throws std::runtime_error naming the file when a file is missing or not a usable
  // PEM certificate chain / private key, or when the key does not match the certificate.
  TlsContext(std::string cert_file, std::string key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Reads the files again. On failure the current context stays and the reason is
  // returned (empty on success). Any thread.
  std::string reload();
  // A new server-side SSL object on the current context; null only when OpenSSL is out of
  // memory. Any thread (a mutex guards the swap, held for a pointer copy).
  SSL* new_ssl();

 private:
  std::string cert_file_;
  std::string key_file_;
  std::mutex mutex_;
  std::shared_ptr<SSL_CTX> ctx_;
};

// One connection's TLS session. Owns the SSL object; the socket stays the caller's.
class TlsStream {
 public:
  enum class Want : uint8_t { nothing, read, write, closed, failed };
  TlsStream(SSL* ssl, int fd);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Handshakes as needed, then decrypts into `buffer`. Returns bytes (> 0) and Want::nothing,
  // or 0 with what to wait for: read/write (try again when the socket is readable/writable),
  // closed (close_notify or EOF), failed (protocol error; handshake_failed() tells when).
  size_t read(char* buffer, size_t capacity, Want& want);
  // Encrypts from the front of `data`; returns bytes taken (the caller drops them from its
  // queue) or 0 with what to wait for. A write that could not go out is kept here (at most
  // one record, pending()), and finished by the next write() call before anything new:
  // OpenSSL requires the retry of the same bytes.
  size_t write(std::string_view data, Want& want);
  // Bytes taken by a write() that are still waiting for room in the socket.
  size_t pending() const { return pending_.size(); }
  // Forgets a pending write that can never finish (closing before the handshake is done).
  void drop_pending() { std::string().swap(pending_); }
  // Queues close_notify (best effort, never blocks).
  void shutdown();
  bool handshake_done() const;

 private:
  Want classify(int result, bool reading);
  SSL* ssl_;
  std::string pending_;  // a record that hit a full socket; empty almost always
};

// Scratch space on this thread (one per shard) to coalesce queued frames into one record.
std::string& tls_scratch();
inline constexpr size_t tls_record_bytes = 16 * 1024;

}  // namespace craft::net
