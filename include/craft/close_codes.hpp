// Close codes craft sends. WebSocket clients see them in the close frame; every client,
// TCP included, first receives a Disconnect envelope with the same code and a reason.
// docs/protocol.md lists when each one is used.
#pragma once
#include <cstdint>

namespace craft::close_code {
inline constexpr uint16_t normal = 1000;             // the client asked to close
inline constexpr uint16_t going_away = 1001;         // the server is shutting down
inline constexpr uint16_t protocol_error = 1002;     // broken framing: unmasked client frame, bad opcode...
inline constexpr uint16_t invalid_payload = 1007;    // a text frame that is not valid UTF-8
inline constexpr uint16_t policy_violation = 1008;   // generic policy breach
inline constexpr uint16_t message_too_big = 1009;    // above limits.max_message_size
inline constexpr uint16_t internal_error = 1011;
inline constexpr uint16_t service_restart = 1012;    // the server drained (server.drain_on_sigterm): reconnect,
                                                     // a load balancer sends you to another node
inline constexpr uint16_t try_again_later = 1013;    // limits.max_connections or max_connections_per_ip reached
inline constexpr uint16_t handshake_timeout = 4000;  // no hello within limits.handshake_timeout_ms
inline constexpr uint16_t idle_timeout = 4001;       // nothing received within limits.idle_timeout_ms
inline constexpr uint16_t slow_consumer = 4002;      // send queue above limits.send_queue_bytes
inline constexpr uint16_t flood = 4003;              // kept sending while rate limited
inline constexpr uint16_t unsupported_version = 4004;// hello with a protocol version the server does not speak
inline constexpr uint16_t auth_failed = 4005;        // hello without a valid session token (bad, expired,
                                                     // revoked, banned; or none while auth.require is on)
inline constexpr uint16_t session_replaced = 4006;   // auth.session_policy = replace: a newer hello of the
                                                     // same account took over
}  // namespace craft::close_code
