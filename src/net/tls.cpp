#include "net/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <climits>
#include <cstdio>
#include <stdexcept>

namespace craft::net {

namespace {

// The first error OpenSSL queued on this thread, as text; clears the queue so a later call
// on the same thread (the next connection on this shard) never sees a stale error.
std::string take_openssl_error() {
  std::string text;
  if (unsigned long e = ERR_peek_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

// A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own socket BIO uses write(), which
// raises SIGPIPE on a peer that reset, and a program embedding craft may not ignore it.
int nosignal_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n = ::send(static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))), data, static_cast<size_t>(size),
                     MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int nosignal_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n = ::recv(static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))), data, static_cast<size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

long nosignal_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

BIO* socket_bio(int fd) {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "craft socket");
    BIO_meth_set_write(m, nosignal_write);
    BIO_meth_set_read(m, nosignal_read);
    BIO_meth_set_ctrl(m, nosignal_ctrl);
    return m;
  }();
  BIO* bio = BIO_new(method);
  if (!bio) return nullptr;
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(bio, 1);
  return bio;
}

bool readable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

std::shared_ptr<SSL_CTX> make_context(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  for (const auto* path : {&cert_file, &key_file}) {
    if (path->empty()) throw std::runtime_error("tls.cert_file and tls.key_file must both be set");
    if (!readable(*path)) {
      throw std::runtime_error((path == &cert_file ? "tls.cert_file " : "tls.key_file ") + *path +
                               ": cannot open the file");
    }
  }
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("TLS: cannot create a context: " + take_openssl_error());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // No renegotiation (TLS 1.2; 1.3 has none): a client could otherwise make us redo the
  // expensive half of a handshake on an open connection for free. No compression (CRIME).
  // The server picks the cipher.
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                             SSL_OP_NO_TICKET);
  // No session resumption state on the server: no cache to grow with the number of
  // clients, no ticket keys to rotate. A reconnect does a full handshake.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(c, 0);
  // PARTIAL_WRITE: a write returns after each record, so the caller can drop what went
  // out. ACCEPT_MOVING_WRITE_BUFFER: a retried write may come from another buffer with the
  // same bytes. RELEASE_BUFFERS: an idle connection holds no record buffers (~34 KB).
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
  // Read whole socket reads into OpenSSL's buffer (one recv for many small records instead
  // of two per record); the buffer is released again once it is empty.
  SSL_CTX_set_read_ahead(c, 1);
  if (SSL_CTX_use_certificate_chain_file(c, cert_file.c_str()) != 1) {
    throw std::runtime_error("tls.cert_file " + cert_file + ": not a PEM certificate chain (" + take_openssl_error() +
                             ")");
  }
  if (SSL_CTX_use_PrivateKey_file(c, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // Loading the key already compares it with the certificate: say which went wrong.
    bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    throw std::runtime_error("tls.key_file " + key_file +
                             (mismatch ? ": does not match the certificate in " + cert_file : ": not a PEM private key") +
                             " (" + take_openssl_error() + ")");
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    throw std::runtime_error("tls.key_file " + key_file + ": does not match the certificate in " + cert_file + " (" +
                             take_openssl_error() + ")");
  }
  return ctx;
}

}  // namespace

TlsContext::TlsContext(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), ctx_(make_context(cert_file_, key_file_)) {}

TlsContext::~TlsContext() = default;

std::string TlsContext::reload() {
  try {
    auto fresh = make_context(cert_file_, key_file_);
    std::lock_guard lock(mutex_);
    ctx_ = std::move(fresh);  // the old one lives on in the SSL objects made from it
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

SSL* TlsContext::new_ssl() {
  std::shared_ptr<SSL_CTX> ctx;
  {
    std::lock_guard lock(mutex_);
    ctx = ctx_;
  }
  SSL* ssl = SSL_new(ctx.get());  // takes its own reference on the SSL_CTX
  ERR_clear_error();
  return ssl;
}

TlsStream::TlsStream(SSL* ssl, int fd) : ssl_(ssl) {
  // Without a BIO every SSL call fails (SSL_ERROR_SSL): the connection just closes.
  if (BIO* bio = socket_bio(fd)) SSL_set_bio(ssl_, bio, bio);
  SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

bool TlsStream::handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }


TlsStream::Want TlsStream::classify(int result, bool reading) {
  int error = SSL_get_error(ssl_, result);
  ERR_clear_error();
  switch (error) {
    case SSL_ERROR_WANT_READ: return Want::read;
    case SSL_ERROR_WANT_WRITE: return Want::write;
    case SSL_ERROR_ZERO_RETURN: return Want::closed;
    case SSL_ERROR_SYSCALL: return reading ? Want::closed : Want::failed;  // EOF or a socket error
    default: return Want::failed;
  }
}

size_t TlsStream::read(char* buffer, size_t capacity, Want& want) {
  int n = SSL_read(ssl_, buffer, static_cast<int>(std::min<size_t>(capacity, INT_MAX)));
  if (n > 0) {
    want = Want::nothing;
    return static_cast<size_t>(n);
  }
  want = classify(n, true);
  return 0;
}

size_t TlsStream::write(std::string_view data, Want& want) {
  want = Want::nothing;
  if (!pending_.empty()) {
    int n = SSL_write(ssl_, pending_.data(), static_cast<int>(pending_.size()));
    if (n <= 0) {
      want = classify(n, false);
      return 0;
    }
    pending_.erase(0, static_cast<size_t>(n));
    if (!pending_.empty()) return 0;  // a partial record write; the caller tries again
    pending_.shrink_to_fit();
  }
  if (data.empty()) return 0;
  size_t size = std::min(data.size(), tls_record_bytes);
  int n = SSL_write(ssl_, data.data(), static_cast<int>(size));
  if (n > 0) return static_cast<size_t>(n);
  want = classify(n, false);
  if (want != Want::write && want != Want::read) return 0;
  // OpenSSL wants this exact write retried. Keep its bytes so the caller's queue may
  // change meanwhile (a slow consumer's backlog is dropped, say).
  pending_.assign(data.data(), size);
  return size;
}

void TlsStream::shutdown() {
  // Sends close_notify if the socket has room; the reply is not waited for. Before the
  // handshake finished there is nothing to close (OpenSSL refuses); that is fine.
  if (handshake_done()) SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string& tls_scratch() {
  thread_local std::string scratch;
  return scratch;
}

}  // namespace craft::net
