#include "client/outbox_relay.h"

#include <cstdio>
#include <thread>
#include <vector>

#include "client/outbox.h"
#include "client/sqlite_util.h"

namespace eventflow::client {

struct OutboxRelay::Row {
  int64_t seq = 0;
  std::string stream;
  Event event;
};

OutboxRelay::OutboxRelay(std::unique_ptr<Producer> producer, RelayOptions options, sqlite3* db)
    : producer_(std::move(producer)), options_(std::move(options)), db_(db) {}

OutboxRelay::~OutboxRelay() { sqlite3_close(db_); }

Result<std::unique_ptr<OutboxRelay>> OutboxRelay::Open(const ClientOptions& client,
                                                       RelayOptions options) {
  auto db = OpenSqlite(options.db_path);
  if (!db.ok()) return db.error();
  const Status s = CreateOutboxTable(*db);
  if (!s.ok()) {
    sqlite3_close(*db);
    return s.error();
  }
  auto producer = Producer::Open(client);
  if (!producer.ok()) {
    sqlite3_close(*db);
    return producer.error();
  }
  return std::unique_ptr<OutboxRelay>(
      new OutboxRelay(std::move(*producer), std::move(options), *db));
}

void OutboxRelay::Log(const std::string& line) {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "outbox relay: %s\n", line.c_str());
  }
}

RelayStats OutboxRelay::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

Result<int64_t> OutboxRelay::Backlog() { return CountOutbox(db_, OutboxState::kPending); }

Status OutboxRelay::MarkPublished(const std::vector<Row>& rows,
                                  const std::vector<PublishAck>& acks) {
  Status s = Exec(db_, "BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  Statement st(db_, "UPDATE outbox SET state = 1, published_offset = ?1 WHERE seq = ?2");
  uint64_t duplicates = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    st.Reset();
    st.Bind(1, i < acks.size() ? acks[i].offset : int64_t{-1});
    st.Bind(2, rows[i].seq);
    if (st.Step() != SQLITE_DONE) {
      Error e = SqliteError(db_, "mark outbox rows published");
      (void)Exec(db_, "ROLLBACK");
      return e;
    }
    if (i < acks.size() && acks[i].duplicate) ++duplicates;
  }
  s = Exec(db_, "COMMIT");
  if (!s.ok()) {
    (void)Exec(db_, "ROLLBACK");
    return s;
  }
  std::lock_guard lock(stats_mu_);
  stats_.published += rows.size();
  stats_.duplicates += duplicates;
  return Status::Ok();
}

Status OutboxRelay::MarkFailed(const Row& row, const Error& error) {
  Statement st(db_, "UPDATE outbox SET state = 2, error = ?1 WHERE seq = ?2");
  st.Bind(1, error.ToString());
  st.Bind(2, row.seq);
  if (st.Step() != SQLITE_DONE) return SqliteError(db_, "mark outbox row failed");
  Log("row " + std::to_string(row.seq) + " event " + row.event.event_id + " to " + row.stream +
      " refused: " + error.ToString());
  std::lock_guard lock(stats_mu_);
  ++stats_.failed;
  return Status::Ok();
}

// After a batch was refused with a 4xx, finds the bad rows by publishing one
// at a time: good rows are published (in order), bad ones marked failed.
Result<int> OutboxRelay::PublishOneByOne(const std::string& stream, std::vector<Row>& rows) {
  int settled = 0;
  for (Row& row : rows) {
    auto ack = producer_->Publish(stream, row.event);
    if (ack.ok()) {
      const Status s = MarkPublished({row}, {*ack});
      if (!s.ok()) return s.error();
    } else if (!ack.error().retryable()) {
      const Status s = MarkFailed(row, ack.error());
      if (!s.ok()) return s.error();
    } else {
      return ack.error();
    }
    ++settled;
  }
  return settled;
}

Result<int> OutboxRelay::PublishGroup(const std::string& stream, std::vector<Row>& rows) {
  std::vector<Event> events;
  events.reserve(rows.size());
  for (const Row& row : rows) events.push_back(row.event);
  auto ack = producer_->PublishBatch(stream, std::move(events));
  if (ack.ok()) {
    const Status s = MarkPublished(rows, ack->results);
    if (!s.ok()) return s.error();
    return static_cast<int>(rows.size());
  }
  if (ack.error().retryable()) return ack.error();
  if (rows.size() == 1) {
    const Status s = MarkFailed(rows[0], ack.error());
    if (!s.ok()) return s.error();
    return 1;
  }
  return PublishOneByOne(stream, rows);
}

Result<int> OutboxRelay::RunOnce() {
  std::vector<Row> rows;
  {
    Statement st(db_,
                 "SELECT seq, event_id, stream, event_type, event_key, payload, correlation_id,"
                 " trace_id, occurred_at FROM outbox WHERE state = 0 ORDER BY seq LIMIT ?1");
    st.Bind(1, static_cast<int64_t>(options_.batch_size));
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      Row row;
      row.seq = st.Int(0);
      row.event.event_id = st.Text(1);
      row.stream = st.Text(2);
      row.event.event_type = st.Text(3);
      row.event.key = st.Text(4);
      row.event.payload_json = st.Text(5);
      row.event.correlation_id = st.Text(6);
      row.event.trace_id = st.Text(7);
      row.event.occurred_at = st.Text(8);
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return SqliteError(db_, "read outbox");
  }
  int settled = 0;
  // Consecutive rows of one stream go in one batch; order is kept across
  // streams by stopping at the first group that cannot be published.
  for (size_t begin = 0; begin < rows.size();) {
    size_t end = begin + 1;
    while (end < rows.size() && rows[end].stream == rows[begin].stream) ++end;
    std::vector<Row> group(std::make_move_iterator(rows.begin() + static_cast<long>(begin)),
                           std::make_move_iterator(rows.begin() + static_cast<long>(end)));
    auto r = PublishGroup(group[0].stream, group);
    if (!r.ok()) {
      if (r.error().retryable()) {
        std::lock_guard lock(stats_mu_);
        ++stats_.publish_errors;
      }
      Log("publish to " + group[0].stream + " failed, will retry: " + r.error().ToString());
      return r.error();
    }
    settled += *r;
    begin = end;
  }
  return settled;
}

void OutboxRelay::Run() {
  int failures = 0;
  while (!stop_) {
    auto r = RunOnce();
    std::chrono::milliseconds wait{0};
    if (!r.ok()) {
      wait = options_.error_backoff.Delay(++failures);
    } else {
      failures = 0;
      if (*r == 0) wait = options_.idle_interval;
    }
    const auto until = std::chrono::steady_clock::now() + wait;
    while (!stop_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

}  // namespace eventflow::client
