// TlsContext: the server side of TLS for the listener (serve --tls-cert,
// --tls-key, --tls-client-ca): an Asio SSL context over OpenSSL that speaks
// TLS 1.2 and 1.3 only and, with a client CA, requires a client certificate
// that CA signed. Built again from the same files on SIGHUP.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "formats/status.h"

namespace eventflow {

struct TlsFiles {
  std::string cert;       // PEM: the certificate chain, leaf first
  std::string key;        // PEM: its private key
  std::string client_ca;  // PEM: CAs whose client certificates are required (empty: none)
  bool enabled() const { return !cert.empty(); }
};

// A context loaded from `files`; InvalidArgument naming the file and
// OpenSSL's reason when one cannot be read or the key does not match.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(const TlsFiles& files);

}  // namespace eventflow
