// The one rule for identity inputs a client names: device ids, custom ids, usernames and
// emails (docs/http-api.md §3.6). Two spellings that look alike must not become two accounts,
// so a value with a hidden difference is refused with a clear message rather than silently
// changed; the only change craftd makes is ASCII case folding, for comparison:
//   - valid UTF-8, within the documented byte lengths;
//   - no control characters (U+0000-U+001F, U+007F-U+009F);
//   - no blank at either end (Unicode White_Space: U+0009-U+000D, U+0020, U+0085, U+00A0,
//     U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000; and U+FEFF);
//   - emails: no blank anywhere, one '@' with text on both sides; compared and stored with
//     A-Z lower-cased (the whole address);
//   - usernames: unique ignoring A-Z case (the store's unique index on lower(username));
//   - device and custom ids: compared exactly, byte for byte.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace craft::api {

inline constexpr std::size_t kMinDeviceIdBytes = 10, kMaxDeviceIdBytes = 128;
inline constexpr std::size_t kMinCustomIdBytes = 6, kMaxCustomIdBytes = 128;
inline constexpr std::size_t kMinUsernameBytes = 1, kMaxUsernameBytes = 128;
inline constexpr std::size_t kMinEmailBytes = 3, kMaxEmailBytes = 254;

// Why `value` breaks the identity rule (a message naming `what`), or nullopt if it keeps it.
std::optional<std::string> identity_problem(std::string_view what, std::string_view value, std::size_t min_bytes,
                                            std::size_t max_bytes);
// The identity rule plus the email rules above.
std::optional<std::string> email_problem(std::string_view email);
// A-Z -> a-z; every other byte as is.
std::string fold_ascii_case(std::string_view s);

}  // namespace craft::api
