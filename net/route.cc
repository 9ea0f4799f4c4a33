#include "net/route.h"

#include <array>

namespace eventflow {

namespace http = boost::beast::http;

namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Routes under /api/v1/ from the path after it.
Route MatchApi(http::verb m, const std::vector<std::string_view>& p) {
  const size_t n = p.size();
  if (n >= 2 && p[0] == "admin" && p[1] == "api-keys") {
    if (n == 2 && m == http::verb::post) return Route::kCreateKey;
    if (n == 2 && m == http::verb::get) return Route::kListKeys;
    if (n == 3 && m == http::verb::delete_) return Route::kRevokeKey;
    return Route::kUnmatched;
  }
  if (n == 1 && p[0] == "whoami") {
    return m == http::verb::get ? Route::kWhoami : Route::kUnmatched;
  }
  if (n == 2 && p[0] == "admin" && p[1] == "compact") {
    return m == http::verb::post ? Route::kAdminCompact : Route::kUnmatched;
  }
  if (n == 0 || p[0] != "streams") return Route::kUnmatched;
  if (n == 1 && m == http::verb::post) return Route::kCreateStream;
  if (n == 1 && m == http::verb::get) return Route::kListStreams;
  if (n == 2 && m == http::verb::get) return Route::kGetStream;
  if (n == 2 && m == http::verb::patch) return Route::kPatchStream;
  if (n == 2 && m == http::verb::delete_) return Route::kDeleteStream;
  if (n == 3 && p[2] == "events" && m == http::verb::post) return Route::kProduce;
  if (n == 3 && p[2] == "events" && m == http::verb::get) return Route::kReplay;
  if (n == 4 && p[2] == "events" && p[3] == "batch" && m == http::verb::post) {
    return Route::kProduceBatch;
  }
  if (n == 4 && p[2] == "events" && m == http::verb::get) return Route::kGetEvent;
  if (n >= 3 && p[2] == "dlq") {
    if (n == 3 && m == http::verb::get) return Route::kListDlq;
    if (n == 4 && m == http::verb::delete_) return Route::kDiscardDlq;
    if (n == 5 && p[4] == "retry" && m == http::verb::post) return Route::kRetryDlq;
    return Route::kUnmatched;
  }
  if (n < 3 || p[2] != "consumer-groups") return Route::kUnmatched;
  if (n == 3 && m == http::verb::get) return Route::kListGroups;
  if (n == 4 && m == http::verb::get) return Route::kGetGroup;
  if (n == 4 && m == http::verb::delete_) return Route::kDeleteGroup;
  if (n == 5 && p[4] == "events" && m == http::verb::get) return Route::kPoll;
  if (n == 5 && p[4] == "offsets" && m == http::verb::post) return Route::kCommitOffset;
  if (n == 5 && p[4] == "seek" && m == http::verb::post) return Route::kSeek;
  if (n == 5 && p[4] == "nack" && m == http::verb::post) return Route::kNack;
  return Route::kUnmatched;
}

}  // namespace

std::string_view RouteName(Route r) {
  static constexpr std::array<std::string_view, kRouteCount> kNames = {
      "unmatched",     "healthz",    "readyz",        "metrics",       "create_key",
      "list_keys",     "revoke_key", "admin_compact", "whoami",        "create_stream",
      "list_streams",  "get_stream", "patch_stream",  "delete_stream", "produce",
      "produce_batch", "replay",     "get_event",     "list_groups",   "get_group",
      "delete_group",  "poll",       "commit_offset", "seek",          "nack",
      "list_dlq",      "retry_dlq",  "discard_dlq",
  };
  return kNames[static_cast<size_t>(r)];
}

const RouteFacts& FactsOf(Route r) {
  using B = BodyLimit;
  using S = NeedsScope;
  // In the order of enum Route: needs a key, body limit, scope, admin only.
  static constexpr std::array<RouteFacts, kRouteCount> kFacts = {{
      {false, B::kSmall, S::kAnyOne, false},    // unmatched (a key under /api/v1: RouteMatch::api)
      {false, B::kSmall, S::kAnyOne, false},    // healthz
      {false, B::kSmall, S::kAnyOne, false},    // readyz
      {false, B::kSmall, S::kAnyOne, false},    // metrics
      {true, B::kSmall, S::kManage, true},      // create_key
      {true, B::kSmall, S::kManage, true},      // list_keys
      {true, B::kSmall, S::kManage, true},      // revoke_key
      {true, B::kSmall, S::kManage, true},      // admin_compact
      {true, B::kSmall, S::kAnyOne, false},     // whoami
      {true, B::kSettings, S::kManage, false},  // create_stream
      {true, B::kSmall, S::kAnyOne, false},     // list_streams
      {true, B::kSmall, S::kAnyOne, false},     // get_stream
      {true, B::kSettings, S::kManage, false},  // patch_stream
      {true, B::kSmall, S::kManage, false},     // delete_stream
      {true, B::kEvent, S::kProduce, false},    // produce
      {true, B::kBatch, S::kProduce, false},    // produce_batch
      {true, B::kSmall, S::kConsume, false},    // replay
      {true, B::kSmall, S::kConsume, false},    // get_event
      {true, B::kSmall, S::kAnyOne, false},     // list_groups
      {true, B::kSmall, S::kAnyOne, false},     // get_group
      {true, B::kSmall, S::kManage, false},     // delete_group
      {true, B::kSmall, S::kConsume, false},    // poll
      {true, B::kSmall, S::kConsume, false},    // commit_offset
      {true, B::kSmall, S::kConsume, false},    // seek
      {true, B::kSmall, S::kConsume, false},    // nack
      {true, B::kSmall, S::kManage, false},     // list_dlq
      {true, B::kSmall, S::kManage, false},     // retry_dlq
      {true, B::kSmall, S::kManage, false},     // discard_dlq
  }};
  return kFacts[static_cast<size_t>(r)];
}

RouteMatch MatchRoute(http::verb method, std::string_view path) {
  RouteMatch match;
  const bool get = method == http::verb::get;
  if (path == "/healthz") {
    match.route = get ? Route::kHealthz : Route::kUnmatched;
    return match;
  }
  if (path == "/readyz") {
    match.route = get ? Route::kReadyz : Route::kUnmatched;
    return match;
  }
  if (path == "/metrics") {
    match.route = get ? Route::kMetrics : Route::kUnmatched;
    return match;
  }
  constexpr std::string_view kPrefix = "/api/v1/";
  if (!path.starts_with(kPrefix)) return match;
  match.api = true;
  const auto p = SplitPath(path.substr(kPrefix.size()));
  match.route = MatchApi(method, p);
  if (match.route == Route::kUnmatched) return match;
  if (p[0] == "admin") {
    if (p.size() == 3) match.id = p[2];
    return match;
  }
  if (p.size() >= 2) match.stream = p[1];
  if (match.route == Route::kGetEvent || (p.size() >= 4 && p[2] == "dlq")) match.id = p[3];
  if (p.size() >= 4 && p[2] == "consumer-groups") match.group = p[3];
  return match;
}

}  // namespace eventflow
