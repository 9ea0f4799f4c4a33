// ScanHints keeps at most its capacity of hints: polls under made-up group
// names cannot grow it without bound.
#include "net/scan_hints.h"

#include <gtest/gtest.h>

#include <string>

namespace eventflow {
namespace {

TEST(ScanHints, PollsUnderNewGroupNamesGrewTheHintsWithoutBound) {
  ScanHints hints(/*capacity=*/100);
  for (int i = 0; i < 10'000; ++i) hints.Record("s/g" + std::to_string(i), std::nullopt, 5);
  EXPECT_EQ(hints.size(), 100u);
  // The newest is kept, and rewriting a kept hint drops nothing.
  EXPECT_EQ(hints.Find("s/g9999", std::nullopt), 5u);
  hints.Record("s/g9999", 3, 7);
  EXPECT_EQ(hints.size(), 100u);
  EXPECT_EQ(hints.Find("s/g9999", 3), 7u);
  EXPECT_EQ(hints.Find("s/g9999", std::nullopt), std::nullopt);  // another position
  hints.ForgetPrefix("s/");
  EXPECT_EQ(hints.size(), 0u);
}

}  // namespace
}  // namespace eventflow
