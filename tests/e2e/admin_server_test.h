// A test fixture around one real server with a known admin key and JSON
// logs in DATA/server.log: start, restart (SIGTERM or kill -9), requests
// with the admin key, and the log text.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow::testing {

class AdminServerTest : public ::testing::Test {
 protected:
  static constexpr char kAdmin[] = "admin-secret-for-tests";

  void SetUp() override { Start(); }
  void Start() {
    server_ = std::make_unique<ServerProcess>(
        tmp_.path(),
        std::vector<std::string>{"--bootstrap-key", kAdmin, "--segment-bytes", "1048576",
                                 "--log-format", "json"},
        tmp_.path() + "/server.log");
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  void Restart(bool kill9) {
    if (kill9) {
      server_->Kill();
    } else {
      ASSERT_EQ(server_->Terminate(), 0);
    }
    server_.reset();
    Start();
  }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& headers = "") {
    return server_->Request(method, target, body,
                            std::string("X-API-Key: ") + kAdmin + "\r\n" + headers);
  }
  std::string ServerLog() {
    std::ifstream in(tmp_.path() + "/server.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace eventflow::testing
