// HS256 JSON Web Tokens (RFC 7519) for the task service: Verify checks the
// header says alg HS256 (so "none" and every other alg are refused), the
// HMAC-SHA256 signature (OpenSSL, compared in constant time) and that `exp`
// is present and in the future; Sign makes tokens for tests and run.sh.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "client/result.h"

namespace tasks {

struct JwtClaims {
  std::string subject;  // "sub": the user id
  int64_t expires_at = 0;
};

eventflow::client::Result<JwtClaims> VerifyHs256(std::string_view token, std::string_view secret,
                                                 int64_t now_unix_s);
// header.payload.signature for `claims_json` (an object), signed with `secret`.
std::string SignHs256(std::string_view claims_json, std::string_view secret);
// Unpadded base64url (RFC 4648 section 5).
std::string Base64UrlEncode(std::string_view bytes);
bool Base64UrlDecode(std::string_view text, std::string* out);

}  // namespace tasks
