// Issue 9 kinds 2 and 3 against a real craftd: client JSON is checked (strict RFC 8259, at
// most limits.max_json_depth deep) before any parser sees it, so a hostile body never holds
// a shard; a JSON value is acknowledged only if exactly that value reads back, by everyone
// allowed to read it, over HTTP, JSON text frames and binary frames.
#include "helpers.hpp"

#include "net/ws_codec.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

using namespace craft;
using namespace craft::testing;

namespace {

constexpr size_t max_body = 64 * 1024;  // limits.max_http_body_bytes' default

// A JSON object nested exactly `depth` deep whose numbers most JSON libraries change.
std::string awkward_value(size_t depth) {
  return "{\"n\": 12345678901234567890, \"big\":9007199254740993,\"neg\":-0,\"f\":1.50,\"s\":\"\\u00e9\\ud83d\\ude00 \xc3\xa9\","
         "\"deep\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

// `prefix` + {"a":[[[[...]]]]} + `suffix`, 64 KB in all (issue 9 kind 2): the largest body
// the server takes, as deep as it can be, well formed, and where a parser without a depth
// check must walk all of it (a JSON value: google.protobuf.Struct before the fix).
std::string hostile_body(const std::string& prefix = "", const std::string& suffix = "", size_t size = max_body) {
  size_t depth = (size - prefix.size() - suffix.size() - 6) / 2;
  std::string body = prefix + "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}" + suffix;
  return body + std::string(size - body.size(), ' ');  // trailing blanks make up an odd size
}

// The offset of the bracket that opens nesting level `level` (no brackets inside strings).
size_t offset_of_level(const std::string& doc, size_t level) {
  size_t depth = 0;
  for (size_t i = 0; i < doc.size(); ++i) {
    if (doc[i] == '{' || doc[i] == '[') {
      if (++depth == level) return i;
    }
  }
  return std::string::npos;
}

// The deepest client document: limits.max_json_depth (32) + the protocol's wrapping (8).
constexpr size_t max_document_depth = 40;

std::string body_of(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

std::string status_of(const std::string& response) { return response.substr(0, response.find("\r\n")); }

// Sends a request on a fresh connection and returns the socket without waiting for an answer.
int send_request(uint16_t port, const std::string& path, const std::string& body, const std::string& headers = "") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect");
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers +
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t done = 0; done < request.size();) {
    auto n = write(fd, request.data() + done, request.size() - done);
    if (n <= 0) throw std::runtime_error("write");
    done += static_cast<size_t>(n);
  }
  return fd;
}

// The whole answer on `fd` (read until EOF), then closes it.
std::string read_answer(int fd) {
  std::string response;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 120'000) <= 0) break;
    auto n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

// GET /healthz; how long it took.
std::chrono::milliseconds healthz_time(const CraftdProcess& server, std::string& response) {
  auto start = std::chrono::steady_clock::now();
  response = server.http_get("/healthz");
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

struct Account {
  std::string token, id;
};

std::string field(const std::string& body, const std::string& name) {
  auto at = body.find("\"" + name + "\":\"");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return body.substr(at, body.find('"', at) - at);
}

Account login(const CraftdProcess& server, const std::string& device) {
  auto r = http_request(server.http_port(), "POST", "/v1/auth/device", R"({"deviceId":")" + device + R"(","create":true})");
  Account a{field(body_of(r), "token"), field(body_of(r), "accountId")};
  EXPECT_FALSE(a.token.empty()) << r;
  return a;
}

std::string post(const CraftdProcess& server, const std::string& path, const std::string& body, const Account& who) {
  return http_request(server.http_port(), "POST", path, body, "Authorization: Bearer " + who.token + "\r\n");
}

std::string write_body(const std::string& key, const std::string& value, int read = 2) {
  return R"({"objects":[{"collection":"shared","key":")" + key + R"(","value":)" + value +
         ",\"permissionRead\":" + std::to_string(read) + "}]}";
}

}  // namespace

TEST(HostileJson, NestedBodyWithoutTokenIs400AndHealthzOnTheSameShardAnswers) {
  CraftdProcess server({"--shards", "1"});
  const std::pair<const char*, std::string> cases[] = {
      {"/v1/storage/write", hostile_body(R"({"objects":[{"collection":"c","key":"k","value":)", "}]}")},
      {"/v1/account/update", hostile_body(R"({"metadata":)", "}")},
      {"/v1/leaderboard/write", hostile_body(R"({"leaderboardId":"b","score":"1","metadata":)", "}")},
  };
  for (const auto& [path, body] : cases) {
    ASSERT_EQ(body.size(), max_body);
    int fd = send_request(server.http_port(), path, body);
    std::string health;
    auto took = healthz_time(server, health);
    EXPECT_NE(health.find("200 OK"), std::string::npos) << path << ": " << health;
    EXPECT_LT(took.count(), 1000) << path;
    auto answer = read_answer(fd);
    EXPECT_EQ(status_of(answer), "HTTP/1.1 400 Bad Request") << path;
    EXPECT_EQ(body_of(answer), R"({"error":{"code":"BAD_REQUEST","message":"bad JSON body: nested deeper than the depth limit at byte )" +
                                   std::to_string(offset_of_level(body, max_document_depth + 1)) +
                                   R"x( (strict JSON, nested at most 40 deep)"}})x")
        << path;
  }
  EXPECT_EQ(server.metric("craft_json_rejected_total{source=\"http\"}"), 3);
}

TEST(HostileJson, NestedTextFrameBeforeHelloIsBadRequestAndHealthzAnswers) {
  // limits.max_hello_bytes raised to max_message_size: the largest first message one may
  // configure must still reach the strict JSON check and be refused there cheaply.
  CraftdProcess server({"--shards", "1", "--limits.max-hello-bytes", "65536"});
  auto c = connect(server, Transport::websocket, Format::json);
  // The largest text frame allowed (limits.max_message_size), before hello.
  auto frame = hostile_body(R"({"cid":5,"apiRequest":{"storageWrite":{"objects":[{"collection":"c","key":"k","value":)",
                            "}]}}}");
  c->send_raw(c->make_ws_frame(ws::Opcode::text, frame));
  std::string health;
  auto took = healthz_time(server, health);
  EXPECT_NE(health.find("200 OK"), std::string::npos) << health;
  EXPECT_LT(took.count(), 1000);
  auto error = next_error(*c, 120'000ms);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), v1::BAD_REQUEST);
  EXPECT_EQ(error->message(), "not a JSON Envelope: nested deeper than the depth limit at byte " +
                                  std::to_string(offset_of_level(frame, max_document_depth + 1)));
  EXPECT_EQ(server.metric("craft_json_rejected_total{source=\"socket\"}"), 1);
  // The connection is still usable.
  c->hello("after");
  EXPECT_NE(c->session_id(), 0u);
}

TEST(HostileJson, ValueAtTheDepthLimitReadsBackByteExactForEveryReader) {
  CraftdProcess server;
  auto ann = login(server, "hostile-json-ann"), bob = login(server, "hostile-json-bob");
  const std::string value = awkward_value(32);
  auto written = post(server, "/v1/storage/write", write_body("deep", value), ann);
  ASSERT_EQ(status_of(written), "HTTP/1.1 200 OK") << written;

  // HTTP: read by the owner, and storage/list of the shared collection by another player.
  auto read = post(server, "/v1/storage/read", R"({"ids":[{"collection":"shared","key":"deep"}]})", ann);
  EXPECT_EQ(status_of(read), "HTTP/1.1 200 OK") << read;
  EXPECT_NE(body_of(read).find("\"value\":" + value + ","), std::string::npos) << body_of(read);
  auto list = post(server, "/v1/storage/list", R"({"collection":"shared"})", bob);
  EXPECT_EQ(status_of(list), "HTTP/1.1 200 OK") << list;
  EXPECT_NE(body_of(list).find("\"value\":" + value + ","), std::string::npos) << body_of(list);

  // Account metadata at the limit, too.
  auto updated = post(server, "/v1/account/update", "{\"metadata\":" + value + "}", ann);
  EXPECT_EQ(status_of(updated), "HTTP/1.1 200 OK") << updated;
  auto account = post(server, "/v1/account", "", ann);
  EXPECT_NE(body_of(account).find("\"metadata\":" + value + ","), std::string::npos) << body_of(account);

  // Sockets, JSON text frames and binary frames: bob lists the collection.
  for (auto format : {Format::json, Format::binary}) {
    auto c = connect(server, Transport::websocket, format);
    c->hello("bob", bob.token);
    v1::Envelope e;
    e.mutable_api_request()->mutable_storage_list()->set_collection("shared");
    auto reply = c->request(e);
    ASSERT_TRUE(reply.has_api_response()) << reply.DebugString();
    ASSERT_EQ(reply.api_response().storage_objects().objects_size(), 1);
    EXPECT_EQ(reply.api_response().storage_objects().objects(0).value(), value);
  }
}

TEST(HostileJson, OneDeeperIsRefusedAndNothingIsStored) {
  CraftdProcess server;
  auto ann = login(server, "hostile-json-ann");
  auto refused = post(server, "/v1/storage/write", write_body("deeper", awkward_value(33)), ann);
  EXPECT_EQ(status_of(refused), "HTTP/1.1 400 Bad Request") << refused;
  EXPECT_NE(body_of(refused).find(R"("code":"BAD_REQUEST","message":"item 0: value: nested deeper than the depth limit)"),
            std::string::npos)
      << body_of(refused);
  auto read = post(server, "/v1/storage/read", R"({"ids":[{"collection":"shared","key":"deeper"}]})", ann);
  EXPECT_EQ(body_of(read), R"({"objects":[],"cursor":""})");

  auto metadata = post(server, "/v1/account/update", "{\"metadata\":" + awkward_value(33) + "}", ann);
  EXPECT_EQ(status_of(metadata), "HTTP/1.1 400 Bad Request") << metadata;
  auto account = post(server, "/v1/account", "", ann);
  EXPECT_NE(body_of(account).find("\"metadata\":{},"), std::string::npos) << body_of(account);

  // The same over a JSON socket: BAD_REQUEST, nothing stored.
  auto c = connect(server, Transport::websocket, Format::json);
  c->hello("ann", ann.token);
  c->send_raw(c->make_ws_frame(
      ws::Opcode::text, R"({"cid":77,"apiRequest":{"storageWrite":{"objects":[{"collection":"shared","key":"deeper","value":)" +
                            awkward_value(33) + "}]}}}"));
  auto reply = c->wait_for([](const v1::Envelope& x) { return x.cid() == 77; }, 5000ms);
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->has_error()) << reply->DebugString();
  EXPECT_EQ(reply->error().code(), v1::BAD_REQUEST);
  read = post(server, "/v1/storage/read", R"({"ids":[{"collection":"shared","key":"deeper"}]})", ann);
  EXPECT_EQ(body_of(read), R"({"objects":[],"cursor":""})");
  EXPECT_EQ(server.metric("craft_api_json_values_rejected_total"), 3);
}

TEST(HostileJson, LargeAndSpecialNumbersReadBackAsWritten) {
  CraftdProcess server;
  auto ann = login(server, "hostile-json-ann");
  // Beyond 2^53, negative zero, more digits than a double holds; then beyond a double's range.
  for (std::string value : {R"({"a":12345678901234567890,"c":-0,"d":9007199254740993,"e":0.1000000000000000055511151231257827})",
                            R"({"b":1e400,"c":-1E-400})"}) {
    auto written = post(server, "/v1/storage/write", write_body("numbers", value), ann);
    ASSERT_EQ(status_of(written), "HTTP/1.1 200 OK") << written;
    auto read = post(server, "/v1/storage/read", R"({"ids":[{"collection":"shared","key":"numbers"}]})", ann);
    EXPECT_NE(body_of(read).find("\"value\":" + value + ","), std::string::npos) << body_of(read);
  }
}

TEST(HostileJson, RawNulOrControlCharacterInAStringIsRefused) {
  CraftdProcess server;
  auto ann = login(server, "hostile-json-ann");
  const std::string with_nul = std::string("{\"a\":\"x") + '\0' + "y\"}";
  auto refused = post(server, "/v1/storage/write", write_body("nul", with_nul), ann);
  EXPECT_EQ(status_of(refused), "HTTP/1.1 400 Bad Request") << refused;
  EXPECT_NE(body_of(refused).find("raw control character in a string"), std::string::npos) << body_of(refused);
  auto in_key = http_request(server.http_port(), "POST", "/v1/auth/device",
                             std::string("{\"deviceId\":\"hostile-json-") + '\x01' + "dev\",\"create\":true}");
  EXPECT_EQ(status_of(in_key), "HTTP/1.1 400 Bad Request") << in_key;
  auto read = post(server, "/v1/storage/read", R"({"ids":[{"collection":"shared","key":"nul"}]})", ann);
  EXPECT_EQ(body_of(read), R"({"objects":[],"cursor":""})");
}

// No expensive work before authentication: a call that needs a session is refused on its
// bearer token's signature before its body is parsed (the body below would be a 400).
TEST(HostileJson, BodyIsNotParsedBeforeTheBearerSignatureIsChecked) {
  CraftdProcess server;
  auto ann = login(server, "hostile-json-ann");
  const std::string wrong_shape = R"({"objects":5})";
  auto with_token = post(server, "/v1/storage/write", wrong_shape, ann);
  EXPECT_EQ(status_of(with_token), "HTTP/1.1 400 Bad Request") << with_token;
  auto without = http_request(server.http_port(), "POST", "/v1/storage/write", wrong_shape);
  EXPECT_EQ(status_of(without), "HTTP/1.1 401 Unauthorized") << without;
  EXPECT_EQ(body_of(without), R"({"error":{"code":"UNAUTHORIZED","message":"a session token is required"}})");
  Account forged = ann;
  forged.token[forged.token.size() / 2] = forged.token[forged.token.size() / 2] == 'A' ? 'B' : 'A';
  auto bad_signature = post(server, "/v1/storage/write", wrong_shape, forged);
  EXPECT_EQ(status_of(bad_signature), "HTTP/1.1 401 Unauthorized") << bad_signature;
  EXPECT_NE(body_of(bad_signature).find(R"("code":"UNAUTHORIZED","message":"invalid session token: )"), std::string::npos)
      << body_of(bad_signature);
}
