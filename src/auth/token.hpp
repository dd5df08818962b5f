// Signed session and refresh tokens.
//
// A token is base64url (no padding) of: payload || tag, where tag is the 32-byte
// crypto_auth (HMAC-SHA-512-256) of the payload under the server's 32-byte key. Payload:
//   u8 format (1) | u8 kind | i64 issued_at | i64 expires_at  (big-endian unix seconds)
//   | 16 bytes token_id | u8 len + account_id | u8 len + username
// Time is always passed in (unix seconds from Clock::wall_time_us()), never read here.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace craft::auth {

enum class TokenKind : uint8_t { session = 1, refresh = 2 };

inline constexpr std::size_t kTokenKeyBytes = 32;
inline constexpr std::size_t kTokenIdBytes = 16;
inline constexpr std::size_t kMaxTokenFieldBytes = 255;  // account id, username
inline constexpr int64_t kDefaultSessionTtlSeconds = 3600;        // 1 hour
inline constexpr int64_t kDefaultRefreshTtlSeconds = 30 * 86400;  // 30 days

struct TokenPayload {
  std::string account_id;
  std::string username;
  std::string token_id;  // 32 lowercase hex characters (16 random bytes); the revocation key
  TokenKind kind = TokenKind::session;
  int64_t issued_at = 0;   // unix seconds
  int64_t expires_at = 0;  // unix seconds; the token is valid while now < expires_at
};

enum class TokenError {
  malformed,      // not base64url, wrong length, unknown format or kind
  bad_signature,  // the tag does not match (forged, altered, or signed with another key)
  expired,        // now >= expires_at
  wrong_kind,     // a refresh token where a session token is wanted, or the reverse
};
const char* to_string(TokenError e);

struct IssuedToken {
  std::string token;
  TokenPayload payload;
};

class TokenSigner {
 public:
  using Key = std::array<unsigned char, kTokenKeyBytes>;

  explicit TokenSigner(const Key& key);
  // Throws std::invalid_argument unless key.size() == kTokenKeyBytes.
  explicit TokenSigner(std::span<const unsigned char> key);
  ~TokenSigner();  // wipes the key
  TokenSigner(const TokenSigner&) = delete;
  TokenSigner& operator=(const TokenSigner&) = delete;

  // A fresh random key (for config generation and tests).
  static Key generate_key();

  // Throws std::invalid_argument if account_id or username is longer than
  // kMaxTokenFieldBytes or ttl_seconds <= 0.
  IssuedToken issue(TokenKind kind, std::string_view account_id, std::string_view username,
                    int64_t now, int64_t ttl_seconds) const;

  // The payload if `token` is well formed, signed by this key, of `kind`, and not expired
  // at `now`; the signature is checked (in constant time) before anything else is trusted.
  std::variant<TokenPayload, TokenError> verify(std::string_view token, TokenKind kind,
                                                int64_t now) const;

 private:
  Key key_{};
};

}  // namespace craft::auth
