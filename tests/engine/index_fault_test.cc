// Faults under the RocksDB index, injected through a FileSystem wrapper:
// durable-state writes fail cleanly and leave nothing behind; a failing
// event index never fails an append whose records are durable, duplicates
// are still caught, and a restart re-indexes what was missed; a failed
// processed-view write delivers nothing past what is durable.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "engine/processor.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using rocksdb::IOStatus;
using testing::Draft;
using testing::TempDir;

struct FaultSwitch {
  std::atomic<bool> armed{false};
  std::atomic<bool> no_space{false};
  IOStatus Error() const {
    return no_space ? IOStatus::NoSpace("injected ENOSPC") : IOStatus::IOError("injected EIO");
  }
};

class FailingFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FailingFile(std::unique_ptr<rocksdb::FSWritableFile>&& f, const FaultSwitch* sw)
      : FSWritableFileOwnerWrapper(std::move(f)), sw_(sw) {}
  IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                  rocksdb::IODebugContext* g) override {
    return sw_->armed ? sw_->Error() : FSWritableFileOwnerWrapper::Append(d, o, g);
  }
  IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    return sw_->armed ? sw_->Error() : FSWritableFileOwnerWrapper::Sync(o, g);
  }
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    return sw_->armed ? sw_->Error() : FSWritableFileOwnerWrapper::Fsync(o, g);
  }

 private:
  const FaultSwitch* sw_;
};

class FailingFs : public rocksdb::FileSystemWrapper {
 public:
  explicit FailingFs(const FaultSwitch* sw)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), sw_(sw) {}
  const char* Name() const override { return "FailingFs"; }
  IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                           std::unique_ptr<rocksdb::FSWritableFile>* r,
                           rocksdb::IODebugContext* g) override {
    if (sw_->armed) return sw_->Error();
    IOStatus s = target()->NewWritableFile(f, o, r, g);
    if (s.ok()) *r = std::make_unique<FailingFile>(std::move(*r), sw_);
    return s;
  }

 private:
  const FaultSwitch* sw_;
};

struct FaultyEnv {
  FaultSwitch sw;
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(std::make_shared<FailingFs>(&sw));
};

class IndexFaultTest : public ::testing::TestWithParam<bool> {  // param: ENOSPC
 protected:
  void SetUp() override { fe_.sw.no_space = GetParam(); }
  // An engine in tmp_ whose index files go through the fault switch.
  EngineOptions FaultyEngineOptions() {
    EngineOptions eo;
    eo.data_dir = tmp_.path();
    eo.index_env = fe_.env.get();
    return eo;
  }
  // The faults cleared and the engine opened again without them; its
  // stream "s", serving. Null (and a failure) otherwise.
  std::unique_ptr<Engine> ReopenHealthy(EngineOptions eo, std::shared_ptr<Stream>* s) {
    fe_.sw.armed = false;
    eo.index_env = nullptr;
    auto engine = Engine::Open(eo);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    if (!engine.ok()) return nullptr;
    *s = (*engine)->FindStreamByName("org", "s");
    EXPECT_TRUE(*s && (*s)->serving());
    return *s && (*s)->serving() ? std::move(*engine) : nullptr;
  }
  TempDir tmp_;
  FaultyEnv fe_;
};

TEST_P(IndexFaultTest, FailedDurableWriteLeavesNothing) {
  TempDir& tmp = tmp_;
  FaultyEnv& fe = fe_;
  {
    Index::Options io;
    io.env = fe.env.get();
    auto index = Index::Open(tmp.path() + "/index", io);
    ASSERT_TRUE(index.ok());
    ASSERT_TRUE((*index)->PutState("group/a", "1").ok());
    fe.sw.armed = true;
    Status s = (*index)->PutState("group/b", "2");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), GetParam() ? Status::Code::kNoSpace : Status::Code::kIOError)
        << s.ToString();
  }
  fe.sw.armed = false;
  auto index = Index::Open(tmp.path() + "/index", {});
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(**(*index)->GetState("group/a"), "1");
  EXPECT_FALSE((*index)->GetState("group/b")->has_value()) << "a failed write became visible";
}

Status AppendStatus(Engine& e, const std::shared_ptr<Stream>& s, std::vector<EventDraft> drafts,
                    std::vector<EventAck>* acks_out) {
  std::promise<std::pair<Status, std::vector<EventAck>>> p;
  e.Append(s, std::move(drafts), [&](Status st, std::vector<EventAck> acks) {
    p.set_value({st, std::move(acks)});
  });
  auto [st, acks] = p.get_future().get();
  *acks_out = std::move(acks);
  return st;
}

std::vector<EventAck> AppendOk(Engine& e, const std::shared_ptr<Stream>& s,
                               std::vector<EventDraft> drafts) {
  std::vector<EventAck> acks;
  Status st = AppendStatus(e, s, std::move(drafts), &acks);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return acks;
}

TEST_P(IndexFaultTest, FailingEventIndexNeverFailsADurableAppend) {
  FaultyEnv& fe = fe_;
  EngineOptions eo = FaultyEngineOptions();
  eo.max_unindexed_events = 4;
  std::vector<EventAck> acked;
  EventDraft during = Draft("{\"during\":true}");
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    auto s = *(*engine)->CreateStream("org", "s", "{}");
    acked = AppendOk(**engine, s, {Draft("{}")});
    fe.sw.armed = true;
    // The memtable flush fails: RocksDB stops taking writes.
    EXPECT_FALSE((*engine)->index().Flush().ok());
    auto more = AppendOk(**engine, s, {during, Draft("{}")});
    ASSERT_EQ(more.size(), 2u);
    acked.insert(acked.end(), more.begin(), more.end());
    // Duplicates are still caught while the index is down.
    auto dup = AppendOk(**engine, s, {during});
    EXPECT_TRUE(dup[0].duplicate);
    EXPECT_EQ(dup[0].offset, more[0].offset);
    auto loc = (*engine)->Lookup("org", during.event_id);
    ASSERT_TRUE(loc.ok() && loc->has_value());
    EXPECT_EQ((*loc)->offset, more[0].offset);
    // An id the server made skips the duplicate checks, yet is found too.
    EventDraft made = Draft("{\"server_id\":true}");
    made.id_assigned_by_server = true;  // the writer names it
    auto server = AppendOk(**engine, s, {made});
    ASSERT_EQ(server.size(), 1u);
    acked.push_back(server[0]);
    auto found = (*engine)->Lookup("org", server[0].event_id);
    ASSERT_TRUE(found.ok() && found->has_value()) << "an unindexed server id is not found";
    EXPECT_EQ((*found)->offset, server[0].offset);
    // The backlog is visible (readiness reports it) and bounded: past the
    // limit appends are refused, and nothing of the refused one is stored.
    EXPECT_EQ(s->writer->stats().unindexed.load(), 3u);
    auto fourth = AppendOk(**engine, s, {Draft("{\"fourth\":true}")});
    ASSERT_EQ(fourth.size(), 1u);
    acked.push_back(fourth[0]);
    EXPECT_EQ(s->writer->stats().unindexed.load(), 4u);
    std::vector<EventAck> refused;
    Status full = AppendStatus(**engine, s, {Draft("{\"refused\":true}")}, &refused);
    EXPECT_EQ(full.code(), Status::Code::kUnavailable) << full.ToString();
  }
  std::shared_ptr<Stream> s;
  auto engine = ReopenHealthy(eo, &s);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(testing::ReadAll(*s->log).size(), 5u);
  for (const auto& a : acked) {
    auto loc = engine->Lookup("org", a.event_id);
    ASSERT_TRUE(loc.ok() && loc->has_value()) << "not re-indexed: " << a.event_id.ToString();
    EXPECT_EQ((*loc)->offset, a.offset);
  }
}

// The processor computes the next batch while the last one is written: when
// that write fails, nothing past the durable frontier may be delivered, and
// after a restart every event is delivered once, processed, in order.
TEST_P(IndexFaultTest, FailedViewWriteDeliversNothingPastTheDurableFrontier) {
  FaultyEnv& fe = fe_;
  EngineOptions eo = FaultyEngineOptions();
  simdjson::dom::parser parser;
  auto rules = ProcessingRules::Compile(
      parser.parse(std::string(R"([{"type":"transform","set":{"/payload/seen":true}}])")).value());
  ASSERT_TRUE(rules.ok());
  auto drafts = [](int from, int count) {
    std::vector<EventDraft> out;
    for (int i = from; i < from + count; ++i) {
      out.push_back(Draft("{\"n\":" + std::to_string(i) + "}"));
    }
    return out;
  };
  auto wait_for = [](const ProcessedView& view, uint64_t frontier) {
    testing::Eventually([&] { return view.frontier() >= frontier; });
    return view.frontier();
  };
  auto delivered = [](const Stream& s, const ProcessedView& view) {
    std::vector<std::pair<uint64_t, std::string>> out;
    EXPECT_TRUE(view.Read(*s.log, 0,
                          [&](uint64_t offset, std::string_view json) {
                            out.emplace_back(offset, std::string(json));
                            return true;
                          })
                    .ok());
    return out;
  };
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    auto s = *(*engine)->CreateStream("org", "s", "{}");
    Processor processor(&(*engine)->index());
    auto view = processor.Configure(s, {*rules, 5, 100}, true);
    ASSERT_TRUE(view.ok());
    AppendOk(**engine, s, drafts(0, 100));
    ASSERT_EQ(wait_for(**view, 100), 100u);
    fe.sw.armed = true;
    // More than one batch, so the next is computed while the failing write runs.
    for (int i = 0; i < 3; ++i) AppendOk(**engine, s, drafts(100 + i * 1000, 1000));
    // The first write fails, the batches are computed again after a second
    // and fail again.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ((*view)->frontier(), 100u);
    EXPECT_EQ(delivered(*s, **view).size(), 100u);
  }
  std::shared_ptr<Stream> s;
  auto engine = ReopenHealthy(eo, &s);
  ASSERT_NE(engine, nullptr);
  Processor processor(&engine->index());
  auto view = processor.Configure(s, {*rules, 5, 100}, true);
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(wait_for(**view, 3100), 3100u);
  auto events = delivered(*s, **view);
  ASSERT_EQ(events.size(), 3100u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].first, i);
    EXPECT_EQ(events[i].second.find("\"payload\":{\"n\":" + std::to_string(i) + ",\"seen\":true}"),
              events[i].second.find("\"payload\":"))
        << events[i].second;
  }
}

INSTANTIATE_TEST_SUITE_P(EioAndEnospc, IndexFaultTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "ENOSPC" : "EIO"; });

}  // namespace
}  // namespace eventflow
