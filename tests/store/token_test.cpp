#include "auth/token.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>
#include <vector>

using namespace craft::auth;

namespace {

constexpr int64_t kNow = 1'700'000'000;

TokenError error_of(const std::variant<TokenPayload, TokenError>& v) {
  EXPECT_TRUE(std::holds_alternative<TokenError>(v));
  return std::holds_alternative<TokenError>(v) ? std::get<TokenError>(v) : TokenError::malformed;
}

}  // namespace

TEST(Token, RoundTrip) {
  TokenSigner signer(TokenSigner::generate_key());
  IssuedToken t = signer.issue(TokenKind::session, "acc-1", "alice", kNow, 3600);
  EXPECT_EQ(t.token.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_EQ(t.payload.token_id.size(), 32u);

  auto v = signer.verify(t.token, TokenKind::session, kNow + 10);
  ASSERT_TRUE(std::holds_alternative<TokenPayload>(v)) << to_string(std::get<TokenError>(v));
  const TokenPayload& p = std::get<TokenPayload>(v);
  EXPECT_EQ(p.account_id, "acc-1");
  EXPECT_EQ(p.username, "alice");
  EXPECT_EQ(p.token_id, t.payload.token_id);
  EXPECT_EQ(p.kind, TokenKind::session);
  EXPECT_EQ(p.issued_at, kNow);
  EXPECT_EQ(p.expires_at, kNow + 3600);

  // Every token gets its own id.
  EXPECT_NE(signer.issue(TokenKind::session, "acc-1", "alice", kNow, 3600).payload.token_id,
            p.token_id);
}

TEST(Token, EmptyAndLongestFieldsRoundTrip) {
  TokenSigner signer(TokenSigner::generate_key());
  std::string longest(kMaxTokenFieldBytes, 'z');
  for (auto [id, name] : {std::pair<std::string, std::string>{"", ""}, {longest, longest}}) {
    auto t = signer.issue(TokenKind::refresh, id, name, kNow, 60);
    auto v = signer.verify(t.token, TokenKind::refresh, kNow);
    ASSERT_TRUE(std::holds_alternative<TokenPayload>(v));
    EXPECT_EQ(std::get<TokenPayload>(v).account_id, id);
    EXPECT_EQ(std::get<TokenPayload>(v).username, name);
  }
  EXPECT_THROW(signer.issue(TokenKind::session, longest + "z", "a", kNow, 60),
               std::invalid_argument);
  EXPECT_THROW(signer.issue(TokenKind::session, "a", "a", kNow, 0), std::invalid_argument);
}

TEST(Token, Expired) {
  TokenSigner signer(TokenSigner::generate_key());
  auto t = signer.issue(TokenKind::session, "acc", "bob", kNow, 3600);
  EXPECT_TRUE(std::holds_alternative<TokenPayload>(signer.verify(t.token, TokenKind::session,
                                                                 kNow + 3599)));
  EXPECT_EQ(error_of(signer.verify(t.token, TokenKind::session, kNow + 3600)), TokenError::expired);
  EXPECT_EQ(error_of(signer.verify(t.token, TokenKind::session, kNow + 999999)),
            TokenError::expired);
}

TEST(Token, ForgedByFlippingAnyByteIsRejected) {
  TokenSigner signer(TokenSigner::generate_key());
  auto t = signer.issue(TokenKind::session, "acc", "carol", kNow, 3600);
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // The last character of unpadded base64 may carry unused low bits (4 when the length is 2
  // mod 4, 2 when it is 3 mod 4), which a strict decoder requires to be zero.
  const std::size_t unused_bits = (t.token.size() * 6) % 8;
  for (std::size_t i = 0; i < t.token.size(); ++i) {
    std::string forged = t.token;
    // Replace with the next base64url character.
    std::size_t value = (alphabet.find(forged[i]) + 1) % alphabet.size();
    forged[i] = alphabet[value];
    TokenError e = error_of(signer.verify(forged, TokenKind::session, kNow));
    // Anywhere but in the unused bits the change reaches the signed bytes: a bad signature.
    // Setting an unused bit makes the text non-canonical base64: malformed.
    bool sets_unused_bits = i + 1 == t.token.size() && (value & ((1u << unused_bits) - 1)) != 0;
    TokenError expected = sets_unused_bits ? TokenError::malformed : TokenError::bad_signature;
    EXPECT_EQ(e, expected) << "position " << i << " of " << t.token.size() << ": " << to_string(e) << ", expected "
                           << to_string(expected);
  }
}

TEST(Token, WrongKeyIsABadSignature) {
  TokenSigner signer(TokenSigner::generate_key());
  TokenSigner other(TokenSigner::generate_key());
  auto t = signer.issue(TokenKind::session, "acc", "dave", kNow, 3600);
  EXPECT_EQ(error_of(other.verify(t.token, TokenKind::session, kNow)), TokenError::bad_signature);
}

TEST(Token, WrongKind) {
  TokenSigner signer(TokenSigner::generate_key());
  auto refresh = signer.issue(TokenKind::refresh, "acc", "erin", kNow, 86400);
  auto session = signer.issue(TokenKind::session, "acc", "erin", kNow, 3600);
  EXPECT_EQ(error_of(signer.verify(refresh.token, TokenKind::session, kNow)),
            TokenError::wrong_kind);
  EXPECT_EQ(error_of(signer.verify(session.token, TokenKind::refresh, kNow)),
            TokenError::wrong_kind);
  EXPECT_TRUE(std::holds_alternative<TokenPayload>(
      signer.verify(refresh.token, TokenKind::refresh, kNow)));
}

TEST(Token, Malformed) {
  TokenSigner signer(TokenSigner::generate_key());
  auto t = signer.issue(TokenKind::session, "acc", "frank", kNow, 3600);
  for (const std::string& bad :
       {std::string(), std::string("not base64!"), std::string("abc"), t.token + "=",
        t.token.substr(0, 20), std::string(5000, 'A'), t.token + " "}) {
    EXPECT_EQ(error_of(signer.verify(bad, TokenKind::session, kNow)), TokenError::malformed)
        << bad.substr(0, 40);
  }
  // Cut short or extended by whole bytes (still valid base64url, still long enough to hold
  // a tag): the signature no longer matches.
  std::vector<unsigned char> raw(t.token.size());
  std::size_t n = 0;
  ASSERT_EQ(sodium_base642bin(raw.data(), raw.size(), t.token.data(), t.token.size(), nullptr, &n,
                              nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
            0);
  raw.resize(n);
  auto encode = [](const std::vector<unsigned char>& bytes) {
    std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                    '\0');
    sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out.pop_back();
    return out;
  };
  ASSERT_EQ(encode(raw), t.token);
  std::vector<unsigned char> shorter(raw.begin(), raw.end() - 3);
  std::vector<unsigned char> longer = raw;
  longer.push_back(0);
  EXPECT_EQ(error_of(signer.verify(encode(shorter), TokenKind::session, kNow)),
            TokenError::bad_signature);
  EXPECT_EQ(error_of(signer.verify(encode(longer), TokenKind::session, kNow)),
            TokenError::bad_signature);
}

TEST(Token, KeyMustBe32Bytes) {
  unsigned char short_key[16] = {};
  EXPECT_THROW(TokenSigner(std::span<const unsigned char>(short_key, 16)), std::invalid_argument);
  unsigned char key[32] = {};
  TokenSigner ok(std::span<const unsigned char>(key, 32));
  auto t = ok.issue(TokenKind::session, "a", "b", kNow, 1);
  EXPECT_TRUE(std::holds_alternative<TokenPayload>(ok.verify(t.token, TokenKind::session, kNow)));
}
