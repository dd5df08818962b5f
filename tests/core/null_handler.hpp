// A ShardHandler that does nothing: for tests of shards and what runs on them, without the
// server's core.
#pragma once
#include "net/handler.hpp"

namespace craft::testing {

struct NullHandler final : ShardHandler {
  bool http_wants_body(const http::Request&) override { return false; }
  std::string http_refusal(const http::Request&, int, std::string_view) override { return {}; }
  std::string http_request(Shard&, const http::Request&, std::string_view, const IpKey&, HttpRespond) override {
    return {};
  }
  void on_sweep(Shard&, TimePoint) override {}
  void on_shutdown(Shard&) override {}
  void on_connection_released(const IpKey&) override {}
};

}  // namespace craft::testing
