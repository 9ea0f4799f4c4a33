// KeyStore: API keys. A secret is 32 random bytes (OpenSSL), shown once as
// hex; only its SHA-256 is stored (durably, in the index's state) and held in
// memory for lookups. Revocation takes effect on the next request. Each key
// has a token bucket (one token per request). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include "engine/index.h"
#include "formats/status.h"

namespace eventflow {

// The bootstrap key's org; its admin keys manage the keys of every org.
inline constexpr std::string_view kDefaultOrg = "default";

// What a key may do (CONTRACT "Keys and organizations"): a set of these bits.
// `produce` writes events; `consume` reads them and moves groups; `manage`
// changes streams, groups' settings, the DLQ and (with `admin`) keys.
enum KeyScope : uint8_t {
  kScopeProduce = 1,
  kScopeConsume = 2,
  kScopeManage = 4,
  kAllScopes = kScopeProduce | kScopeConsume | kScopeManage,
};
inline constexpr std::array<KeyScope, 3> kKeyScopes = {kScopeProduce, kScopeConsume, kScopeManage};
// "produce", "consume", "manage" for one bit.
std::string_view ScopeName(KeyScope scope);
// The scope of that name, if it is one.
std::optional<KeyScope> ScopeNamed(std::string_view name);
// The names of the scopes in a set, in kKeyScopes' order.
std::vector<std::string_view> ScopeNames(uint8_t scopes);
// The scopes named by a JSON array of those strings; an error message for
// anything else (an unknown or repeated name, or no name at all).
Result<uint8_t> ParseScopes(simdjson::dom::element names);
// ["produce","consume"]: the set as a JSON array, in a fixed order.
std::string ScopesJson(uint8_t scopes);
// A rate or burst as JSON: the number, or null when unset.
std::string NumberOrNullJson(std::optional<double> v);

struct ApiKey {
  std::string id;  // UUID
  std::string org_id;
  std::string name;
  std::string hash;  // hex SHA-256 of the secret
  bool admin = false;
  uint8_t scopes = kAllScopes;             // keys stored before scopes existed have all
  std::optional<double> rate_limit_per_s;  // none: unlimited
  std::optional<double> burst;
  int64_t created_at_ms = 0;

  std::string ToJson(bool with_hash) const;
};

class KeyStore {
 public:
  // Loads every key from the index. `default_rate` applies to keys created
  // without a rate limit (0: unlimited).
  static Result<std::unique_ptr<KeyStore>> Open(Index* index, double default_rate);

  // Creates a key; returns it with its secret (never stored).
  Result<std::pair<ApiKey, std::string>> Create(ApiKey key);
  // Creates an admin key in org "default" from `secret` if no key exists yet;
  // with an empty secret, generates one. Returns the secret it created, or
  // nullopt if keys already existed.
  Result<std::optional<std::string>> Bootstrap(const std::string& secret);
  // Removes the key; Conflict for the last admin key of org
  // "default" (nobody could manage keys of other orgs after it).
  Status Revoke(const std::string& id);
  // The key with this id, if any.
  std::optional<ApiKey> Find(const std::string& id) const;
  std::vector<ApiKey> List() const;
  // The key whose secret this is, if any (constant-time comparison).
  std::optional<ApiKey> Authenticate(std::string_view secret) const;
  // Takes a token; on refusal returns the seconds to wait until one is
  // there (rounded up: Retry-After must not invite a retry too early).
  std::optional<int> Throttle(const ApiKey& key);
  // The range of a key's rate_limit_per_s (requests/s) and burst; a rate
  // stored below kMinRate (by an older server) is throttled at kMinRate.
  static constexpr double kMinRate = 0.001;
  // The rate of keys created without one (`serve --default-rate-limit`; 0:
  // unlimited).
  double default_rate() const { return default_rate_; }
  static constexpr double kMaxRate = 1e9;

 private:
  KeyStore(Index* index, double default_rate) : index_(index), default_rate_(default_rate) {}
  Status Store(const ApiKey& key);
  // Gives `key` an id, the hash of `secret` and a creation time; stores it.
  Status Insert(ApiKey& key, const std::string& secret);

  Index* const index_;
  const double default_rate_;
  mutable std::shared_mutex mu_;
  std::mutex revoke_mu_;  // one revocation at a time: the last-admin check holds
  std::unordered_map<std::string, ApiKey> by_hash_;
  struct Bucket {
    double tokens;
    int64_t last_ns;
  };
  std::mutex bucket_mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

std::string Sha256Hex(std::string_view data);

}  // namespace eventflow
