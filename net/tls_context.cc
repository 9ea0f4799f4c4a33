#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace eventflow {

namespace ssl = boost::asio::ssl;

namespace {
// OpenSSL's reason for the last failure, and the error queue emptied.
std::string OpenSslReason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  ERR_clear_error();
  return reason;
}
}  // namespace

Result<std::shared_ptr<ssl::context>> MakeTlsContext(const TlsFiles& files) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (!ec && SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return Status::InvalidArgument("TLS: cannot require TLS 1.2 or later");
  }
  if (ec) return Status::InvalidArgument("TLS: " + OpenSslReason(ec));
  if (ctx->use_certificate_chain_file(files.cert, ec); ec) {
    return Status::InvalidArgument("TLS: cannot load the certificate chain " + files.cert + ": " +
                                   OpenSslReason(ec));
  }
  if (ctx->use_private_key_file(files.key, ssl::context::pem, ec); ec) {
    return Status::InvalidArgument("TLS: cannot load the private key " + files.key + ": " +
                                   OpenSslReason(ec));
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("TLS: the private key " + files.key +
                                   " does not match the certificate " + files.cert);
  }
  if (!files.client_ca.empty()) {
    if (ctx->load_verify_file(files.client_ca, ec); ec) {
      return Status::InvalidArgument("TLS: cannot load the client CA " + files.client_ca + ": " +
                                     OpenSslReason(ec));
    }
    // Tells clients which CAs are accepted, so they pick the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str());
    if (names == nullptr) {
      ERR_clear_error();
      return Status::InvalidArgument("TLS: no CA certificate in " + files.client_ca);
    }
    SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

}  // namespace eventflow
