// cluster.redis_url, parsed: where the Redis server of a cluster is (docs/cluster.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace craft::cluster {

struct RedisAddress {
  std::string host;      // a name or an IPv4/IPv6 address (brackets removed)
  uint16_t port = 6379;
  std::string password;  // AUTH <password> after connecting; empty = none
  uint32_t database = 0; // SELECT <n> after connecting when not 0
};

// redis://[:password@]host[:port][/db]. nullopt and `why` set when `url` is not one; never
// throws (the loader calls it to refuse a bad config value early).
std::optional<RedisAddress> parse_redis_url(const std::string& url, std::string& why);

}  // namespace craft::cluster
