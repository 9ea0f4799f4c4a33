// `eventflow keys create|list|revoke` and `eventflow streams list`.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/admin_commands.h"
#include "cli/segment_files.h"
#include "engine/engine.h"
#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/key_store.h"
#include "net/stream_settings.h"

namespace eventflow::cli {

namespace {

// DATA/LOCK and the index, for the commands that change keys.
struct WritableIndex {
  std::optional<DataDirLock> lock;
  std::unique_ptr<Index> index;  // closed before the lock goes
};

bool OpenWritable(const AdminFlags& f, const char* command, WritableIndex* out) {
  std::error_code ec;
  if (!std::filesystem::is_directory(f.data_dir, ec)) {
    std::cerr << "eventflow " << command << ": no directory " << f.data_dir << "\n";
    return false;
  }
  auto lock = DataDirLock::Acquire(f.data_dir);
  if (!lock.ok()) {
    std::cerr << "eventflow " << command << ": refusing to touch " << f.data_dir << ": "
              << lock.status().message()
              << ". Stop the server first, or use the HTTP API (/api/v1/admin/api-keys).\n";
    return false;
  }
  out->lock.emplace(std::move(*lock));
  auto index = Index::Open(f.data_dir + "/index", {});
  if (!index.ok()) {
    std::cerr << "eventflow " << command << ": " << index.status().ToString() << "\n";
    return false;
  }
  out->index = std::move(*index);
  return true;
}

std::string Rate(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", *v);
  return buf;
}

}  // namespace

int KeysCreate(const AdminFlags& f) {
  if (!ValidName(f.org_id)) {
    std::cerr
        << "eventflow keys create: --org must be a name ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})\n";
    return 2;
  }
  if (f.name.empty() || f.name.size() > 256) {
    std::cerr << "eventflow keys create: --name must be 1..256 characters\n";
    return 2;
  }
  WritableIndex w;
  if (!OpenWritable(f, "keys create", &w)) return 1;
  auto store = KeyStore::Open(w.index.get(), 0);
  if (!store.ok()) {
    std::cerr << "eventflow keys create: " << store.status().ToString() << "\n";
    return 1;
  }
  ApiKey key;
  key.org_id = f.org_id;
  key.name = f.name;
  key.admin = f.admin;
  key.rate_limit_per_s = f.rate_limit;
  key.burst = f.burst;
  if (!f.scopes.empty()) {
    key.scopes = 0;
    for (const std::string& name : f.scopes) {
      const auto scope = ScopeNamed(name);
      if (!scope) {
        std::cerr << "eventflow keys create: unknown scope " << name << "\n";
        return 2;
      }
      key.scopes |= *scope;
    }
  }
  auto made = (*store)->Create(key);
  if (!made.ok()) {
    std::cerr << "eventflow keys create: " << made.status().ToString() << "\n";
    return 1;
  }
  std::printf("api_key_id %s\napi_key %s\n(the secret is shown only now)\n", made->first.id.c_str(),
              made->second.c_str());
  return 0;
}

int KeysList(const AdminFlags& f) {
  Index::Options ro;
  ro.read_only = true;  // beside a running server
  auto index = Index::Open(f.data_dir + "/index", ro);
  if (!index.ok()) {
    std::cerr << "eventflow keys list: " << index.status().ToString() << "\n";
    return 1;
  }
  auto store = KeyStore::Open(index->get(), 0);
  if (!store.ok()) {
    std::cerr << "eventflow keys list: " << store.status().ToString() << "\n";
    return 1;
  }
  auto keys = (*store)->List();
  std::sort(keys.begin(), keys.end(), [](const ApiKey& a, const ApiKey& b) {
    return std::tie(a.org_id, a.name, a.id) < std::tie(b.org_id, b.name, b.id);
  });
  if (f.json) {
    std::string out = "{\"api_keys\":[";
    for (const ApiKey& k : keys) {
      if (out.back() != '[') out += ",";
      out += k.ToJson(false);
    }
    std::printf("%s]}\n", out.c_str());
    return 0;
  }
  std::printf("%-36s  %-16s  %-24s  %-5s  %-22s  %10s  %10s  %s\n", "API_KEY_ID", "ORG", "NAME",
              "ADMIN", "SCOPES", "RATE/S", "BURST", "CREATED_AT");
  for (const ApiKey& k : keys) {
    std::string scopes;
    for (std::string_view name : ScopeNames(k.scopes)) {
      if (!scopes.empty()) scopes += ",";
      scopes += name;
    }
    std::printf("%-36s  %-16s  %-24s  %-5s  %-22s  %10s  %10s  %s\n", k.id.c_str(),
                k.org_id.c_str(), k.name.c_str(), k.admin ? "yes" : "no", scopes.c_str(),
                Rate(k.rate_limit_per_s).c_str(), Rate(k.burst).c_str(),
                timestamp::Format(k.created_at_ms).c_str());
  }
  return 0;
}

int KeysRevoke(const AdminFlags& f) {
  WritableIndex w;
  if (!OpenWritable(f, "keys revoke", &w)) return 1;
  auto store = KeyStore::Open(w.index.get(), 0);
  if (!store.ok()) {
    std::cerr << "eventflow keys revoke: " << store.status().ToString() << "\n";
    return 1;
  }
  Status s = (*store)->Revoke(f.key_id);
  if (!s.ok()) {
    std::cerr << "eventflow keys revoke: " << s.ToString() << "\n";
    return 1;
  }
  std::printf("revoked %s\n", f.key_id.c_str());
  return 0;
}

int StreamsList(const AdminFlags& f) {
  auto streams = ListStreams(f.data_dir);
  if (!streams.ok()) {
    std::cerr << "eventflow streams list: " << streams.status().ToString() << "\n";
    return 1;
  }
  int rc = 0;
  std::string json = "{\"streams\":[";
  if (!f.json) {
    std::printf("%-36s  %-16s  %-32s  %8s  %12s  %11s  %s\n", "STREAM_ID", "ORG", "NAME",
                "SEGMENTS", "DISK_BYTES", "QUARANTINED", "CREATED_AT");
  }
  for (const StreamFiles& s : *streams) {
    if (!s.manifest) {
      std::fprintf(stderr, "PROBLEM %s: %s\n", s.dir.c_str(), s.manifest_error.c_str());
      rc = 1;
      continue;
    }
    uint64_t segments = 0, quarantined = 0, bytes = 0;
    for (const SegmentFile& file : s.files) {
      bytes += file.file_size;
      (file.state == SegmentState::kQuarantined ? quarantined : segments)++;
    }
    const Manifest& m = *s.manifest;
    if (f.json) {
      if (json.back() != '[') json += ",";
      json += "{\"stream_id\":\"" + m.stream_id.ToString() +
              "\",\"org_id\":" + json::Quote(m.org_id) + ",\"name\":" + json::Quote(m.name) +
              ",\"segments\":" + std::to_string(segments) +
              ",\"disk_bytes\":" + std::to_string(bytes) +
              ",\"quarantined_segments\":" + std::to_string(quarantined) + ",\"created_at\":\"" +
              timestamp::Format(m.created_at_ms) + "\",\"settings\":" + m.settings_json + "}";
    } else {
      std::printf("%-36s  %-16s  %-32s  %8llu  %12llu  %11llu  %s\n",
                  m.stream_id.ToString().c_str(), m.org_id.c_str(), m.name.c_str(),
                  static_cast<unsigned long long>(segments), static_cast<unsigned long long>(bytes),
                  static_cast<unsigned long long>(quarantined),
                  timestamp::Format(m.created_at_ms).c_str());
    }
  }
  if (f.json) std::printf("%s]}\n", json.c_str());
  return rc;
}

}  // namespace eventflow::cli
