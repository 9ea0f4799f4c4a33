#include "examples/task-lifecycle/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

namespace tasks {
namespace {

using eventflow::client::MakeError;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Hmac(std::string_view data, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

eventflow::client::Error Unauthorized(std::string message) {
  return MakeError(401, "invalid_token", std::move(message));
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

bool Base64UrlDecode(std::string_view text, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return bits < 6;  // a lone 6-bit group cannot end valid base64
}

std::string SignHs256(std::string_view claims_json, std::string_view secret) {
  std::string input =
      Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64UrlEncode(claims_json);
  return input + "." + Base64UrlEncode(Hmac(input, secret));
}

eventflow::client::Result<JwtClaims> VerifyHs256(std::string_view token, std::string_view secret,
                                                 int64_t now_unix_s) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthorized("malformed token");
  }
  std::string header, claims, signature;
  if (!Base64UrlDecode(token.substr(0, dot1), &header) ||
      !Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1), &claims) ||
      !Base64UrlDecode(token.substr(dot2 + 1), &signature)) {
    return Unauthorized("malformed token encoding");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element h;
  std::string_view alg;
  if (parser.parse(header).get(h) || h["alg"].get(alg)) return Unauthorized("malformed header");
  // Only the algorithm this service signs with: never "none", never RS/ES
  // with the HMAC secret taken for a public key.
  if (alg != "HS256") return Unauthorized("alg " + std::string(alg) + " is not accepted");
  const std::string expected = Hmac(token.substr(0, dot2), secret);
  if (signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return Unauthorized("bad signature");
  }
  simdjson::dom::element c;
  if (parser.parse(claims).get(c)) return Unauthorized("malformed claims");
  JwtClaims out;
  std::string_view sub;
  if (c["sub"].get(sub) || sub.empty()) return Unauthorized("no sub claim");
  out.subject = std::string(sub);
  if (c["exp"].get(out.expires_at)) return Unauthorized("no exp claim");
  if (out.expires_at <= now_unix_s) return Unauthorized("token expired");
  return out;
}

}  // namespace tasks
