#include "auth/token.hpp"

#include <sodium.h>

#include <stdexcept>
#include <vector>

#include "auth/sodium.hpp"

namespace craft::auth {
namespace {

constexpr uint8_t kFormat = 1;
constexpr std::size_t kTagBytes = crypto_auth_BYTES;
constexpr std::size_t kFixedBytes = 1 + 1 + 8 + 8 + kTokenIdBytes + 1 + 1;
// Largest possible token: both strings at their maximum length.
constexpr std::size_t kMaxRawBytes = kFixedBytes + 2 * kMaxTokenFieldBytes + kTagBytes;
static_assert(crypto_auth_KEYBYTES == kTokenKeyBytes);

void put_i64(std::vector<unsigned char>& out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<unsigned char>(u >> shift));
}

int64_t get_i64(const unsigned char* p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
  return static_cast<int64_t>(u);
}

void put_str(std::vector<unsigned char>& out, std::string_view s) {
  out.push_back(static_cast<unsigned char>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

std::string to_hex(const unsigned char* p, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), p, n);
  out.pop_back();
  return out;
}

}  // namespace

const char* to_string(TokenError e) {
  switch (e) {
    case TokenError::malformed: return "malformed";
    case TokenError::bad_signature: return "bad_signature";
    case TokenError::expired: return "expired";
    case TokenError::wrong_kind: return "wrong_kind";
  }
  return "unknown";
}

TokenSigner::TokenSigner(const Key& key) : key_(key) { ensure_sodium(); }

TokenSigner::TokenSigner(std::span<const unsigned char> key) {
  if (key.size() != kTokenKeyBytes) throw std::invalid_argument("token key must be 32 bytes");
  ensure_sodium();
  std::copy(key.begin(), key.end(), key_.begin());
}

TokenSigner::~TokenSigner() { sodium_memzero(key_.data(), key_.size()); }

TokenSigner::Key TokenSigner::generate_key() {
  ensure_sodium();
  Key k;
  crypto_auth_keygen(k.data());
  return k;
}

IssuedToken TokenSigner::issue(TokenKind kind, std::string_view account_id,
                               std::string_view username, int64_t now, int64_t ttl_seconds) const {
  if (account_id.size() > kMaxTokenFieldBytes || username.size() > kMaxTokenFieldBytes) {
    throw std::invalid_argument("token field longer than 255 bytes");
  }
  if (ttl_seconds <= 0) throw std::invalid_argument("token ttl must be positive");
  unsigned char id[kTokenIdBytes];
  randombytes_buf(id, sizeof id);

  IssuedToken out;
  out.payload = TokenPayload{std::string(account_id), std::string(username),
                             to_hex(id, sizeof id), kind, now, now + ttl_seconds};

  std::vector<unsigned char> raw;
  raw.reserve(kFixedBytes + account_id.size() + username.size() + kTagBytes);
  raw.push_back(kFormat);
  raw.push_back(static_cast<unsigned char>(kind));
  put_i64(raw, out.payload.issued_at);
  put_i64(raw, out.payload.expires_at);
  raw.insert(raw.end(), id, id + sizeof id);
  put_str(raw, account_id);
  put_str(raw, username);
  std::size_t payload_len = raw.size();
  raw.resize(payload_len + kTagBytes);
  crypto_auth(raw.data() + payload_len, raw.data(), payload_len, key_.data());

  std::size_t b64_len =
      sodium_base64_ENCODED_LEN(raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.token.assign(b64_len, '\0');
  sodium_bin2base64(out.token.data(), b64_len, raw.data(), raw.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.token.pop_back();  // the terminating NUL
  return out;
}

std::variant<TokenPayload, TokenError> TokenSigner::verify(std::string_view token, TokenKind kind,
                                                           int64_t now) const {
  if (token.empty() ||
      token.size() >
          sodium_base64_ENCODED_LEN(kMaxRawBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
    return TokenError::malformed;
  }
  std::vector<unsigned char> raw(kMaxRawBytes);
  std::size_t raw_len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(raw.data(), raw.size(), token.data(), token.size(), nullptr, &raw_len,
                        &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != token.data() + token.size()) {
    return TokenError::malformed;
  }
  if (raw_len < kFixedBytes + kTagBytes) return TokenError::malformed;
  std::size_t payload_len = raw_len - kTagBytes;
  if (crypto_auth_verify(raw.data() + payload_len, raw.data(), payload_len, key_.data()) != 0) {
    return TokenError::bad_signature;
  }

  // Signed by us: parse, still checking every length so a future format bug cannot overread.
  const unsigned char* p = raw.data();
  const unsigned char* stop = p + payload_len;
  if (p[0] != kFormat) return TokenError::malformed;
  uint8_t k = p[1];
  if (k != static_cast<uint8_t>(TokenKind::session) && k != static_cast<uint8_t>(TokenKind::refresh)) {
    return TokenError::malformed;
  }
  TokenPayload out;
  out.kind = static_cast<TokenKind>(k);
  out.issued_at = get_i64(p + 2);
  out.expires_at = get_i64(p + 10);
  out.token_id = to_hex(p + 18, kTokenIdBytes);
  p += 18 + kTokenIdBytes;
  for (std::string* field : {&out.account_id, &out.username}) {
    if (p >= stop) return TokenError::malformed;
    std::size_t n = *p++;
    if (static_cast<std::size_t>(stop - p) < n) return TokenError::malformed;
    field->assign(reinterpret_cast<const char*>(p), n);
    p += n;
  }
  if (p != stop) return TokenError::malformed;
  if (out.kind != kind) return TokenError::wrong_kind;
  if (now >= out.expires_at) return TokenError::expired;
  return out;
}

}  // namespace craft::auth
