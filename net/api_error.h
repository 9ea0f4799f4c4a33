// ApiError: an HTTP error answer, {"error": {"code", "message", "details"}}.
// FromStatus is the one place where an engine Status becomes an HTTP status.
#pragma once

#include <string>

#include "formats/status.h"
#include "net/http_server.h"

namespace eventflow {

struct ApiError {
  int status = 500;
  std::string code;  // snake_case, stable: clients branch on it
  std::string message;
  std::string details_json = "null";  // raw JSON
};

ApiError FromStatus(const Status& s);
HttpResponse ErrorResponse(const ApiError& e);
HttpResponse JsonResponse(int status, std::string body);

}  // namespace eventflow
