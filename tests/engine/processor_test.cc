// Processor on a real engine: outcomes reach the view in offset order and
// durably, a failing event is retried with backoff and then dead-lettered
// while the events behind it flow, new rules apply from the frontier on,
// views survive a reopen, and Drop/Trim remove what they say.
#include "engine/processor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendNow;
using testing::Draft;
using testing::TempDir;

std::shared_ptr<const ProcessingRules> Rules(const std::string& json) {
  simdjson::dom::parser parser;
  auto compiled = ProcessingRules::Compile(parser.parse(json).value());
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  return *compiled;
}

// Keeps amount >= 100 (a string amount fails), tags kept events.
const char* kRules =
    R"([{"type":"filter","where":{"field":"/payload/amount","op":"gte","value":100}},)"
    R"({"type":"transform","set":{"/payload/seen":true}}])";

class CountingObserver : public ProcessorObserver {
 public:
  void OnProcessed(const Stream&, const std::vector<int64_t>& latency_ms) override {
    processed += latency_ms.size();
  }
  void OnRuleFailed(const Stream&, uint64_t, uint32_t attempt, const std::string&) override {
    failures.push_back(attempt);
  }
  void OnDeadLettered(const Stream&, const DlqEntry& entry) override {
    std::lock_guard lock(mu);
    dead.push_back(entry);
  }
  std::atomic<size_t> processed{0};
  std::vector<uint32_t> failures;  // written on the processor thread only
  std::mutex mu;
  std::vector<DlqEntry> dead;
};

class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    EngineOptions o;
    o.data_dir = tmp_.path();
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
    processor_ = std::make_unique<Processor>(&engine_->index(), &observer_);
  }
  void Close() {
    processor_.reset();
    engine_.reset();
  }
  // Waits (generously) until the view's frontier reaches `offset`.
  void WaitFor(const ProcessedView& view, uint64_t offset) {
    testing::Eventually([&] { return view.frontier() >= offset; });
    ASSERT_GE(view.frontier(), offset);
  }
  std::vector<std::pair<uint64_t, std::string>> Delivered(const Stream& s,
                                                          const ProcessedView& view) {
    std::vector<std::pair<uint64_t, std::string>> out;
    Status st = view.Read(*s.log, 0, [&](uint64_t offset, std::string_view json) {
      out.emplace_back(offset, std::string(json));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  std::shared_ptr<Stream> NewStream(const std::string& name) {
    auto s = engine_->CreateStream("org", name, "{}");
    EXPECT_TRUE(s.ok());
    return *s;
  }

  TempDir tmp_;
  CountingObserver observer_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Processor> processor_;
};

TEST_F(ProcessorTest, FiltersAndTransformsInOffsetOrderAndSurvivesReopen) {
  auto s = NewStream("orders");
  auto view = processor_->Configure(s, {Rules(kRules), 3, 10}, true);
  ASSERT_TRUE(view.ok());
  std::vector<EventDraft> drafts;
  for (int i = 0; i < 5000; ++i)
    drafts.push_back(Draft("{\"amount\":" + std::to_string(i % 200) + "}"));
  for (size_t at = 0; at < drafts.size(); at += 1000) {
    AppendNow(*engine_, s, {drafts.begin() + at, drafts.begin() + at + 1000});
  }
  WaitFor(**view, 5000);
  auto delivered = Delivered(*s, **view);
  ASSERT_EQ(delivered.size(), 2500u);  // amounts 100..199 of every 200
  for (const auto& [offset, json] : delivered) {
    EXPECT_GE(offset % 200, 100u);
    EXPECT_NE(json.find(",\"seen\":true}"), std::string::npos) << json;
  }
  EXPECT_EQ(observer_.processed.load(), 5000u);
  std::string body;
  EXPECT_EQ(*(*view)->FateOf(*s->log, 3, &body), ProcessedView::Fate::kFiltered);
  EXPECT_EQ(*(*view)->FateOf(*s->log, 150, &body), ProcessedView::Fate::kTransformed);
  EXPECT_NE(body.find("\"amount\":150,\"seen\":true"), std::string::npos);
  EXPECT_EQ(*(*view)->FateOf(*s->log, 5000, &body), ProcessedView::Fate::kNotProcessed);

  Close();
  Open();
  s = engine_->FindStreamByName("org", "orders");
  auto stored = ProcessedView::StoredFrontier(engine_->index(), s->manifest.stream_id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(**stored, 5000u);
  view = processor_->Configure(s, {Rules(kRules), 3, 10}, true);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)->frontier(), 5000u);  // resumed, not started over
  EXPECT_EQ(Delivered(*s, **view).size(), 2500u);
}

TEST_F(ProcessorTest, FailingEventIsRetriedThenDeadLetteredAndLaterEventsFlow) {
  auto s = NewStream("orders");
  auto view = processor_->Configure(s, {Rules(kRules), 3, 20}, true);
  ASSERT_TRUE(view.ok());
  const auto start = std::chrono::steady_clock::now();
  AppendNow(*engine_, s, {Draft(R"({"amount":100})"), Draft(R"({"amount":"lots"})")});
  // Held back while the failing event is retried.
  WaitFor(**view, 1);
  AppendNow(*engine_, s, {Draft(R"({"amount":300})")});
  WaitFor(**view, 3);
  // Three tries: two waits of >= 10 and >= 20 ms (half of 20 and 40, jittered up).
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
  EXPECT_EQ(observer_.failures, (std::vector<uint32_t>{1, 2}));
  std::lock_guard lock(observer_.mu);
  ASSERT_EQ(observer_.dead.size(), 1u);
  EXPECT_EQ(observer_.dead[0].offset, 1u);
  EXPECT_EQ(observer_.dead[0].attempts, 3u);
  EXPECT_EQ(observer_.dead[0].stage, "processing");
  EXPECT_NE(observer_.dead[0].reason.find("gte on /payload/amount: the field is a string"),
            std::string::npos);
  EXPECT_NE(observer_.dead[0].event_json.find("\"lots\""), std::string::npos);
  DeliveryStore store(&engine_->index());
  auto dlq = store.ListDlq(s->manifest.stream_id, {});
  ASSERT_TRUE(dlq.ok());
  ASSERT_EQ(dlq->size(), 1u);
  EXPECT_EQ((*dlq)[0].offset, 1u);
  auto delivered = Delivered(*s, **view);
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_EQ(delivered[0].first, 0u);
  EXPECT_EQ(delivered[1].first, 2u);
  EXPECT_EQ(*(*view)->FateOf(*s->log, 1, nullptr), ProcessedView::Fate::kDeadLettered);
}

TEST_F(ProcessorTest, RulesAddedToALiveStreamApplyToNewEventsOnly) {
  auto s = NewStream("live");
  AppendNow(*engine_, s, {Draft(R"({"amount":1})"), Draft(R"({"amount":2})")});
  auto view = processor_->Configure(s, {Rules(kRules), 3, 10}, false);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)->frontier(), 2u);
  AppendNow(*engine_, s, {Draft(R"({"amount":3})"), Draft(R"({"amount":400})")});
  WaitFor(**view, 4);
  auto delivered = Delivered(*s, **view);
  ASSERT_EQ(delivered.size(), 3u);  // 0 and 1 as written, 2 filtered, 3 transformed
  EXPECT_EQ(delivered[0].second.find("seen"), std::string::npos);
  EXPECT_EQ(delivered[2].first, 3u);
  // Rules replaced: the next events pass as written.
  ASSERT_TRUE(processor_->Configure(s, {nullptr, 3, 10}, false).ok());
  AppendNow(*engine_, s, {Draft(R"({"amount":5})")});
  WaitFor(**view, 5);
  EXPECT_EQ(Delivered(*s, **view).size(), 4u);
  EXPECT_EQ(*(*view)->FateOf(*s->log, 2, nullptr), ProcessedView::Fate::kFiltered);
}

TEST_F(ProcessorTest, DropAndTrimRemoveViewEntries) {
  auto s = NewStream("gone");
  auto view = processor_->Configure(s, {Rules(kRules), 3, 10}, true);
  ASSERT_TRUE(view.ok());
  // Two batches, processed one after the other: two blobs, keyed 4 and 9.
  for (int batch = 0; batch < 2; ++batch) {
    std::vector<EventDraft> drafts;
    for (int i = 0; i < 5; ++i) drafts.push_back(Draft("{\"amount\":" + std::to_string(i) + "}"));
    AppendNow(*engine_, s, std::move(drafts));
    WaitFor(**view, 5 * (batch + 1));
  }
  const Uuid id = s->manifest.stream_id;
  auto count = [&] { return engine_->index().ScanState(ProcessedView::EntryPrefix(id))->size(); };
  EXPECT_EQ(count(), 2u);
  EXPECT_EQ(*(*view)->FateOf(*s->log, 2, nullptr), ProcessedView::Fate::kFiltered);
  ASSERT_TRUE(processor_->Trim(id, 5).ok());  // the first blob ends at 4
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(*(*view)->FateOf(*s->log, 7, nullptr), ProcessedView::Fate::kFiltered);
  ASSERT_TRUE(processor_->Drop(id).ok());
  EXPECT_EQ(count(), 0u);
  EXPECT_EQ(processor_->Find(id), nullptr);
  EXPECT_FALSE(ProcessedView::StoredFrontier(engine_->index(), id)->has_value());
}

TEST(ProcessedBlob, RoundTripsAndRefusesTruncation) {
  ProcessedBlob blob;
  blob.Add(3, 'f');
  blob.Add(7, 't', R"({"a":1})");
  blob.Add(9, 'x');
  EXPECT_EQ(blob.last(), 9u);
  const std::string bytes = blob.Take();
  std::vector<ProcessedBlob::Entry> entries;
  ASSERT_TRUE(ProcessedBlob::Decode(bytes, &entries));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].offset, 7u);
  EXPECT_EQ(entries[1].fate, 't');
  EXPECT_EQ(entries[1].body, R"({"a":1})");
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    std::vector<ProcessedBlob::Entry> some;
    const bool ok = ProcessedBlob::Decode(std::string_view(bytes).substr(0, cut), &some);
    // Only cuts at an entry boundary decode (to the entries before it).
    if (ok) {
      EXPECT_TRUE(cut == 13 || cut == 13 + 13 + 7) << cut;
    }
  }
}

// A transformed event is stored as its difference from the event as written
// and rebuilt from it exactly, whatever part changed.
TEST(ProcessedBlob, TransformedEventsAreStoredAsADifference) {
  const std::string written =
      R"({"event_id":"e-1","payload":{"amount":7,"card":"4111111111111111"},"created_at":"c"})";
  const std::vector<std::string> transformed_forms = {
      R"({"event_id":"e-1","payload":{"total":7,"currency":"EUR"},"created_at":"c"})",
      R"({"event_id":"e-1","payload":{"amount":7,"card":"4111111111111111"},"created_at":"c"})",
      R"({"event_id":"e-1","payload":{"amount":7,"card":"4111111111111111"},"created_at":"c","x":1})",
      R"({"key":"k","event_id":"e-1","payload":{"amount":7,"card":"4111111111111111"},"created_at":"c"})",
      R"({"a":1})",
      R"({"event_id":"e-1","payload":{"amount":7,"card":"41111111"},"created_at":"c"})",
  };
  for (const std::string& transformed : transformed_forms) {
    ProcessedBlob blob;
    blob.AddTransformed(4, written, transformed);
    const std::string bytes = blob.Take();
    std::vector<ProcessedBlob::Entry> entries;
    ASSERT_TRUE(ProcessedBlob::Decode(bytes, &entries));
    ASSERT_EQ(entries.size(), 1u);
    // A difference is smaller than the event unless nothing is shared.
    if (transformed.size() > 20) {
      EXPECT_EQ(entries[0].fate, 'd') << transformed;
      EXPECT_LT(entries[0].body.size(), transformed.size() / 2 + 8) << transformed;
    }
    std::string rebuilt;
    ASSERT_TRUE(ProcessedBlob::Transformed(entries[0], written, &rebuilt)) << transformed;
    EXPECT_EQ(rebuilt, transformed);
    // The difference does not fit a shorter event: damage, not a wrong event.
    if (entries[0].fate == 'd') {
      EXPECT_FALSE(ProcessedBlob::Transformed(entries[0], "{}", &rebuilt)) << transformed;
    }
  }
}

}  // namespace
}  // namespace eventflow
