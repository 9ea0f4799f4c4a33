// Route: which operation of the contract a request names, matched from its
// method and path before authentication, so every answer (401 and 429
// included) can be counted and logged under its route. RouteName is the
// stable label used in metrics and logs.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>  // needs <ostream> above

namespace eventflow {

enum class Route : uint8_t {
  kUnmatched,  // no such route (404)
  kHealthz,
  kReadyz,
  kMetrics,
  kCreateKey,
  kListKeys,
  kRevokeKey,
  kAdminCompact,
  kWhoami,
  kCreateStream,
  kListStreams,
  kGetStream,
  kPatchStream,
  kDeleteStream,
  kProduce,
  kProduceBatch,
  kReplay,
  kGetEvent,
  kListGroups,
  kGetGroup,
  kDeleteGroup,
  kPoll,
  kCommitOffset,
  kSeek,
  kNack,
  kListDlq,
  kRetryDlq,
  kDiscardDlq,
};
inline constexpr size_t kRouteCount = static_cast<size_t>(Route::kDiscardDlq) + 1;

// "produce", "poll", ...: the `route` label.
std::string_view RouteName(Route r);

// A matched request: the route and the path parameters it names.
struct RouteMatch {
  Route route = Route::kUnmatched;
  std::string stream;  // {stream_id} or name, when the route has one
  std::string group;   // {group_id}
  std::string id;      // {event_id} (events, DLQ) or {api_key_id}
  bool api = false;    // under /api/v1: needs a key
};

RouteMatch MatchRoute(boost::beast::http::verb method, std::string_view path);

// The largest body a route takes, as a kind; ApiOptions turns it into bytes.
enum class BodyLimit : uint8_t {
  kSmall,     // 64 KiB: keys, offsets, seeks, nacks, and routes without a body
  kSettings,  // 1 MiB: a stream's settings, schema included (create, PATCH)
  kEvent,     // --max-event-bytes + 64 KiB for the envelope around the payload
  kBatch,     // --max-batch-bytes
};

// The key scopes a route takes (CONTRACT "Keys and organizations"), as a
// set of KeyScope's bits (net/key_store.h) of which a key needs one: a
// single scope, or any one (reading stream and group objects).
enum class NeedsScope : uint8_t { kProduce = 1, kConsume = 2, kManage = 4, kAnyOne = 7 };

// What the server acts on from a request's method and path alone, before it
// reads the body: whether it needs a key (401 without one), which scope and
// whether an admin key (403 outside them), and how large a body it may carry
// (413 past it). One row per route, in FactsOf.
struct RouteFacts {
  bool needs_key = true;
  BodyLimit body = BodyLimit::kSmall;
  NeedsScope scope = NeedsScope::kAnyOne;
  bool admin = false;
};
// A route with no facts of its own (kUnmatched) gets the defaults; under
// /api/v1 it still needs a key (MatchRoute's `api`).
const RouteFacts& FactsOf(Route r);

}  // namespace eventflow
