#include "engine/manifest.h"

#include <fcntl.h>
#include <simdjson.h>

#include "formats/json_writer.h"
#include "formats/timestamp.h"

namespace eventflow {

std::string Manifest::ToJson() const {
  std::string out = "{\"format_version\":" + std::to_string(kFormatVersion);
  out += ",\"stream_id\":\"" + stream_id.ToString() + "\",\"org_id\":";
  json::AppendString(&out, org_id);
  out += ",\"name\":";
  json::AppendString(&out, name);
  out += ",\"created_at\":\"" + timestamp::Format(created_at_ms) + "\",\"settings\":";
  out += settings_json;
  out += "}\n";
  return out;
}

Result<Manifest> Manifest::FromJson(std::string_view json, const std::string& origin) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root); err) {
    return Status::Corruption(origin + ": " + simdjson::error_message(err));
  }
  Manifest m;
  int64_t version = 0;
  std::string_view id, org, name, created;
  simdjson::dom::element settings;
  if (root["format_version"].get(version) || root["stream_id"].get(id) || root["org_id"].get(org) ||
      root["name"].get(name) || root["created_at"].get(created) || root["settings"].get(settings)) {
    return Status::Corruption(origin + ": missing or mistyped field");
  }
  if (version != kFormatVersion) {
    return Status::Corruption(origin + ": unknown format_version " + std::to_string(version));
  }
  auto uuid = Uuid::Parse(id);
  auto ts = timestamp::Parse(created);
  if (!uuid || !ts) return Status::Corruption(origin + ": bad stream_id or created_at");
  m.stream_id = *uuid;
  m.org_id = std::string(org);
  m.name = std::string(name);
  m.created_at_ms = *ts;
  m.settings_json = simdjson::minify(settings);
  return m;
}

Result<Manifest> Manifest::Read(const std::string& stream_dir) {
  const std::string path = stream_dir + "/" + kManifestFile;
  simdjson::padded_string text;
  if (auto err = simdjson::padded_string::load(path).get(text); err) {
    return Status::NotFound(path + ": " + simdjson::error_message(err));
  }
  return FromJson(std::string_view(text.data(), text.size()), path);
}

Status Manifest::Write(const std::string& stream_dir, FileOps* fops) const {
  const std::string path = stream_dir + "/" + kManifestFile;
  const std::string tmp = path + ".tmp";
  const std::string text = ToJson();
  auto fd = fops->Open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd.ok()) return fd.status();
  Status s = fops->Write(*fd, text.data(), text.size(), 0, tmp);
  if (s.ok()) s = fops->Sync(*fd, tmp);
  fops->Close(*fd);
  if (s.ok()) s = fops->Rename(tmp, path);
  if (s.ok()) s = fops->SyncDir(stream_dir);
  return s;
}

}  // namespace eventflow
