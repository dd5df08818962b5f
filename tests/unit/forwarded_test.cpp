// server.trusted_proxies and the X-Forwarded-For walk (src/net/forwarded.hpp).
#include "net/forwarded.hpp"
#include "net/http_request.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace craft::net;

namespace {

IpKey key(const char* text) {
  IpKey k{};
  EXPECT_TRUE(parse_address(text, k)) << text;
  return k;
}

AddressRanges trust(const char* list) {
  AddressRanges t;
  std::string error;
  EXPECT_TRUE(t.parse(list, error)) << list << ": " << error;
  return t;
}

// The client from a request head with these header lines; "" = no header.
struct Walk {
  ForwardedResult result;
  std::string client;
};

Walk walk(const std::string& header_lines, const char* trusted, uint32_t max_hops = 8) {
  std::string head = "GET /ws HTTP/1.1\r\nHost: x\r\n" + header_lines + "\r\n";
  craft::http::Request request;
  size_t length = 0;
  EXPECT_EQ(craft::http::parse_request(head, request, length), craft::http::ParseResult::complete) << head;
  IpKey client{};
  auto r = client_from_forwarded_for(request, trust(trusted), max_hops, client);
  return {r, r == ForwardedResult::client ? format_address(client) : ""};
}

}  // namespace

TEST(Forwarded, ParsesLiteralAddressesOnly) {
  IpKey k{};
  EXPECT_TRUE(parse_address("192.0.2.7", k));
  EXPECT_EQ(format_address(k), "192.0.2.7");
  EXPECT_TRUE(parse_address("2001:db8::1", k));
  EXPECT_EQ(format_address(k), "2001:db8::1");
  EXPECT_TRUE(parse_address("[2001:db8::1]", k));
  EXPECT_EQ(format_address(k), "2001:db8::1");
  // IPv4-mapped IPv6 is the same key as the IPv4 address (a dual-stack socket's peer).
  EXPECT_EQ(key("::ffff:192.0.2.7"), key("192.0.2.7"));
  EXPECT_NE(key("::1"), key("0.0.0.1"));
  for (const char* bad : {"", " 1.2.3.4", "1.2.3.4:80", "[1.2.3.4]", "1.2.3", "256.1.1.1", "example.com",
                          "fe80::1%eth0", "[2001:db8::1]:443", "[::1", "unknown", "1.2.3.4 ",
                          "0000:0000:0000:0000:0000:0000:0000:0000:0000"}) {
    EXPECT_FALSE(parse_address(bad, k)) << bad;
  }
  EXPECT_FALSE(parse_address(std::string_view("1.2.3.4\0", 8), k));
  EXPECT_FALSE(parse_address(std::string(5000, '1'), k));
}

TEST(Forwarded, AddressRangesTakeAddressesAndCidrRanges) {
  auto t = trust("127.0.0.1, ::1 10.0.0.0/8,fd00::/8  192.168.1.0/24");
  EXPECT_TRUE(t.contains(key("127.0.0.1")));
  EXPECT_FALSE(t.contains(key("127.0.0.2")));
  EXPECT_TRUE(t.contains(key("::1")));
  EXPECT_TRUE(t.contains(key("10.255.1.2")));
  EXPECT_FALSE(t.contains(key("11.0.0.1")));
  EXPECT_TRUE(t.contains(key("fdab::7")));
  EXPECT_FALSE(t.contains(key("fe80::7")));
  EXPECT_TRUE(t.contains(key("192.168.1.200")));
  EXPECT_FALSE(t.contains(key("192.168.2.1")));
  EXPECT_TRUE(t.contains(key("::ffff:10.0.0.1")));
  // A host address with bits past its prefix is masked, as nginx's set_real_ip_from does.
  EXPECT_TRUE(trust("10.1.2.3/16").contains(key("10.1.99.99")));
  EXPECT_TRUE(trust("0.0.0.0/0").contains(key("8.8.8.8")));
  EXPECT_FALSE(trust("0.0.0.0/0").contains(key("2001:db8::1")));
  EXPECT_TRUE(trust("::/0").contains(key("2001:db8::1")));

  AddressRanges empty;
  std::string error;
  EXPECT_TRUE(empty.parse("", error));
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.contains(key("127.0.0.1")));
  for (const char* bad : {"localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "1.2.3.4/0008",
                          "[::1]/128", "1.2.3.4:80"}) {
    AddressRanges t2;
    EXPECT_FALSE(t2.parse(bad, error)) << bad;
    EXPECT_NE(error.find(std::string(bad).substr(0, 4)), std::string::npos) << error;
  }
}

TEST(Forwarded, WalksRightToLeftToTheFirstUntrustedAddress) {
  // nginx appends its peer: the rightmost entry is the one our trusted peer wrote.
  EXPECT_EQ(walk("X-Forwarded-For: 203.0.113.9\r\n", "127.0.0.1").client, "203.0.113.9");
  // Whatever the client wrote itself (left of the real entry) is never read.
  auto w = walk("X-Forwarded-For: 1.1.1.1, not-an-address, 203.0.113.9\r\n", "127.0.0.1");
  EXPECT_EQ(w.result, ForwardedResult::client);
  EXPECT_EQ(w.client, "203.0.113.9");
  // A chain of trusted proxies: each vouches for the entry to its left.
  EXPECT_EQ(walk("X-Forwarded-For: 6.6.6.6, 198.51.100.4, 10.0.0.2, 10.0.0.3\r\n", "127.0.0.1, 10.0.0.0/8").client,
            "198.51.100.4");
  // Several headers are one list, in order.
  EXPECT_EQ(walk("X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 2001:db8::5 , 10.0.0.3\r\n", "10.0.0.0/8").client,
            "2001:db8::5");
  EXPECT_EQ(walk("X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 10.0.0.3\r\n", "10.0.0.0/8").client, "6.6.6.6");
  // Every entry trusted: the leftmost is the client.
  EXPECT_EQ(walk("X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n", "10.0.0.0/8").client, "10.0.0.1");
  EXPECT_EQ(walk("", "127.0.0.1").result, ForwardedResult::absent);
  EXPECT_EQ(walk("X-Forwarded-Host: a\r\n", "127.0.0.1").result, ForwardedResult::absent);
}

TEST(Forwarded, GarbageWhereTheWalkReadsIsBad) {
  for (const char* line : {"X-Forwarded-For: unknown\r\n", "X-Forwarded-For: 1.2.3.4:5678\r\n",
                           "X-Forwarded-For: 1.1.1.1,\r\n", "X-Forwarded-For: 1.1.1.1,,10.0.0.1\r\n",
                           "X-Forwarded-For: \r\n", "X-Forwarded-For: _gateway, 10.0.0.1\r\n"}) {
    EXPECT_EQ(walk(line, "10.0.0.0/8").result, ForwardedResult::bad) << line;
  }
  std::string overlong = "X-Forwarded-For: " + std::string(4000, '9') + "\r\n";
  EXPECT_EQ(walk(overlong, "10.0.0.0/8").result, ForwardedResult::bad);
}

TEST(Forwarded, ReadsAtMostMaxHopsEntries) {
  EXPECT_EQ(walk("X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3\r\n", "10.0.0.0/8", 2).result,
            ForwardedResult::too_many);
  EXPECT_EQ(walk("X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n", "10.0.0.0/8", 2).client, "10.0.0.1");
  // A long list from the client costs nothing: the walk stops at the first untrusted entry.
  std::string list;
  for (int i = 0; i < 500; ++i) list += "10.0.0.1, ";
  EXPECT_EQ(walk("X-Forwarded-For: " + list + "192.0.2.1\r\n", "10.0.0.0/8", 2).client, "192.0.2.1");
}
