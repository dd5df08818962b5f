#include "ws_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace tally::test {

WsClient::WsClient(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + std::strerror(errno));
  timeval timeout{5, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string request =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  std::string head;
  char ch = 0;
  while (head.size() < 4096 && !head.ends_with("\r\n\r\n") && read_exact(&ch, 1)) head += ch;
  if (!head.starts_with("HTTP/1.1 101")) throw std::runtime_error("upgrade refused: " + head);
}

WsClient::~WsClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool WsClient::read_exact(void* out, size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    ssize_t got = ::recv(fd_, p, n, 0);
    if (got <= 0) return false;
    p += got, n -= static_cast<size_t>(got);
  }
  return true;
}

void WsClient::send_text(const std::string& json) {
  // Client frames must be masked; an all-zero mask leaves the payload as it is.
  std::string frame{'\x81'};
  if (json.size() < 126) {
    frame += static_cast<char>(0x80 | json.size());
  } else {
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(json.size() >> 8);
    frame += static_cast<char>(json.size() & 0xff);
  }
  frame.append(4, '\0');
  frame += json;
  ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
}

std::optional<std::string> WsClient::receive() {
  for (;;) {
    unsigned char head[2];
    if (!read_exact(head, 2)) return std::nullopt;
    uint64_t length = head[1] & 0x7f;
    if (length >= 126) {
      unsigned char ext[8];
      size_t n = length == 126 ? 2 : 8;
      if (!read_exact(ext, n)) return std::nullopt;
      length = 0;
      for (size_t i = 0; i < n; ++i) length = (length << 8) | ext[i];
    }
    if (length > (1u << 20)) return std::nullopt;
    std::string payload(length, '\0');
    if (!read_exact(payload.data(), length)) return std::nullopt;
    int opcode = head[0] & 0x0f;
    if (opcode == 1) return payload;
    if (opcode == 8) {  // close: the code is the first two bytes
      if (payload.size() >= 2) close_code_ = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
      return std::nullopt;
    }
    // binary (a disconnect envelope before hello), ping, pong: skip
  }
}

std::optional<std::string> WsClient::receive_until(const std::string& needle) {
  while (auto text = receive()) {
    if (text->find(needle) != std::string::npos) return text;
  }
  return std::nullopt;
}

namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64(const std::string& bytes) {
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c, count += 8;
    while (count >= 6) out += alphabet[(bits >> (count -= 6)) & 63];
  }
  if (count > 0) out += alphabet[(bits << (6 - count)) & 63];
  while (out.size() % 4) out += '=';
  return out;
}

std::string unbase64(const std::string& text) {
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const char* at = std::strchr(alphabet, c);
    if (c == '=' || c == '\0' || !at) break;
    bits = (bits << 6) | static_cast<uint32_t>(at - alphabet), count += 6;
    if (count >= 8) out += static_cast<char>((bits >> (count -= 8)) & 0xff);
  }
  return out;
}

std::string json_string(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":\"");
  if (at == std::string::npos) return "";
  at += key.size() + 4;
  return json.substr(at, json.find('"', at) - at);
}

}  // namespace tally::test
