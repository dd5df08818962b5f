#include "protocol/envelope_codec.hpp"

#include "net/ws_codec.hpp"
#include "protocol/json_check.hpp"
#include "protocol/json_values.hpp"

#include <google/protobuf/util/json_util.h>

namespace craft::protocol {

bool decode(std::string_view bytes, Encoding encoding, v1::Envelope& out, uint32_t max_json_depth,
            std::string* error) {
  if (encoding == Encoding::binary) {
    return out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  }
  // protobuf's JSON parser costs the square of the nesting depth and accepts raw control
  // characters in strings: only a document that passed the strict linear check reaches it.
  if (auto checked = check_json(bytes, max_json_depth + json_wrapping_depth); !checked) {
    if (error) *error = std::string(checked.error) + " at byte " + std::to_string(checked.offset);
    return false;
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // newer clients may send fields we do not know yet
  // An API call's JSON values become the strings of JSON text its messages hold
  // (json_values.hpp).
  auto status = google::protobuf::util::JsonStringToMessage(
      names_api_call(bytes) ? quote_json_values(bytes) : std::string(bytes), &out, options);
  return status.ok();
}

namespace {

bool encode_into(const v1::Envelope& envelope, Encoding encoding, std::string& out) {
  out.clear();
  if (encoding == Encoding::binary) return envelope.SerializeToString(&out);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;  // lowerCamelCase, protobuf's canonical JSON
  if (!google::protobuf::util::MessageToJsonString(envelope, &out, options).ok()) return false;
  // API calls carry JSON values as text: in JSON they are spliced back in as they were written.
  if (envelope.has_api_request() || envelope.has_api_response()) out = splice_json_values(out, EmptyJsonValue::string);
  return true;
}

}  // namespace

std::string encode(const v1::Envelope& envelope, Encoding encoding) {
  std::string out;
  if (encode_into(envelope, encoding, out)) return out;
  // Half an encoding is a truncated, unparseable frame: the receiver gets an INTERNAL error
  // for the same cid instead.
  v1::Envelope failed;
  failed.set_cid(envelope.cid());
  failed.mutable_error()->set_code(v1::INTERNAL);
  failed.mutable_error()->set_message("the server could not encode its reply");
  if (!encode_into(failed, encoding, out)) out.clear();
  return out;
}

std::string frame_payload(std::string_view payload, WireFormat format) {
  std::string out;
  if (format == WireFormat::tcp) {
    out.reserve(4 + payload.size());
    auto n = static_cast<uint32_t>(payload.size());
    const char len[4] = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
    out.append(len, 4);
    out.append(payload);
    return out;
  }
  char header[ws::max_header_length];
  auto op = format == WireFormat::ws_text ? ws::Opcode::text : ws::Opcode::binary;
  size_t h = ws::write_header(header, op, payload.size());
  out.reserve(h + payload.size());
  out.append(header, h);
  out.append(payload);
  return out;
}

Frame frame(const v1::Envelope& envelope, WireFormat format) {
  auto encoding = format == WireFormat::ws_text ? Encoding::json : Encoding::binary;
  return std::make_shared<const std::string>(frame_payload(encode(envelope, encoding), format));
}

FramedMessage frame_all(const v1::Envelope& envelope, uint8_t formats) {
  FramedMessage m;
  std::string binary;
  if (formats & (format_bit(WireFormat::ws_binary) | format_bit(WireFormat::tcp))) {
    binary = encode(envelope, Encoding::binary);
  }
  for (size_t i = 0; i < wire_format_count; ++i) {
    auto f = static_cast<WireFormat>(i);
    if (!(formats & format_bit(f))) continue;
    m.by_format[i] = f == WireFormat::ws_text
                         ? std::make_shared<const std::string>(
                               frame_payload(encode(envelope, Encoding::json), f))
                         : std::make_shared<const std::string>(frame_payload(binary, f));
  }
  return m;
}

}  // namespace craft::protocol
