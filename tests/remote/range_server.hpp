// Starts and stops tests/remote/range_server.py (SAFETENSORS_RANGE_SERVER, run with
// SAFETENSORS_PYTHON3) for the remote tests: one server per test, on 127.0.0.1 and a free port,
// serving the files of a directory; its counters (requests, body bytes, connections, ranges) are
// read back over HTTP. POSIX only, as the remote tests are.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <safetensors/http_source.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace st_test {

/// Options for requests to the local test server: no proxy, short timeouts, quick retries.
inline safetensors::http_options local_http() {
  safetensors::http_options o;
  o.proxy = "";
  o.connect_timeout = std::chrono::seconds(2);
  o.request_timeout = std::chrono::seconds(5);
  o.stall_timeout = std::chrono::seconds(1);
  o.retries = 2;
  o.backoff = std::chrono::milliseconds(10);
  o.max_backoff = std::chrono::milliseconds(40);
  return o;
}

/// One request as the server saw it.
struct logged_request {
  std::string path;                            // without the query
  bool proxied = false;                        // the request line held an absolute URL
  std::map<std::string, std::string> headers;  // names as sent
};

/// What the server counted since it started or was last reset.
struct server_stats {
  std::uint64_t requests = 0;
  std::uint64_t bytes = 0;
  std::uint64_t connections = 0;  // accepted, the stats request's own not counted
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;  // [first, last] asked for
  std::vector<logged_request> log;  // every path's requests, the stats request's own included
};

class range_server {
 public:
  /// Serves the files of `root`, over HTTPS with the PEM certificate and key `tls` when given;
  /// throws when the server does not start within 20 seconds.
  explicit range_server(const std::string& root,
                        std::optional<std::pair<std::string, std::string>> tls = std::nullopt)
      : tls_(std::move(tls)) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("range_server: pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    std::string python = SAFETENSORS_PYTHON3, script = SAFETENSORS_RANGE_SERVER, dir = root;
    std::string flag = "--tls", cert = tls_ ? tls_->first : "", key = tls_ ? tls_->second : "";
    char* argv[] = {python.data(), script.data(), dir.data(), nullptr, nullptr, nullptr, nullptr};
    if (tls_) {
      argv[3] = flag.data();
      argv[4] = cert.data();
      argv[5] = key.data();
    }
    const int rc = posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      pid_ = -1;
      throw std::runtime_error("range_server: cannot start " + python);
    }
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{out[0], POLLIN, 0};
      char buf[64];
      ssize_t got = 0;
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0 ||
          (got = read(out[0], buf, sizeof buf)) <= 0) {
        close(out[0]);
        stop();
        throw std::runtime_error("range_server: no port from the server (output: " + line + ")");
      }
      line.append(buf, static_cast<std::size_t>(got));
    }
    close(out[0]);
    if (line.compare(0, 5, "port ") != 0) {
      stop();
      throw std::runtime_error("range_server: unexpected first line " + line);
    }
    port_ = std::stoi(line.substr(5));
  }
  ~range_server() { stop(); }
  range_server(const range_server&) = delete;
  range_server& operator=(const range_server&) = delete;

  /// Kills the server (SIGKILL): its connections and port close.
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /// The URL of file `name` served in `mode` (range_server.py lists the modes).
  std::string url(const std::string& mode, const std::string& name) const {
    return base() + mode + "/" + name;
  }
  std::string base() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_) + "/";
  }
  int port() const noexcept { return port_; }
  /// Options that reach this server: local_http(), with its certificate as the CA when it has one.
  safetensors::http_options options() const {
    safetensors::http_options o = local_http();
    if (tls_) o.ca_file = tls_->first;
    return o;
  }
  /// The URL at which the server redirects to `to` with `code`.
  std::string redirect_url(const std::string& to, int code = 302) const {
    std::string q;
    static const char hex[] = "0123456789ABCDEF";
    for (const char ch : to) {
      const auto c = static_cast<unsigned char>(ch);
      if (std::isalnum(c) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
        q += ch;
      } else {
        q += '%';
        q += hex[c >> 4];
        q += hex[c & 15];
      }
    }
    return base() + "__redirect?code=" + std::to_string(code) + "&to=" + q;
  }

  server_stats stats() const {
    auto text = safetensors::http_get(base() + "__stats", options()).value();
    const auto j = nlohmann::json::parse(text);
    server_stats s;
    s.requests = j.at("requests").get<std::uint64_t>();
    s.bytes = j.at("bytes").get<std::uint64_t>();
    s.connections = j.at("connections").get<std::uint64_t>() - 1;  // not this request's own
    for (const auto& r : j.at("ranges")) {
      if (r.is_array()) s.ranges.emplace_back(r[0].get<std::uint64_t>(), r[1].get<std::uint64_t>());
    }
    for (const auto& r : j.at("log")) {
      logged_request l;
      l.path = r.at("path").get<std::string>();
      l.proxied = r.at("proxied").get<bool>();
      for (const auto& [name, value] : r.at("headers").items()) {
        l.headers[name] = value.get<std::string>();
      }
      s.log.push_back(std::move(l));
    }
    return s;
  }
  /// Zeroes the counters (a stats or reset request opens a connection of its own: counted).
  void reset() const { (void)safetensors::http_get(base() + "__reset", options()).value(); }

 private:
  std::optional<std::pair<std::string, std::string>> tls_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace st_test
