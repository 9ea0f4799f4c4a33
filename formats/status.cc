#include "formats/status.h"

#include <cerrno>
#include <cstring>

namespace eventflow {

Status Status::FromErrno(int err, std::string_view what, std::string_view path) {
  std::string msg;
  msg.reserve(what.size() + path.size() + 48);
  msg.append(what).append(": ").append(path).append(": ").append(std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return NoSpace(std::move(msg));
  return IOError(std::move(msg));
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      name = "NotFound";
      break;
    case Code::kCorruption:
      name = "Corruption";
      break;
    case Code::kInvalidArgument:
      name = "InvalidArgument";
      break;
    case Code::kIOError:
      name = "IOError";
      break;
    case Code::kNoSpace:
      name = "NoSpace";
      break;
    case Code::kAlreadyExists:
      name = "AlreadyExists";
      break;
    case Code::kConflict:
      name = "Conflict";
      break;
    case Code::kBusy:
      name = "Busy";
      break;
    case Code::kUnavailable:
      name = "Unavailable";
      break;
    case Code::kAborted:
      name = "Aborted";
      break;
    case Code::kQuotaExceeded:
      name = "QuotaExceeded";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace eventflow
