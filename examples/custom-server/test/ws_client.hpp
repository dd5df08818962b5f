// Just enough of a WebSocket client (RFC 6455) to drive a room with JSON text frames
// (docs/protocol.md §1): blocking POSIX sockets, for tests only. A real game uses the JS SDK,
// craft's C++ client (sdk/cpp) or any WebSocket library.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace tally::test {

class WsClient {
 public:
  // Connects to 127.0.0.1:port and upgrades at /ws; throws std::runtime_error on failure.
  explicit WsClient(uint16_t port);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void send_text(const std::string& json);
  // The next text frame's payload; nullopt once the server closed (close_code() says how)
  // or nothing came within 5 s.
  std::optional<std::string> receive();
  // Receives until a text frame contains `needle`; nullopt as receive() does.
  std::optional<std::string> receive_until(const std::string& needle);
  int close_code() const { return close_code_; }

 private:
  bool read_exact(void* out, size_t n);
  int fd_ = -1;
  int close_code_ = 0;
};

std::string base64(const std::string& bytes);
std::string unbase64(const std::string& text);
// The string value of "key":"..." in a JSON text, or "" (no escapes: enough for ids and base64).
std::string json_string(const std::string& json, const std::string& key);

}  // namespace tally::test
