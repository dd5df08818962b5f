// The X-Forwarded-For walk and the address parser (src/net/forwarded.*) on hostile bytes.
// Input: one byte of max_hops, then header lines for a request head (so several headers,
// odd spacing and commas all reach the walk). Besides "no crash, no UB" (ASan/UBSan): an
// address parse_address accepts formats and parses back to the same key, a refused
// trusted_proxies list says why, and a client the walk names round-trips the same way.
#include "fuzz_check.hpp"
#include "net/forwarded.hpp"
#include "net/http_request.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using namespace craft::net;

namespace {

const AddressRanges& trusted() {
  static const AddressRanges t = [] {
    AddressRanges p;
    std::string error;
    FUZZ_CHECK(p.parse("127.0.0.1, 10.0.0.0/8, ::1, fd00::/8", error));
    return p;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint32_t max_hops = 1 + data[0] % 16;
  std::string_view lines(reinterpret_cast<const char*>(data) + 1, size - 1);

  // The raw bytes as one address: parsed ones format back to the same key.
  IpKey raw{};
  if (parse_address(lines, raw)) {
    IpKey again{};
    FUZZ_CHECK(parse_address(format_address(raw), again) && again == raw);
  }
  // And as a trusted_proxies list: only well-formed entries pass (config, but never crash).
  AddressRanges list;
  std::string error;
  if (!list.parse(lines, error)) FUZZ_CHECK(!error.empty());

  std::string head = "GET /ws HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ";
  head.append(lines);
  head += "\r\n\r\n";
  craft::http::Request request;
  size_t length = 0;
  if (craft::http::parse_request(head, request, length) != craft::http::ParseResult::complete) return 0;
  IpKey client{};
  auto r = client_from_forwarded_for(request, trusted(), max_hops, client);
  if (r != ForwardedResult::client) return 0;
  std::string text = format_address(client);
  IpKey again{};
  FUZZ_CHECK(parse_address(text, again) && again == client);
  return 0;
}
