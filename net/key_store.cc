#include "net/key_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "formats/uuid.h"

namespace eventflow {

namespace {
constexpr std::string_view kKeyPrefix = "apikey/";

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kHex[p[i] >> 4];
    s[2 * i + 1] = kHex[p[i] & 0xf];
  }
  return s;
}

Result<ApiKey> ParseKey(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (parser.parse(json.data(), json.size()).get(e)) return Status::Corruption("bad key record");
  ApiKey k;
  std::string_view id, org, name, hash;
  bool admin = false;
  int64_t created = 0;
  if (e["api_key_id"].get(id) || e["org_id"].get(org) || e["name"].get(name) ||
      e["hash"].get(hash) || e["admin"].get(admin) || e["created_at_ms"].get(created)) {
    return Status::Corruption("key record misses a field");
  }
  k.id = id;
  k.org_id = org;
  k.name = name;
  k.hash = hash;
  k.admin = admin;
  k.created_at_ms = created;
  simdjson::dom::element scopes;
  if (!e["scopes"].get(scopes)) {  // absent in keys made before scopes existed
    auto parsed = ParseScopes(scopes);
    if (!parsed.ok()) return Status::Corruption("key record: " + parsed.status().message());
    k.scopes = *parsed;
  }
  double v;
  if (!e["rate_limit_per_s"].get(v)) k.rate_limit_per_s = v;
  if (!e["burst"].get(v)) k.burst = v;
  return k;
}
}  // namespace

std::string_view ScopeName(KeyScope scope) {
  switch (scope) {
    case kScopeProduce:
      return "produce";
    case kScopeConsume:
      return "consume";
    case kScopeManage:
      return "manage";
    default:
      return "?";
  }
}

Result<uint8_t> ParseScopes(simdjson::dom::element names) {
  constexpr std::string_view kWhat =
      "scopes must be a non-empty array of distinct names from \"produce\", \"consume\", "
      "\"manage\"";
  simdjson::dom::array array;
  if (names.get(array)) return Status::InvalidArgument(std::string(kWhat));
  uint8_t scopes = 0;
  for (simdjson::dom::element name : array) {
    std::string_view s;
    if (name.get(s)) return Status::InvalidArgument(std::string(kWhat));
    const auto scope = ScopeNamed(s);
    if (!scope || (scopes & *scope) != 0) return Status::InvalidArgument(std::string(kWhat));
    scopes |= *scope;
  }
  if (scopes == 0) return Status::InvalidArgument(std::string(kWhat));
  return scopes;
}

std::optional<KeyScope> ScopeNamed(std::string_view name) {
  for (KeyScope scope : kKeyScopes) {
    if (ScopeName(scope) == name) return scope;
  }
  return std::nullopt;
}

std::vector<std::string_view> ScopeNames(uint8_t scopes) {
  std::vector<std::string_view> names;
  for (KeyScope scope : kKeyScopes) {
    if ((scopes & scope) != 0) names.push_back(ScopeName(scope));
  }
  return names;
}

std::string ScopesJson(uint8_t scopes) {
  std::string out = "[";
  for (std::string_view name : ScopeNames(scopes)) {
    if (out.size() > 1) out += ",";
    out += "\"";
    out += name;
    out += "\"";
  }
  return out + "]";
}

std::string NumberOrNullJson(std::optional<double> v) {
  if (!v) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", *v);
  return buf;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // Fetched once: EVP_sha256() makes EVP_Digest look the algorithm up in the
  // provider store (a lock and a property query) on every call, which was
  // most of the cost of authenticating a request. Kept for the process's life.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* const md_type = sha256 ? sha256 : EVP_sha256();
  // One context per thread, reset by each init, instead of the one
  // EVP_Digest allocates and frees per call. Freed when the thread ends.
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context context;
  if (context.ctx == nullptr || !EVP_DigestInit_ex2(context.ctx, md_type, nullptr) ||
      !EVP_DigestUpdate(context.ctx, data.data(), data.size()) ||
      !EVP_DigestFinal_ex(context.ctx, md, &len)) {
    EVP_Digest(data.data(), data.size(), md, &len, md_type, nullptr);  // allocation failed
  }
  return Hex(md, len);
}

std::string ApiKey::ToJson(bool with_hash) const {
  std::string out = "{\"api_key_id\":\"" + id + "\",\"org_id\":";
  json::AppendString(&out, org_id);
  out += ",\"name\":";
  json::AppendString(&out, name);
  out += ",\"admin\":";
  out += admin ? "true" : "false";
  out += ",\"scopes\":" + ScopesJson(scopes);
  out += ",\"rate_limit_per_s\":" + NumberOrNullJson(rate_limit_per_s) +
         ",\"burst\":" + NumberOrNullJson(burst);
  out += ",\"created_at\":\"" + timestamp::Format(created_at_ms) + "\"";
  if (with_hash) {
    out += ",\"hash\":\"" + hash + "\",\"created_at_ms\":" + std::to_string(created_at_ms);
  }
  out += "}";
  return out;
}

Result<std::unique_ptr<KeyStore>> KeyStore::Open(Index* index, double default_rate) {
  std::unique_ptr<KeyStore> store(new KeyStore(index, default_rate));
  auto rows = index->ScanState(kKeyPrefix);
  if (!rows.ok()) return rows.status();
  for (const auto& [k, v] : *rows) {
    auto key = ParseKey(v);
    if (!key.ok()) return Status::Corruption("key " + k + ": " + key.status().message());
    store->by_hash_[key->hash] = *key;
  }
  return store;
}

Status KeyStore::Store(const ApiKey& key) {
  return index_->PutState(std::string(kKeyPrefix) + key.id, key.ToJson(/*with_hash=*/true));
}

Result<std::pair<ApiKey, std::string>> KeyStore::Create(ApiKey key) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Status::IOError("no randomness from OpenSSL");
  std::string secret = "efk_" + Hex(raw, sizeof raw);
  EF_RETURN_IF_ERROR(Insert(key, secret));
  return std::make_pair(key, secret);
}

Status KeyStore::Insert(ApiKey& key, const std::string& secret) {
  key.id = Uuid::Random().ToString();
  key.hash = Sha256Hex(secret);
  key.created_at_ms = timestamp::NowMs();
  EF_RETURN_IF_ERROR(Store(key));
  std::unique_lock lock(mu_);
  by_hash_[key.hash] = key;
  return Status::Ok();
}

Result<std::optional<std::string>> KeyStore::Bootstrap(const std::string& secret) {
  {
    std::shared_lock lock(mu_);
    if (!by_hash_.empty()) return std::optional<std::string>();
  }
  ApiKey key;
  key.org_id = std::string(kDefaultOrg);
  key.name = "bootstrap";
  key.admin = true;
  if (secret.empty()) {
    auto made = Create(key);
    if (!made.ok()) return made.status();
    return std::optional<std::string>(made->second);
  }
  EF_RETURN_IF_ERROR(Insert(key, secret));
  return std::optional<std::string>(secret);
}

std::optional<ApiKey> KeyStore::Find(const std::string& id) const {
  std::shared_lock lock(mu_);
  for (const auto& [h, key] : by_hash_) {
    if (key.id == id) return key;
  }
  return std::nullopt;
}

Status KeyStore::Revoke(const std::string& id) {
  // Revocations run one at a time, so two of them cannot each see the
  // other's key as the admin key that remains.
  std::lock_guard revoking(revoke_mu_);
  std::string hash;
  bool last_default_admin = false;
  {
    std::shared_lock lock(mu_);
    const ApiKey* target = nullptr;
    size_t default_admins = 0;
    for (const auto& [h, key] : by_hash_) {
      if (key.id == id) {
        hash = h;
        target = &key;
      }
      if (key.admin && key.org_id == kDefaultOrg) ++default_admins;
    }
    last_default_admin =
        target != nullptr && target->admin && target->org_id == kDefaultOrg && default_admins == 1;
  }
  if (hash.empty()) return Status::NotFound("no api key " + id);
  if (last_default_admin) {
    return Status::Conflict(
        "api key " + id +
        " is the last admin key of org default; create another admin key there first");
  }
  // The synced delete runs without the lock, so authentication never waits
  // on it; the key stops working once it is durable, before the answer.
  EF_RETURN_IF_ERROR(index_->DeleteState(std::string(kKeyPrefix) + id));
  std::unique_lock lock(mu_);
  by_hash_.erase(hash);
  return Status::Ok();
}

std::vector<ApiKey> KeyStore::List() const {
  std::shared_lock lock(mu_);
  std::vector<ApiKey> out;
  for (const auto& [h, k] : by_hash_) out.push_back(k);
  std::sort(out.begin(), out.end(),
            [](const ApiKey& a, const ApiKey& b) { return a.created_at_ms < b.created_at_ms; });
  return out;
}

std::optional<ApiKey> KeyStore::Authenticate(std::string_view secret) const {
  if (secret.empty() || secret.size() > 256) return std::nullopt;
  const std::string hash = Sha256Hex(secret);
  std::shared_lock lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  // The map lookup compares hashes, not secrets; confirm in constant time.
  if (CRYPTO_memcmp(it->second.hash.data(), hash.data(), hash.size()) != 0) return std::nullopt;
  return it->second;
}

std::optional<int> KeyStore::Throttle(const ApiKey& key) {
  double rate = key.rate_limit_per_s.value_or(default_rate_);
  if (rate <= 0) return std::nullopt;
  rate = std::max(rate, kMinRate);
  const double burst = std::max(1.0, key.burst.value_or(rate));
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  std::lock_guard lock(bucket_mu_);
  auto [it, fresh] = buckets_.try_emplace(key.id, Bucket{burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.last_ns) * 1e-9 * rate);
  b.last_ns = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  // At most 1000 s (kMinRate); computed in double, so nothing wraps.
  return static_cast<int>(std::clamp(std::ceil((1.0 - b.tokens) / rate), 1.0, 1.0 / kMinRate));
}

}  // namespace eventflow
