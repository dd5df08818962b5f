// Password hashing with Argon2id (libsodium crypto_pwhash_str). The stored string is
// self-describing ($argon2id$v=19$m=...,t=...,p=...$salt$hash), so costs can change later
// and old hashes still verify; needs_rehash() tells when to upgrade one after a login.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace craft::auth {

enum class PasswordCost {
  interactive,  // libsodium's INTERACTIVE limits (64 MiB, 2 passes): the production default
  moderate,     // MODERATE limits (256 MiB, 3 passes)
  test_only,    // the minimum limits (8 KiB, 1 pass): for tests, never for real accounts
};

// Longest password accepted; longer input is refused before any hashing work.
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// The Argon2id hash string of `password`, or nullopt if the password is empty or longer
// than kMaxPasswordBytes, or if the memory for hashing cannot be allocated.
std::optional<std::string> hash_password(std::string_view password,
                                         PasswordCost cost = PasswordCost::interactive);

// True if `password` matches `hash`. The comparison inside libsodium is constant-time; a
// malformed hash or an over-long password is simply false.
bool verify_password(std::string_view password, std::string_view hash);

// Runs one verification against a fixed dummy hash and returns false. Call it when the
// account does not exist, so "no such account" costs as much time as "wrong password".
bool verify_password_dummy(std::string_view password);

// True if `hash` was made with other costs than `cost` (or is not a valid hash).
bool needs_rehash(std::string_view hash, PasswordCost cost = PasswordCost::interactive);

}  // namespace craft::auth
