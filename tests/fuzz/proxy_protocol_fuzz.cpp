// The PROXY protocol header parser (src/net/proxy_protocol.*) on hostile bytes, as
// Connection feeds it: the stream so far, again and again as bytes arrive. Besides "no
// crash, no UB": waiting is bounded (need_more only below the spec's sizes), a header's
// length lies inside the input, every proper prefix of a header waits, and a client it
// names round-trips through the address parser.
#include "fuzz_check.hpp"
#include "net/proxy_protocol.hpp"

#include <cstdint>
#include <string_view>

using namespace craft::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  IpKey client{};
  size_t length = 0;
  auto r = parse_proxy_header(input, client, length);
  if (r == ProxyHeader::need_more) FUZZ_CHECK(size < 16 + max_proxy_v2_bytes && size < 16 + 65536);
  if (r == ProxyHeader::need_more && !input.empty() && input[0] == 'P') FUZZ_CHECK(size < max_proxy_v1_bytes);
  if (r != ProxyHeader::client && r != ProxyHeader::local) return 0;
  FUZZ_CHECK(length > 0 && length <= size);
  for (size_t cut = 0; cut < length; ++cut) {
    IpKey c{};
    size_t l = 0;
    FUZZ_CHECK(parse_proxy_header(input.substr(0, cut), c, l) == ProxyHeader::need_more);
  }
  IpKey again{}, c2{};
  size_t l2 = 0;
  FUZZ_CHECK(parse_proxy_header(input.substr(0, length), c2, l2) == r && l2 == length);
  if (r == ProxyHeader::client) FUZZ_CHECK(parse_address(format_address(client), again) && again == client);
  return 0;
}
