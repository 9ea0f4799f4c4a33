#include "tests/crash/op_log.h"

#include <cstring>
#include <fstream>
#include <iterator>

namespace eventflow::crash {

void OpLog::AppendLocked(Op op) { ops_.push_back(std::move(op)); }

void OpLog::Promise(std::string text) {
  std::lock_guard lock(mu_);
  Op op;
  op.kind = OpKind::kPromise;
  op.data = std::move(text);
  ops_.push_back(std::move(op));
}

std::string OpLog::Relative(const std::string& path) const {
  if (path.compare(0, root_.size(), root_) == 0 && path.size() > root_.size() &&
      path[root_.size()] == '/') {
    std::string rel = path.substr(root_.size() + 1);
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    return rel;
  }
  return path;  // outside the root: kept as given (never materialized)
}

uint64_t OpLog::InodeOfLocked(const std::string& rel) const {
  auto it = names_.find(rel);
  return it == names_.end() ? 0 : it->second;
}

uint64_t OpLog::NewInodeLocked(const std::string& rel) {
  const uint64_t inode = next_inode_++;
  names_[rel] = inode;
  return inode;
}

void OpLog::MoveNameLocked(const std::string& from, const std::string& to) {
  auto it = names_.find(from);
  if (it == names_.end()) return;
  const uint64_t inode = it->second;
  names_.erase(it);
  names_[to] = inode;
}

std::vector<Op> OpLog::Snapshot() {
  std::lock_guard lock(mu_);
  return ops_;
}

namespace {
// Trace format: per op, kind/class/grow u8s, inode/pos u64s, then three
// length-prefixed strings. Native byte order: traces stay on this machine.
void PutU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
void PutString(std::string* out, const std::string& s) {
  PutU64(out, s.size());
  out->append(s);
}
bool GetU64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  std::memcpy(v, in->data(), 8);
  in->remove_prefix(8);
  return true;
}
bool GetString(std::string_view* in, std::string* s) {
  uint64_t n = 0;
  if (!GetU64(in, &n) || in->size() < n) return false;
  s->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}
constexpr char kTraceMagic[] = "eventflow-crash-trace-1\n";
}  // namespace

Status OpLog::Save(const std::vector<Op>& ops, const std::string& file) {
  std::string out = kTraceMagic;
  for (const Op& op : ops) {
    out.push_back(static_cast<char>(op.kind));
    out.push_back(static_cast<char>(op.file_class));
    out.push_back(op.grow_only ? 1 : 0);
    PutU64(&out, op.inode);
    PutU64(&out, op.pos);
    PutString(&out, op.path);
    PutString(&out, op.from);
    PutString(&out, op.data);
  }
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!f) return Status::IOError("cannot write trace " + file);
  return Status::Ok();
}

Result<std::vector<Op>> OpLog::Load(const std::string& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) return Status::NotFound("no trace " + file);
  const std::string text(std::istreambuf_iterator<char>(f), {});
  std::string_view in(text);
  const std::string_view magic(kTraceMagic);
  if (in.substr(0, magic.size()) != magic) return Status::Corruption(file + " is not a trace");
  in.remove_prefix(magic.size());
  std::vector<Op> ops;
  while (!in.empty()) {
    if (in.size() < 3) return Status::Corruption(file + ": truncated");
    Op op;
    op.kind = static_cast<OpKind>(in[0]);
    op.file_class = static_cast<FileClass>(in[1]);
    op.grow_only = in[2] != 0;
    in.remove_prefix(3);
    if (!GetU64(&in, &op.inode) || !GetU64(&in, &op.pos) || !GetString(&in, &op.path) ||
        !GetString(&in, &op.from) || !GetString(&in, &op.data))
      return Status::Corruption(file + ": truncated");
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace eventflow::crash
