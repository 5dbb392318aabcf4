// A self-signed TLS certificate for 127.0.0.1 and localhost, made at test time by the openssl
// command (SAFETENSORS_OPENSSL, found by CMake; empty when there is none): an EC P-256 key, valid
// for two days, written to a test's temporary directory. Never a certificate kept in the tree.
#pragma once

#include <spawn.h>
#include <sys/wait.h>

#include <optional>
#include <string>
#include <utility>

#include "test_writer.hpp"

extern char** environ;

namespace st_test {

/// {certificate, key} (PEM files in `dir`), or nullopt when openssl is missing or fails.
inline std::optional<std::pair<std::string, std::string>> make_tls_cert(const temp_dir& dir) {
  std::string openssl = SAFETENSORS_OPENSSL;
  if (openssl.empty()) return std::nullopt;
  const std::string cert = dir.file("cert.pem").string(), key = dir.file("key.pem").string();
  std::vector<std::string> args{openssl,
                                "req",
                                "-x509",
                                "-newkey",
                                "ec",
                                "-pkeyopt",
                                "ec_paramgen_curve:prime256v1",
                                "-nodes",
                                "-days",
                                "2",
                                "-subj",
                                "/CN=127.0.0.1",
                                "-addext",
                                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                                "-keyout",
                                key,
                                "-out",
                                cert};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, openssl.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return std::nullopt;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return std::nullopt;
  }
  return std::make_pair(cert, key);
}

}  // namespace st_test
