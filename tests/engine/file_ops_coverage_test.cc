// Every call by which the engine changes the file system goes through
// FileOps (engine/file_ops.h): the crash explorer records the engine's
// changes there, and fault tests inject errors there. A direct call in
// engine/ would be a change neither sees, so this test reads the engine's
// sources and fails on one.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Calls that create, write, sync, size, rename or remove files or
// directories (matched when a '(' follows), and write-stream types
// (matched anywhere).
const std::vector<std::string_view> kCalls = {"::open",
                                              "::openat",
                                              "::creat",
                                              "::write",
                                              "::pwrite",
                                              "::writev",
                                              "::pwritev",
                                              "fsync",
                                              "fdatasync",
                                              "syncfs",
                                              "ftruncate",
                                              "::truncate",
                                              "fallocate",
                                              "::rename",
                                              "::renameat",
                                              "::unlink",
                                              "::unlinkat",
                                              "::mkdir",
                                              "::rmdir",
                                              "::link",
                                              "::symlink",
                                              "fopen",
                                              "create_directories",
                                              "create_directory",
                                              "remove_all",
                                              "fs::remove",
                                              "filesystem::remove",
                                              "fs::rename",
                                              "filesystem::rename",
                                              "resize_file",
                                              "copy_file",
                                              "fs::copy",
                                              "filesystem::copy"};
const std::vector<std::string_view> kTypes = {"ofstream", "std::fstream"};

// The first direct file-system change in `code`, or "".
std::string DirectChange(std::string_view code) {
  for (std::string_view call : kCalls) {
    for (size_t at = code.find(call); at != std::string_view::npos; at = code.find(call, at + 1)) {
      // Not the tail of a longer name (e.g. "my_fsync").
      if (at > 0 && call[0] != ':' &&
          (std::isalnum(static_cast<unsigned char>(code[at - 1])) || code[at - 1] == '_'))
        continue;
      size_t next = at + call.size();
      while (next < code.size() && code[next] == ' ') ++next;
      if (next < code.size() && (code[next] == '(' || code[next] == '<')) return std::string(call);
    }
  }
  for (std::string_view type : kTypes)
    if (code.find(type) != std::string_view::npos) return std::string(type);
  return "";
}

TEST(FileOpsCoverage, EngineChangesFilesOnlyThroughFileOps) {
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(EVENTFLOW_SOURCE_DIR) + "/engine")) {
    const std::string name = entry.path().filename().string();
    // file_ops.cc implements FileOps; fault_injection.cc wraps it and
    // RocksDB's own file system (tests only).
    if (name == "file_ops.cc" || name == "fault_injection.cc") continue;
    if (entry.path().extension() != ".cc" && entry.path().extension() != ".h") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      const std::string code = line.substr(0, line.find("//"));
      const std::string found = DirectChange(code);
      EXPECT_EQ(found, "") << "engine/" << name << ":" << number
                           << " changes files without FileOps: " << line;
    }
  }
  EXPECT_GT(files, 20) << "the engine's sources were not found";
}

// The check itself: it must see a direct call when one is there.
TEST(FileOpsCoverage, CatchesDirectCallsAndPassesFileOps) {
  EXPECT_EQ(DirectChange("  int fd = ::open(p.c_str(), O_RDWR);"), "::open");
  EXPECT_EQ(DirectChange("fs::create_directories(path, ec);"), "create_directories");
  EXPECT_EQ(DirectChange("  if (::fdatasync (fd) != 0)"), "fdatasync");
  EXPECT_EQ(DirectChange("std::ofstream out(path);"), "ofstream");
  EXPECT_EQ(DirectChange("options_.fops->MakeDirs(dir);"), "");
  EXPECT_EQ(DirectChange("fops_->Truncate(fd_, size, path_);"), "");
  EXPECT_EQ(DirectChange("std::ifstream in(path);"), "");
}

}  // namespace
