// Api handlers for /api/v1/admin/api-keys (admin keys with the manage
// scope) and /api/v1/whoami (any key).
#include <algorithm>

#include "formats/json_writer.h"
#include "net/api.h"
#include "net/stream_settings.h"

namespace eventflow {

namespace {
// Whether an admin key may manage keys of `org`: those of org "default"
// manage every org's, the others only their own org's.
bool ManagesOrg(const ApiKey& admin, std::string_view org) {
  return admin.org_id == kDefaultOrg || admin.org_id == org;
}
}  // namespace

void Api::Whoami(Call& call) {
  const ApiKey& k = call.key;
  std::string out = "{\"api_key_id\":" + json::Quote(k.id) + ",\"name\":";
  json::AppendString(&out, k.name);
  out += ",\"org_id\":";
  json::AppendString(&out, k.org_id);
  out += ",\"admin\":";
  out += k.admin ? "true" : "false";
  out += ",\"scopes\":" + ScopesJson(k.scopes) + ",\"rate_limit_per_s\":";
  // The limit the key is throttled at: its own, or the server's default
  // (null: unlimited).
  const double rate = k.rate_limit_per_s.value_or(keys_->default_rate());
  out +=
      NumberOrNullJson(rate > 0 ? std::optional(std::max(rate, KeyStore::kMinRate)) : std::nullopt);
  out += "}";
  call.Json(200, std::move(out));
}

void Api::CreateKey(Call& call) {
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (!ParseBody(call, parser, &body)) return;
  ApiKey key;
  bool has_org = false, has_name = false;
  for (auto [k, v] : body) {
    std::string_view s;
    double d;
    if (k == "org_id") {
      if (v.get(s) || !ValidName(s)) {
        return call.Fail(
            {400, "invalid_request", "org_id must be a name ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})"});
      }
      key.org_id = s;
      has_org = true;
    } else if (k == "name") {
      if (v.get(s) || s.empty() || s.size() > 256) {
        return call.Fail({400, "invalid_request", "name must be a string of 1..256 characters"});
      }
      key.name = s;
      has_name = true;
    } else if (k == "rate_limit_per_s" || k == "burst") {
      if (v.is_null()) continue;
      const double low = k == "burst" ? 1.0 : KeyStore::kMinRate;
      if (v.get(d) || !(d >= low) || d > KeyStore::kMaxRate) {
        return call.Fail(
            {400, "invalid_request",
             std::string(k) +
                 (k == "burst" ? " must be a number from 1" : " must be a number from 0.001") +
                 " to 1e9"});
      }
      (k == "burst" ? key.burst : key.rate_limit_per_s) = d;
    } else if (k == "admin") {
      if (v.get(key.admin)) return call.Fail({400, "invalid_request", "admin must be a boolean"});
    } else if (k == "scopes") {
      auto scopes = ParseScopes(v);
      if (!scopes.ok()) return call.Fail({400, "invalid_request", scopes.status().message()});
      key.scopes = *scopes;
    } else {
      return call.Fail({400, "invalid_request", "unknown field " + std::string(k)});
    }
  }
  if (!has_org || !has_name) {
    return call.Fail({400, "invalid_request", "org_id and name are required"});
  }
  if (!ManagesOrg(call.key, key.org_id)) {
    return call.Fail({403, "forbidden",
                      "an admin key of org " + call.key.org_id +
                          " creates keys of its own org only; org " + key.org_id +
                          " needs one of "
                          "org default"});
  }
  if ((key.scopes & ~call.key.scopes) != 0) {
    return call.Fail({403, "forbidden",
                      "a key creates keys only within its own scopes " +
                          ScopesJson(call.key.scopes) + "; asked for " + ScopesJson(key.scopes)});
  }
  Offload(call, [this, key](Call& call) {  // the key is written with a synced WAL
    auto made = keys_->Create(key);
    if (!made.ok()) return call.Fail(FromStatus(made.status()));
    std::string out = made->first.ToJson(false);
    out.pop_back();
    out += ",\"api_key\":" + json::Quote(made->second) + "}";
    LogFields f = call.Fields();
    f.Add("new_api_key_id", made->first.id).Add("org_id", made->first.org_id);
    LogWith(spdlog::level::info, f, "api key created");
    call.Json(201, std::move(out));
  });
}

void Api::ListKeys(Call& call) {
  std::string out = "{\"api_keys\":[";
  bool first = true;
  for (const ApiKey& k : keys_->List()) {
    if (!ManagesOrg(call.key, k.org_id)) continue;
    if (!first) out += ",";
    first = false;
    out += k.ToJson(false);
  }
  out += "]}";
  call.Json(200, std::move(out));
}

void Api::RevokeKey(Call& call, const std::string& id) {
  // Another org's key is answered as if it did not exist: an org's admin
  // learns nothing about other orgs' keys.
  const auto target = keys_->Find(id);
  if (!target || !ManagesOrg(call.key, target->org_id)) {
    return call.Fail({404, "api_key_not_found", "no api key " + id});
  }
  Offload(call, [this, id](Call& call) {
    Status s = keys_->Revoke(id);
    if (s.IsNotFound()) return call.Fail({404, "api_key_not_found", s.message()});
    if (s.code() == Status::Code::kConflict) return call.Fail({409, "last_admin_key", s.message()});
    if (!s.ok()) return call.Fail(FromStatus(s));
    LogFields f = call.Fields();
    f.Add("revoked_api_key_id", id);
    LogWith(spdlog::level::info, f, "api key revoked");
    HttpResponse res;
    res.result(boost::beast::http::status::no_content);
    call.Reply(std::move(res));
  });
}

}  // namespace eventflow
