// Manifest: a stream's identity and settings, kept in
// DATA/streams/<stream_id>/MANIFEST.json and replaced atomically (write a
// temporary file, fsync, rename, fsync the directory). It is the truth for a
// stream's settings; RocksDB holds a copy.
#pragma once

#include <cstdint>
#include <string>

#include "engine/file_ops.h"
#include "formats/status.h"
#include "formats/uuid.h"

namespace eventflow {

struct Manifest {
  static constexpr int kFormatVersion = 1;
  Uuid stream_id;
  std::string org_id;
  std::string name;
  int64_t created_at_ms = 0;
  // The stream's settings object as JSON text (schema, retention, ...),
  // owned by the layers above the engine; "{}" when none.
  std::string settings_json = "{}";

  std::string ToJson() const;
  static Result<Manifest> FromJson(std::string_view json, const std::string& origin);

  static Result<Manifest> Read(const std::string& stream_dir);
  // Atomically replaces the manifest in `stream_dir`.
  Status Write(const std::string& stream_dir, FileOps* fops) const;
};

inline constexpr char kManifestFile[] = "MANIFEST.json";

}  // namespace eventflow
