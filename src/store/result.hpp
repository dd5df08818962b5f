// The result type of every Store call: a value or an Error with a code.
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace craft::store {

enum class Errc {
  not_found,          // no such account / object / leaderboard / record
  conflict,           // a storage version did not match ("*" and the object exists, or stale)
  already_exists,     // unique username, email, linked id, leaderboard id
  permission_denied,  // storage read/write permission, or another owner's object
  invalid,            // bad input: empty or oversized fields, bad limits, unlinking the last id
  unavailable,        // the database failed (I/O, connection lost); the message says why
};
const char* to_string(Errc c);

struct Error {
  Errc code;
  std::string message;
  int index = -1;  // for batch calls: the position of the item that failed, else -1
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(implicit)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }
  // The code of the error; only meaningful when !ok().
  Errc code() const { return std::get<1>(v_).code; }

 private:
  std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

inline Error make_error(Errc code, std::string message, int index = -1) {
  return Error{code, std::move(message), index};
}

}  // namespace craft::store
