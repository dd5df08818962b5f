// The round trip both envelope harnesses check: bytes that decode are re-encoded in both
// encodings, and each decodes back to an equal envelope. What is equal: every field, with
// NaN equal to NaN (a NaN in a Struct number stays a NaN); unknown fields only in binary
// (JSON cannot carry them).
#pragma once
#include "fuzz_check.hpp"
#include "protocol/envelope_codec.hpp"

#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdio>

namespace craft::fuzz {

inline bool same(const v1::Envelope& a, const v1::Envelope& b) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differ;
  differ.set_field_comparator(&comparator);
  std::string report;
  differ.ReportDifferencesToString(&report);
  if (differ.Compare(a, b)) return true;
  std::fprintf(stderr, "envelopes differ:\n%s\n", report.c_str());
  return false;
}

// `first` came from decoding client bytes in `from`.
inline void check_round_trip(const v1::Envelope& first, protocol::Encoding from) {
  using protocol::Encoding;
  // Same encoding back: exactly the same envelope.
  auto again = protocol::encode(first, from);
  v1::Envelope second;
  FUZZ_CHECK(protocol::decode(again, from, second));
  FUZZ_CHECK(same(first, second));

  // Binary always carries what JSON decoded.
  if (from == Encoding::json) {
    auto binary = protocol::encode(first, Encoding::binary);
    v1::Envelope third;
    FUZZ_CHECK(protocol::decode(binary, Encoding::binary, third));
    FUZZ_CHECK(same(first, third));
  }
}

}  // namespace craft::fuzz
