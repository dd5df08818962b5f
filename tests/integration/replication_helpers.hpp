// Shared by the replicated-state integration tests: the C++ decoder (src/sync/decoder.hpp) for
// the schema a server announced in state_schema.
#pragma once
#include "craft.pb.h"
#include "sync/decoder.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace craft::testing {

inline std::unique_ptr<sync::SnapshotDecoder> decoder_for(const v1::StateSchema& s) {
  std::vector<sync::SchemaComponent> schema;
  for (const auto& c : s.components()) {
    sync::SchemaComponent component{c.name(), {}};
    for (const auto& f : c.fields()) {
      component.fields.push_back(
          sync::FieldSpec{f.name(), sync::FieldType(f.type()), f.min(), f.max(), f.precision(), f.count()});
    }
    schema.push_back(std::move(component));
  }
  std::string error;
  auto d = sync::SnapshotDecoder::create(std::move(schema), s.baseline_window(), &error);
  EXPECT_TRUE(d) << error;
  return d;
}

}  // namespace craft::testing
