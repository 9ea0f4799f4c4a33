// Api handlers for /api/v1/admin/api-keys (admin keys only).
#include "formats/json_writer.h"
#include "net/api.h"
#include "net/stream_settings.h"

namespace eventflow {

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
    } else {
      return call.Fail({400, "invalid_request", "unknown field " + std::string(k)});
    }
  }
  if (!has_org || !has_name) {
    return call.Fail({400, "invalid_request", "org_id and name are required"});
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
    if (!first) out += ",";
    first = false;
    out += k.ToJson(false);
  }
  out += "]}";
  call.Json(200, std::move(out));
}

void Api::RevokeKey(Call& call, const std::string& id) {
  Offload(call, [this, id](Call& call) {
    Status s = keys_->Revoke(id);
    if (s.IsNotFound()) return call.Fail({404, "api_key_not_found", s.message()});
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
