// The PROXY protocol header on the TCP port from trusted proxies (src/net/proxy_protocol.hpp).
#include "net/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace craft::net;

namespace {

struct Parsed {
  ProxyHeader result;
  std::string client;
  size_t length;
};

Parsed parse(std::string_view data) {
  IpKey client{};
  size_t length = 99;
  auto r = parse_proxy_header(data, client, length);
  return {r, r == ProxyHeader::client ? format_address(client) : "", length};
}

std::string v2(uint8_t ver_cmd, uint8_t family, std::string body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(family);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

}  // namespace

TEST(ProxyProtocol, VersionOneNamesTheClientAndItsLength) {
  std::string header = "PROXY TCP4 203.0.113.7 127.0.0.1 56324 7778\r\n";
  auto p = parse(header + "\x00\x00\x00\x02hi");
  EXPECT_EQ(p.result, ProxyHeader::client);
  EXPECT_EQ(p.client, "203.0.113.7");
  EXPECT_EQ(p.length, header.size());
  p = parse("PROXY TCP6 2001:db8::7 ::1 1 65535\r\n");
  EXPECT_EQ(p.result, ProxyHeader::client);
  EXPECT_EQ(p.client, "2001:db8::7");
  EXPECT_EQ(parse("PROXY UNKNOWN\r\n").result, ProxyHeader::local);
  EXPECT_EQ(parse("PROXY UNKNOWN ffff::1 ::1 5 6\r\n").length, 31u);
}

TEST(ProxyProtocol, PrefixesWaitAndOtherStreamsAreNotHeaders) {
  for (const char* prefix : {"P", "PROX", "PROXY ", "PROXY TCP4 203.0.113.7 127.0.0.1 5632", "\r\n\r\n"}) {
    EXPECT_EQ(parse(prefix).result, ProxyHeader::need_more) << prefix;
  }
  EXPECT_EQ(parse(v2(0x21, 0x11, std::string(12, '\1')).substr(0, 20)).result, ProxyHeader::need_more);
  // A craft TCP stream starts with a 4-byte length: never a header.
  EXPECT_EQ(parse(std::string("\x00\x00\x00\x05", 4)).result, ProxyHeader::none);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n").result, ProxyHeader::none);
  EXPECT_EQ(parse("PROXX").result, ProxyHeader::none);
}

TEST(ProxyProtocol, MalformedVersionOneIsBad) {
  for (const char* bad : {"PROXY TCP4 203.0.113.7 127.0.0.1 56324\r\n", "PROXY TCP4 203.0.113.7 127.0.0.1 1 2 3\r\n",
                          "PROXY TCP5 203.0.113.7 127.0.0.1 1 2\r\n", "PROXY TCP4 2001:db8::7 127.0.0.1 1 2\r\n",
                          "PROXY TCP6 203.0.113.7 ::1 1 2\r\n", "PROXY TCP4 203.0.113.7 127.0.0.1 65536 2\r\n",
                          "PROXY TCP4 203.0.113.7 127.0.0.1 01 2\r\n", "PROXY TCP4 203.0.113.7  127.0.0.1 1 2\r\n",
                          "PROXY TCP4 host 127.0.0.1 1 2\r\n", "PROXY \r\n"}) {
    EXPECT_EQ(parse(bad).result, ProxyHeader::bad) << bad;
  }
  // No CRLF within the spec's 107 bytes.
  EXPECT_EQ(parse("PROXY TCP4 " + std::string(96, '1')).result, ProxyHeader::bad);
  EXPECT_EQ(parse("PROXY TCP4 " + std::string(95, '1')).result, ProxyHeader::need_more);
  // A bare LF or CR ends the line badly at once (not after the handshake timeout); a CR at
  // the end of what has arrived waits for its LF, unless the LF would pass the bound.
  EXPECT_EQ(parse("PROXY TCP4 203.0.113.7 127.0.0.1 56324 443\n").result, ProxyHeader::bad);
  EXPECT_EQ(parse("PROXY TCP4 203.0.113.7 127.0.0.1 56324 443\rX").result, ProxyHeader::bad);
  EXPECT_EQ(parse("PROXY TCP4 203.0.113.7 127.0.0.1 56324 443\r").result, ProxyHeader::need_more);
  EXPECT_EQ(parse("PROXY TCP4 " + std::string(95, '1') + "\r").result, ProxyHeader::bad);
}

TEST(ProxyProtocol, VersionTwoReadsTcpAddressesAndSkipsTlvs) {
  const std::string v4("\xcb\x00\x71\x07" "\x7f\x00\x00\x01" "\xdc\x04" "\x1e\x62", 12);
  auto p = parse(v2(0x21, 0x11, v4) + "rest");
  EXPECT_EQ(p.result, ProxyHeader::client);
  EXPECT_EQ(p.client, "203.0.113.7");
  EXPECT_EQ(p.length, 28u);
  std::string v6(36, '\0');
  v6[0] = '\x20', v6[1] = '\x01', v6[2] = '\x0d', v6[3] = '\xb8', v6[15] = '\x07';
  p = parse(v2(0x21, 0x21, v6 + std::string(20, 'T')));  // TLVs after the addresses
  EXPECT_EQ(p.client, "2001:db8::7");
  EXPECT_EQ(p.length, 16u + 56);
  EXPECT_EQ(parse(v2(0x20, 0x00, "")).result, ProxyHeader::local);    // LOCAL: a health check
  EXPECT_EQ(parse(v2(0x21, 0x31, std::string(216, 'u'))).result, ProxyHeader::local);  // unix socket
  EXPECT_EQ(parse(v2(0x11, 0x11, v4)).result, ProxyHeader::bad);      // version 1 in a v2 header
  EXPECT_EQ(parse(v2(0x22, 0x11, v4)).result, ProxyHeader::bad);      // unknown command
  EXPECT_EQ(parse(v2(0x21, 0x11, v4.substr(0, 8))).result, ProxyHeader::bad);
  EXPECT_EQ(parse(v2(0x21, 0x21, v4)).result, ProxyHeader::bad);
  EXPECT_EQ(parse(v2(0x21, 0x11, std::string(max_proxy_v2_bytes + 1, 'x'))).result, ProxyHeader::bad);
}
