// Api::Poll: a consumer group's poll and long-poll. A poll delivers, in
// offset order, the group's redeliveries that are due wherever its position
// is (nacked events whose delay has passed, events retried from the DLQ),
// then the events after the committed position, skipping those parked until
// later and those dead-lettered for the group. A stream with processing
// rules delivers from its processed view (filtered events skipped,
// transformed ones as transformed) up to the processed frontier. A
// long-poll that finds nothing parks on the frontier's waiters (the commit
// point's for a stream without rules) and on a timer set to the
// earlier of its deadline and the group's next due redelivery; each wake-up
// collects again, and one that still finds nothing waits on.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/api.h"
#include "net/group_position.h"
#include "net/query.h"

namespace eventflow {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

struct PollLimits {
  int64_t limit = 100;
  int64_t max_bytes = 16 << 20;
};

// Where a poll that found nothing waits: for an event at or after
// `frontier`, or until `next_due_ms` (wall clock), when a parked
// redelivery falls due.
struct ParkAt {
  uint64_t frontier = 0;
  std::optional<int64_t> next_due_ms;
};

// One collection: the whole answer, how many events it holds, and where to
// wait if it holds none.
struct Collected {
  std::string body;
  int64_t events = 0;
  ParkAt park;
};

// `view` is the stream's processed view (null for a stream without one:
// the log is read as written). `hints` lets a poll skip, and records, runs
// the view filtered out.
Result<Collected> Collect(Index& index, const DeliveryStore& store, const Stream& stream,
                          const ProcessedView* view, const std::string& group, PollLimits lim,
                          int64_t now_ms, ScanHints& hints) {
  Collected c;
  // Read before the log: whatever becomes deliverable later is at or after it.
  c.park.frontier = view ? view->frontier() : stream.log->committed_next();
  auto read = [&](uint64_t from, const ProcessedView::Visit& visit) {
    if (view) return view->Read(*stream.log, from, visit);
    return stream.log->ReadEvents(
        from, stream.manifest.stream_id,
        [&](const RecordView& r, std::string_view event) { return visit(r.offset, event); });
  };
  const std::string group_key = GroupKey(stream, group);
  auto pos = LoadPosition(index, group_key);
  if (!pos.ok()) return pos.status();
  const GroupPosition p = pos->value_or(GroupPosition{});
  auto records = store.Deliveries(stream.manifest.stream_id, group);
  if (!records.ok()) return records.status();
  // Retention may have removed events after the position: start at the
  // earliest retained one.
  uint64_t start = std::max(p.committed ? *p.committed + 1 : 0, stream.log->first_offset());
  if (view) start = std::max(start, hints.Find(group_key, p.committed).value_or(0));
  std::vector<uint64_t> due_below, skip;  // both ascending (records are)
  for (const Delivery& d : *records) {
    const bool due = d.DueAt(now_ms);
    if (!due && d.state == Delivery::State::kParked) {
      c.park.next_due_ms = std::min(c.park.next_due_ms.value_or(d.due_ms), d.due_ms);
    }
    if (d.offset < start) {
      if (due) due_below.push_back(d.offset);
    } else if (!due) {
      skip.push_back(d.offset);
    }
  }

  // The events are copied once, straight into the answer; only the last
  // one's id is read (it is the next_offset).
  std::string& out = c.body;
  out.reserve(static_cast<size_t>(std::min<int64_t>(lim.max_bytes, lim.limit * 512)) + 256);
  out = "{\"events\":[";
  const size_t first_at = out.size();
  size_t last_at = 0, last_size = 0;
  // Adds `r` unless the answer is full; false once no more may follow.
  auto take = [&](std::string_view event) {
    const size_t so_far = out.size() - first_at;
    if (c.events > 0 && static_cast<int64_t>(so_far + event.size()) > lim.max_bytes) {
      return false;
    }
    if (c.events > 0) out += ",";
    last_at = out.size();
    last_size = event.size();
    out.append(event);
    return ++c.events < lim.limit;
  };
  bool more = true;
  for (size_t i = 0; more && i < due_below.size(); ++i) {
    const uint64_t want = due_below[i];
    Status s = read(want, [&](uint64_t offset, std::string_view event) {
      if (offset == want) more = take(event);  // else retention removed it
      return false;
    });
    if (!s.ok()) return s;
  }
  // The first event the view delivers that this group does not take now
  // (a parked redelivery, or dead-lettered for the group).
  uint64_t first_skipped = UINT64_MAX;
  if (more) {
    size_t k = 0;
    Status s = read(start, [&](uint64_t offset, std::string_view event) {
      while (k < skip.size() && skip[k] < offset) ++k;
      if (k < skip.size() && skip[k] == offset) {
        first_skipped = std::min(first_skipped, offset);
        return true;
      }
      return take(event);
    });
    if (!s.ok()) return s;
  }
  // Nothing deliverable below `through`: the view filtered all of it.
  if (const uint64_t through = std::min(c.park.frontier, first_skipped);
      view && c.events == 0 && through > start) {
    hints.Record(group_key, p.committed, through);
  }
  std::string last_id = p.last_event_id;
  if (c.events > 0) {
    if (auto id = PeekEventId(std::string_view(out).substr(last_at, last_size))) {
      last_id = id->ToString();
    }
  }
  out += "],\"next_offset\":";
  out += last_id.empty() ? std::string("null") : json::Quote(last_id);
  out += ",\"lag\":" + std::to_string(Lag(stream, p)) + "}";
  return c;
}

// One parked long-poll. `attempt(final)` collects and answers when it finds
// events or `final` is set; otherwise it says where to wait next. Wake-ups
// come from the commit waiters (new events, or shutdown: answer at once)
// and the timer (the deadline, or a redelivery falling due). Each Park
// starts a generation; the first wake-up of a generation ends it, so the
// other one of the pair does nothing. The timer is only touched on its
// strand; the rest is guarded by mu_.
class ParkedPoll : public std::enable_shared_from_this<ParkedPoll> {
 public:
  using Attempt = std::function<std::optional<ParkAt>(bool final)>;
  // `parked` counts the polls alive (Api::parked_polls_), until this one is
  // destroyed.
  ParkedPoll(asio::any_io_executor strand, CommitWaiters* waiters, Clock::time_point deadline,
             Attempt attempt, Metrics* metrics, std::atomic<size_t>* parked)
      : timer_(std::move(strand)),
        waiters_(waiters),
        deadline_(deadline),
        attempt_(std::move(attempt)),
        metrics_(metrics),
        parked_(parked) {
    if (metrics_) metrics_->OnPollParked();
    parked_->fetch_add(1, std::memory_order_relaxed);
  }
  ~ParkedPoll() { parked_->fetch_sub(1, std::memory_order_relaxed); }

  void Park(const ParkAt& at) {
    uint64_t gen;
    {
      std::lock_guard lock(mu_);
      gen = ++gen_;
    }
    auto self = shared_from_this();
    const auto token = waiters_->Wait(at.frontier, [self, gen](bool woken) {
      // New events: collect on the strand, not on the writer's thread.
      // Not woken: shutdown (or this generation's own Cancel, a no-op).
      if (woken) {
        asio::post(self->timer_.get_executor(), [self, gen] { self->Wake(gen, false); });
      } else {
        self->Wake(gen, true);
      }
    });
    Clock::time_point until = deadline_;
    if (at.next_due_ms) {
      const int64_t in_ms = std::max<int64_t>(0, *at.next_due_ms - timestamp::NowMs());
      until = std::min(until, Clock::now() + std::chrono::milliseconds(in_ms));
    }
    {
      std::lock_guard lock(mu_);
      if (gen != gen_) return;  // already woken
      token_ = token;
    }
    asio::post(timer_.get_executor(), [self, gen, until] {
      {
        std::lock_guard lock(self->mu_);
        if (gen != self->gen_) return;
      }
      self->timer_.expires_at(until);
      self->timer_.async_wait([self, gen](boost::system::error_code ec) {
        if (!ec) self->Wake(gen, Clock::now() >= self->deadline_);
      });
    });
  }

 private:
  void Wake(uint64_t gen, bool final) {
    CommitWaiters::Token token;
    {
      std::lock_guard lock(mu_);
      if (done_ || gen != gen_) return;
      ++gen_;  // the other wake-up of this generation is now stale
      token = std::exchange(token_, 0);
    }
    if (token != 0) waiters_->Cancel(token);
    auto self = shared_from_this();
    asio::post(timer_.get_executor(), [self] { self->timer_.cancel(); });
    // Not parked while it collects: counted off before the answer goes out
    // (a client that reads the gauge after its answer sees it lower), and
    // on again if it parks again.
    if (metrics_) metrics_->OnPollUnparked();
    auto again = attempt_(final);
    if (again) {
      if (metrics_) metrics_->OnPollParked();
      return Park(*again);
    }
    std::lock_guard lock(mu_);
    done_ = true;
  }

  asio::steady_timer timer_;
  CommitWaiters* const waiters_;
  const Clock::time_point deadline_;
  const Attempt attempt_;
  Metrics* const metrics_;
  std::atomic<size_t>* const parked_;
  std::mutex mu_;
  uint64_t gen_ = 0;
  bool done_ = false;
  CommitWaiters::Token token_ = 0;
};

}  // namespace

void Api::Poll(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindGroupStream(call, ref, group);
  if (!stream) return;
  bool bad = false;
  auto limit = IntParam(call.query, "limit", 100, 1, 10000, &bad);
  auto timeout = IntParam(call.query, "timeout", 0, 0, 60000, &bad);
  auto max_bytes = IntParam(call.query, "max_bytes", 16 << 20, 1, 64 << 20, &bad);
  if (bad) {
    return call.Fail({400, "invalid_request",
                      "limit must be 1..10000, timeout 0..60000 ms, max_bytes 1..67108864"});
  }
  // A group exists from its first poll (its first one writes a position
  // with nothing committed, on this thread; later polls only read it).
  if (Status s = EnsureGroup(*stream, group); !s.ok()) return call.Fail(FromStatus(s));
  auto shared = std::make_shared<Call>(std::move(call));
  const PollLimits lim{*limit, *max_bytes};
  // Streams with rules deliver from their processed view and park on its
  // frontier; the others read the log and park on its commit point.
  std::shared_ptr<ProcessedView> view = ViewOf(*stream);
  ParkedPoll::Attempt attempt = [this, shared, stream, view, group,
                                 lim](bool final) -> std::optional<ParkAt> {
    auto c = Collect(engine_->index(), deliveries_, *stream, view.get(), group, lim,
                     timestamp::NowMs(), scan_hints_);
    if (!c.ok()) {
      shared->Fail(FromStatus(c.status()));
      return std::nullopt;
    }
    if (c->events == 0 && !final) return c->park;
    shared->Json(200, std::move(c->body));
    return std::nullopt;
  };
  // Past --max-parked-polls a poll answers at once with what there is: each
  // parked poll is collected again on every append to its stream.
  const bool may_park =
      *timeout > 0 && parked_polls_.load(std::memory_order_relaxed) < options_.max_parked_polls;
  auto again = attempt(!may_park);
  if (!again) return;
  auto parked = std::make_shared<ParkedPoll>(
      asio::make_strand(HttpServer::ThisThreadExecutor(timers_)), &WaitersOf(*stream, view.get()),
      Clock::now() + std::chrono::milliseconds(*timeout), std::move(attempt), shared->metrics,
      &parked_polls_);
  parked->Park(*again);
}

}  // namespace eventflow
