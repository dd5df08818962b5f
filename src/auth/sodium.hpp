// libsodium helpers shared by auth and store: one-time init and random ids.
#pragma once
#include <cstddef>
#include <string>

namespace craft::auth {

// Calls sodium_init() once (thread-safe); throws std::runtime_error if libsodium cannot start.
void ensure_sodium();

// `bytes` random bytes from the OS CSPRNG, as lowercase hex (2 * bytes characters).
std::string random_hex(std::size_t bytes);

// A random version-4 UUID in the usual 8-4-4-4-12 lowercase form (account ids).
std::string random_uuid();

}  // namespace craft::auth
