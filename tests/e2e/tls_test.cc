// TLS on the listener (CONTRACT v1.1 "Keys and organizations") against the
// real binary, with certificates made by the `openssl` command for each test
// and a client written on OpenSSL's API: the API over TLS, plain HTTP and
// TLS below 1.2 refused, client certificates required with --tls-client-ca
// (the API key still required), SIGHUP reloading the certificate files, and
// bad files refused at start.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-tests";

// Runs a shell command; true when it exits 0 (its output is dropped).
bool Shell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

struct TlsClientOptions {
  std::string ca;         // verifies the server's certificate (for 127.0.0.1)
  std::string cert, key;  // the client's certificate, if any
  int max_version = 0;    // e.g. TLS1_1_VERSION; 0: OpenSSL's default
};
TlsClientOptions UpTo(int max_version) {
  TlsClientOptions o;
  o.max_version = max_version;
  return o;
}

struct TlsReply {
  bool handshake_ok = false;
  std::string server_cn;  // the server certificate's common name
  HttpReply http;         // status 0 when no answer came
};

// One request over TLS on a new connection; reads until the server closes.
TlsReply TlsRequest(int port, const std::string& request, const TlsClientOptions& o) {
  TlsReply out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!o.cert.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM);
  }
  if (o.max_version != 0) {
    // Let this client offer old versions at all (Debian's default level
    // refuses them itself), so the refusal tested is the server's.
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, o.max_version);
  }
  SSL* ssl = SSL_new(ctx);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  const int fd = testing::ConnectLoopback(port);
  if (fd >= 0) {
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      out.handshake_ok = true;
      if (X509* peer = SSL_get1_peer_certificate(ssl)) {
        char cn[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        out.server_cn = cn;
        X509_free(peer);
      }
      std::string raw;
      if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) > 0) {
        char buf[16384];
        for (int n; (n = SSL_read(ssl, buf, sizeof buf)) > 0;) raw.append(buf, n);
      }
      out.http = ServerProcess::ParseReply(raw);
    }
    ::close(fd);
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

// A request with the API key `key` (none when empty).
std::string RequestText(const std::string& method, const std::string& target,
                        const std::string& body = "", const std::string& key = kAdmin) {
  return ServerProcess::RequestText(method, target, body,
                                    key.empty() ? "" : "X-API-Key: " + key + "\r\n");
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = tmp_.path() + "/certs";
    std::filesystem::create_directories(certs_);
    data_ = tmp_.path() + "/data";
    ASSERT_TRUE(MakeCa("ca")) << "the openssl command is needed";
    ASSERT_TRUE(MakeCa("other-ca"));
    ASSERT_TRUE(MakeLeaf("server-a", "ca", "server-a", true));
    ASSERT_TRUE(MakeLeaf("server-b", "ca", "server-b", true));
    ASSERT_TRUE(MakeLeaf("client", "ca", "client", false));
    ASSERT_TRUE(MakeLeaf("stranger", "other-ca", "stranger", false));
  }
  std::string Pem(const std::string& name) const { return certs_ + "/" + name + ".pem"; }
  std::string Key(const std::string& name) const { return certs_ + "/" + name + ".key"; }
  bool MakeCa(const std::string& name) {
    return Shell(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=" +
        name + " -keyout " + Key(name) + " -out " + Pem(name));
  }
  // A certificate for `cn` signed by `ca`, for 127.0.0.1 when `server`.
  bool MakeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                bool server) {
    const std::string ext = certs_ + "/" + name + ".ext";
    std::ofstream(ext) << (server ? "subjectAltName=IP:127.0.0.1\n"
                                  : "extendedKeyUsage=clientAuth\n");
    const std::string csr = certs_ + "/" + name + ".csr";
    return Shell("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + cn +
                 " -keyout " + Key(name) + " -out " + csr) &&
           Shell("openssl x509 -req -days 2 -in " + csr + " -CA " + Pem(ca) + " -CAkey " + Key(ca) +
                 " -CAcreateserial -extfile " + ext + " -out " + Pem(name));
  }
  // The serving certificate and key, at paths a reload reads again.
  void InstallServerCert(const std::string& name) {
    std::filesystem::copy_file(Pem(name), certs_ + "/live.pem",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(Key(name), certs_ + "/live.key",
                               std::filesystem::copy_options::overwrite_existing);
  }
  void Start(std::vector<std::string> extra = {}) {
    InstallServerCert("server-a");
    extra.insert(extra.end(), {"--bootstrap-key", kAdmin, "--tls-cert", certs_ + "/live.pem",
                               "--tls-key", certs_ + "/live.key"});
    server_ = std::make_unique<ServerProcess>(data_, extra);
    ASSERT_TRUE(server_->ok()) << server_->first_line();
    EXPECT_NE(server_->first_line().find("(TLS)"), std::string::npos) << server_->first_line();
  }
  // Options with the client certificate `name` (and its key).
  TlsClientOptions As(const std::string& name) const {
    TlsClientOptions o;
    o.ca = Pem("ca");
    o.cert = Pem(name);
    o.key = Key(name);
    return o;
  }
  TlsReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                TlsClientOptions o = {}) {
    if (o.ca.empty()) o.ca = Pem("ca");
    return TlsRequest(server_->port(), RequestText(method, target, body), o);
  }

  TempDir tmp_;
  std::string certs_, data_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TlsTest, TheApiIsServedOverTlsAndPlainHttpIsRefused) {
  Start();
  auto created = Call("POST", "/api/v1/streams", R"({"name":"orders"})");
  ASSERT_TRUE(created.handshake_ok);
  EXPECT_EQ(created.server_cn, "server-a");
  ASSERT_EQ(created.http.status, 201) << created.http.body;
  auto produced =
      Call("POST", "/api/v1/streams/orders/events", R"({"event_type":"Made","payload":{"n":7}})");
  ASSERT_EQ(produced.http.status, 202) << produced.http.body;
  auto got = Call("GET", "/api/v1/streams/orders/events/" + Field(produced.http.body, "/event_id"));
  EXPECT_EQ(Field(got.http.body, "/payload/n"), "7");
  // The API key is still required over TLS.
  TlsClientOptions trusting;
  trusting.ca = Pem("ca");
  EXPECT_EQ(TlsRequest(server_->port(), RequestText("GET", "/api/v1/streams", "", ""), trusting)
                .http.status,
            401);
  // No protocol sniffing: plain HTTP gets no HTTP answer, and nothing is
  // stored from it.
  EXPECT_EQ(server_
                ->Request("POST", "/api/v1/streams/orders/events",
                          R"({"event_type":"Made","payload":{}})",
                          std::string("X-API-Key: ") + kAdmin + "\r\n")
                .status,
            0);
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/orders").http.body, "/event_count"), "1");
}

TEST_F(TlsTest, VersionsBelowTls12AreRefused) {
  Start();
  EXPECT_FALSE(Call("GET", "/healthz", "", UpTo(TLS1_1_VERSION)).handshake_ok);
  EXPECT_FALSE(Call("GET", "/healthz", "", UpTo(TLS1_VERSION)).handshake_ok);
  auto tls12 = Call("GET", "/healthz", "", UpTo(TLS1_2_VERSION));
  EXPECT_TRUE(tls12.handshake_ok);
  EXPECT_EQ(tls12.http.status, 200);
}

TEST_F(TlsTest, ClientCaRequiresACertificateItSigned) {
  Start({"--tls-client-ca", Pem("ca")});
  // No certificate, or one another CA signed: no answer (with TLS 1.3 the
  // client learns it at its first read).
  EXPECT_EQ(Call("GET", "/healthz").http.status, 0);
  EXPECT_EQ(Call("GET", "/healthz", "", As("stranger")).http.status, 0);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", "", As("client")).http.status, 200);
  // The certificate does not stand in for the key.
  auto keyless =
      TlsRequest(server_->port(), RequestText("GET", "/api/v1/whoami", "", ""), As("client"));
  EXPECT_EQ(keyless.http.status, 401);
}

TEST_F(TlsTest, SighupReloadsTheCertificateAndKeepsItWhenTheNewFilesAreBad) {
  Start();
  EXPECT_EQ(Call("GET", "/healthz").server_cn, "server-a");
  InstallServerCert("server-b");
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  std::string cn;
  for (int i = 0; i < 100 && cn != "server-b"; ++i) {  // the reload is asynchronous
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cn = Call("GET", "/healthz").server_cn;
  }
  EXPECT_EQ(cn, "server-b");
  // A broken file: the server keeps serving with what it has.
  std::ofstream(certs_ + "/live.pem") << "not a certificate\n";
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto still = Call("GET", "/healthz");
  EXPECT_EQ(still.server_cn, "server-b");
  EXPECT_EQ(still.http.status, 200);
  EXPECT_EQ(server_->Terminate(), 0);
}

TEST_F(TlsTest, BadTlsFlagsOrFilesStopTheStart) {
  const std::vector<std::vector<std::string>> bad = {
      {"--tls-cert", Pem("server-a")},                                // no key
      {"--tls-cert", Pem("server-a"), "--tls-key", Key("server-b")},  // not its key
      {"--tls-cert", certs_ + "/missing.pem", "--tls-key", Key("server-a")},
      {"--tls-client-ca", Pem("ca")},  // TLS is off
      {"--tls-cert", Pem("server-a"), "--tls-key", Key("server-a"), "--tls-client-ca",
       Key("server-a")},  // not a CA certificate
  };
  for (const auto& flags : bad) {
    ServerProcess refused(data_, flags);
    EXPECT_FALSE(refused.ok()) << flags[1];
  }
}

}  // namespace
}  // namespace eventflow
