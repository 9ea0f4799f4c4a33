#include "net/api_error.h"

#include "formats/json_writer.h"

namespace eventflow {

ApiError FromStatus(const Status& s) {
  using C = Status::Code;
  switch (s.code()) {
    case C::kOk:
      return ApiError{200, "ok", ""};
    case C::kNotFound:
      return ApiError{404, "not_found", s.message()};
    case C::kInvalidArgument:
      return ApiError{400, "invalid_request", s.message()};
    case C::kAlreadyExists:
      return ApiError{409, "already_exists", s.message()};
    case C::kConflict:
      return ApiError{409, "conflict", s.message()};
    case C::kNoSpace:
      return ApiError{503, "storage_full", "storage is full; try again later"};
    case C::kIOError:
      return ApiError{503, "storage_unavailable", "storage failed; try again"};
    case C::kBusy:
    case C::kUnavailable:
      return ApiError{503, "unavailable", s.message()};
    case C::kAborted:
      return ApiError{503, "shutting_down", s.message()};
    case C::kQuotaExceeded:
      return ApiError{403, "quota_exceeded", s.message()};
    case C::kCorruption:
      return ApiError{500, "storage_corrupt", s.message()};
  }
  return ApiError{500, "internal", s.message()};
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse res;
  res.result(static_cast<unsigned>(status));
  res.set(boost::beast::http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

HttpResponse ErrorResponse(const ApiError& e) {
  std::string body = "{\"error\":{\"code\":";
  json::AppendString(&body, e.code);
  body += ",\"message\":";
  // Messages quote what a request said (a path, a name), bytes that may not
  // be UTF-8: never echoed raw into JSON.
  json::AppendUntrustedString(&body, e.message);
  body += ",\"details\":" + e.details_json + "}}";
  return JsonResponse(e.status, std::move(body));
}

}  // namespace eventflow
