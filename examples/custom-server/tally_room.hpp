// A custom room type: every player adds numbers to one shared total.
//   client -> room  op 1, data = a whole number as text ("5", "-2")
//   room -> all     op 2, data = the new total as text, sender = who added
//   join state      the current total as text
// Bad input (not a number, or one outside +-1000) is answered with BAD_REQUEST.
#pragma once
#include <craft/room.hpp>

#include <cstdint>

namespace tally {

class TallyRoom : public craft::Room {
 public:
  static constexpr uint32_t op_add = 1;
  static constexpr uint32_t op_total = 2;

  void on_create(std::string_view options) override;
  std::string join_state(const craft::Client& client) override;
  void on_message(const craft::Client& from, const craft::Message& message) override;

 private:
  int64_t total_ = 0;
};

}  // namespace tally
