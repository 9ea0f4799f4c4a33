#include "net/readiness.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "formats/json_writer.h"

namespace eventflow {

namespace {

// Creates, writes and removes a probe file: what an append needs of the
// directory (a read-only remount or a dead disk fail here).
std::string ProbeWritable(const std::string& dir) {
  const std::string path = dir + "/.readyz-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "data dir " + dir + " is not writable: " + std::strerror(errno);
  const bool wrote = ::write(fd, "x", 1) == 1;
  const int write_errno = errno;
  ::close(fd);
  ::unlink(path.c_str());
  if (!wrote) return "data dir " + dir + " is not writable: " + std::strerror(write_errno);
  return {};
}

}  // namespace

Readiness CheckReadiness(Engine& engine, uint64_t min_free_bytes) {
  Readiness r;
  const std::string& dir = engine.data_dir();
  if (std::string why = ProbeWritable(dir); !why.empty()) r.storage_problems.push_back(why);
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) == 0) {
    r.have_disk = true;
    r.free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    r.size_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
    if (r.free_bytes < min_free_bytes) {
      r.storage_problems.push_back("disk almost full: " + std::to_string(r.free_bytes) +
                                   " bytes free, below --min-free-bytes " +
                                   std::to_string(min_free_bytes));
    }
  } else {
    r.storage_problems.push_back("statvfs " + dir + ": " + std::strerror(errno));
  }
  for (const auto& s : engine.ListStreams()) {
    if (!s->writer) continue;
    std::string why;
    if (!s->writer->healthy()) why = "writer recovering from a storage error";
    if (const uint64_t n = s->writer->stats().unindexed.load()) {
      why = "event index failing, " + std::to_string(n) + " events wait to be indexed";
    }
    if (!why.empty()) r.stream_problems.push_back({s->manifest.stream_id, std::move(why)});
  }
  return r;
}

std::string Readiness::ToJson() const {
  if (ready()) return R"({"status":"ready"})";
  std::string out = R"({"status":"not_ready","reasons":[)";
  for (size_t i = 0; i < storage_problems.size(); ++i) {
    if (i > 0) out += ",";
    json::AppendString(&out, storage_problems[i]);
  }
  out += "],\"streams\":[";
  for (size_t i = 0; i < stream_problems.size(); ++i) {
    if (i > 0) out += ",";
    out += "{\"stream_id\":\"" + stream_problems[i].stream_id.ToString() + "\",\"reason\":";
    json::AppendString(&out, stream_problems[i].reason);
    out += "}";
  }
  out += "]}";
  return out;
}

}  // namespace eventflow
