// JSON values (storage values, metadata) travel in protobuf as strings of JSON text, so the
// binary encoding carries them byte for byte. In JSON (HTTP bodies, text frames) they keep
// their natural shape, an object: these two linear passes move between the shapes without
// ever parsing the value, so what a client wrote is what every reader gets back.
//
// A "JSON value member" is an object member named "value" or "metadata" (craft.proto uses
// those names for nothing else).
#pragma once
#include <string>
#include <string_view>

namespace craft::protocol {

// For a document that passed check_json: each JSON value member whose value is not a string
// or null becomes a string holding that value's exact text. A string (JSON text already) and
// null (absent) stay as they are.
std::string quote_json_values(std::string_view checked);

// Whether a checked JSON envelope has an apiRequest / apiResponse member (any spelling
// protobuf accepts), so its "value" and "metadata" members are JSON values to quote; in
// every other envelope those names are ordinary fields (RoomInfo.metadata).
bool names_api_call(std::string_view checked);

// What an empty string becomes. HTTP prints fields at their default, where "" means {};
// envelopes omit defaults, so an "" there was set on purpose (an optional field) and stays
// "" so that decode(encode(x)) == x.
enum class EmptyJsonValue { object, string };

// For JSON printed by protobuf: each JSON value member whose value is a string holding a
// valid JSON document is replaced by that document's text, verbatim.
std::string splice_json_values(std::string_view printed, EmptyJsonValue empty = EmptyJsonValue::object);

}  // namespace craft::protocol
