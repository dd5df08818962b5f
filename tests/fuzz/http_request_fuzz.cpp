// The HTTP request-head parser (src/net/http_request.*) on hostile bytes. Besides "no crash,
// no UB": a complete head ends at its blank line, every view points inside the input, no
// header name or value holds a line break, every prefix short of the blank line is
// "incomplete" (what Connection waits on) unless a bare LF already made it "bad", and the helpers the server calls on a parsed
// request stay in range.
#include "fuzz_check.hpp"
#include "net/http_request.hpp"

#include <cstdint>
#include <string_view>

using namespace craft::http;

namespace {

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Request request;
  size_t head_length = 0;
  auto r = parse_request(input, request, head_length);
  auto blank_line = input.find("\r\n\r\n");
  bool has_blank_line = blank_line != std::string_view::npos;
  // A bare LF before the head's end is refused at once; otherwise a head without its blank
  // line is incomplete.
  bool bare_lf = false;
  const size_t scan = has_blank_line ? blank_line + 4 : input.size();
  for (size_t i = 0; i < scan; ++i) bare_lf |= input[i] == '\n' && (i == 0 || input[i - 1] != '\r');
  if (!has_blank_line) FUZZ_CHECK(r == (bare_lf ? ParseResult::bad : ParseResult::incomplete));
  if (has_blank_line) FUZZ_CHECK(r != ParseResult::incomplete);
  if (bare_lf) FUZZ_CHECK(r == ParseResult::bad);
  if (r != ParseResult::complete) return 0;

  FUZZ_CHECK(head_length >= 4 && head_length <= input.size());
  FUZZ_CHECK(input.substr(head_length - 4, 4) == "\r\n\r\n");
  FUZZ_CHECK(input.substr(0, head_length - 4).find("\r\n\r\n") == std::string_view::npos);
  auto head = input.substr(0, head_length);
  FUZZ_CHECK(inside(request.method, head) && inside(request.target, head) && inside(request.version, head));
  FUZZ_CHECK(!request.target.empty() && request.target.front() == '/');
  FUZZ_CHECK(request.version.starts_with("HTTP/1."));
  for (auto& [name, value] : request.headers) {
    FUZZ_CHECK(!name.empty() && inside(name, head) && inside(value, head));
    FUZZ_CHECK(name.find(':') == std::string_view::npos);
    FUZZ_CHECK(name.find('\n') == std::string_view::npos && value.find('\n') == std::string_view::npos);
    FUZZ_CHECK(name.find('\r') == std::string_view::npos && value.find('\r') == std::string_view::npos);
    FUZZ_CHECK(inside(request.header(name), head));
  }
  auto path = request.path();
  FUZZ_CHECK(inside(path, request.target) && path.find('?') == std::string_view::npos);
  (void)request.wants_websocket();
  long long length = content_length(request);
  FUZZ_CHECK(length >= -1);
  // A request cut anywhere before its blank line is still incomplete.
  Request partial;
  size_t partial_length = 0;
  FUZZ_CHECK(parse_request(input.substr(0, head_length - 1), partial, partial_length) == ParseResult::incomplete);
  return 0;
}
