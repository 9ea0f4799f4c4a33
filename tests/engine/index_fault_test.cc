// Faults under the RocksDB index, injected through a FileSystem wrapper:
// durable-state writes fail cleanly and leave nothing behind; a failing
// event index never fails an append whose records are durable, duplicates
// are still caught, and a restart re-indexes what was missed.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <future>

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

class IndexFaultTest : public ::testing::TestWithParam<bool> {};  // param: ENOSPC

TEST_P(IndexFaultTest, FailedDurableWriteLeavesNothing) {
  TempDir tmp;
  FaultyEnv fe;
  fe.sw.no_space = GetParam();
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
  TempDir tmp;
  FaultyEnv fe;
  fe.sw.no_space = GetParam();
  EngineOptions eo;
  eo.data_dir = tmp.path();
  eo.index_env = fe.env.get();
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
    made.event_id = Uuid::TimeOrdered();
    made.id_assigned_by_server = true;
    auto server = AppendOk(**engine, s, {made});
    ASSERT_EQ(server.size(), 1u);
    acked.push_back(server[0]);
    auto found = (*engine)->Lookup("org", made.event_id);
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
  fe.sw.armed = false;
  eo.index_env = nullptr;
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto s = (*engine)->FindStreamByName("org", "s");
  ASSERT_TRUE(s && s->serving());
  EXPECT_EQ(testing::ReadAll(*s->log).size(), 5u);
  for (const auto& a : acked) {
    auto loc = (*engine)->Lookup("org", a.event_id);
    ASSERT_TRUE(loc.ok() && loc->has_value()) << "not re-indexed: " << a.event_id.ToString();
    EXPECT_EQ((*loc)->offset, a.offset);
  }
}

INSTANTIATE_TEST_SUITE_P(EioAndEnospc, IndexFaultTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "ENOSPC" : "EIO"; });

}  // namespace
}  // namespace eventflow
