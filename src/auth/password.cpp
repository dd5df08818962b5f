#include "auth/password.hpp"

#include <sodium.h>

#include "auth/sodium.hpp"

namespace craft::auth {
namespace {

struct Limits {
  unsigned long long ops;
  std::size_t mem;
};

Limits limits_for(PasswordCost cost) {
  switch (cost) {
    case PasswordCost::moderate:
      return {crypto_pwhash_argon2id_OPSLIMIT_MODERATE, crypto_pwhash_argon2id_MEMLIMIT_MODERATE};
    case PasswordCost::test_only:
      return {crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN};
    case PasswordCost::interactive:
      break;
  }
  return {crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE};
}

}  // namespace

std::optional<std::string> hash_password(std::string_view password, PasswordCost cost) {
  if (password.empty() || password.size() > kMaxPasswordBytes) return std::nullopt;
  ensure_sodium();
  Limits l = limits_for(cost);
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), l.ops, l.mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return std::nullopt;  // out of memory
  }
  return std::string(out);
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (password.size() > kMaxPasswordBytes) return false;
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  ensure_sodium();
  char stored[crypto_pwhash_STRBYTES] = {};
  hash.copy(stored, hash.size());  // crypto_pwhash_str_verify wants a NUL-terminated string
  return crypto_pwhash_str_verify(stored, password.data(), password.size()) == 0;
}

bool verify_password_dummy(std::string_view password) {
  // Made once, at the production cost, so its verification takes as long as a real one.
  static const std::string dummy = hash_password("craft-dummy-password").value_or("");
  (void)verify_password(password.empty() ? std::string_view("x") : password, dummy);
  return false;
}

bool needs_rehash(std::string_view hash, PasswordCost cost) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return true;
  ensure_sodium();
  char stored[crypto_pwhash_STRBYTES] = {};
  hash.copy(stored, hash.size());
  Limits l = limits_for(cost);
  return crypto_pwhash_str_needs_rehash(stored, l.ops, l.mem) != 0;
}

}  // namespace craft::auth
