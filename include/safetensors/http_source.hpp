// safetensors for C++: files over HTTP(S), on libcurl (docs/remote.md). http_source is a
// random_access_source that fetches each read as one Range request; open_http_checkpoint opens a
// sharded checkpoint whose index and shards are URLs. Not a part of the header-only core, and
// not included by safetensors.hpp: include this header where you need it and link libcurl
// (CMake: the target safetensors::http, defined when CURL is found), or define
// SAFETENSORS_HTTP_DLOPEN to load libcurl at the first request instead of linking it
// (docs/remote.md#loading-libcurl-at-run-time).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_HTTP_SOURCE_HPP
#define SAFETENSORS_HTTP_SOURCE_HPP

#include <curl/curl.h>

// The oldest libcurl supported (docs/remote.md#building-with-http-support): 7.85.0, for
// CURLOPT_PROTOCOLS_STR and after the fix of CVE-2022-27776 (before 7.83.0, credentials went to
// another port or scheme of the same host).
#define SAFETENSORS_HTTP_MIN_LIBCURL 0x075500
#define SAFETENSORS_HTTP_MIN_LIBCURL_TEXT "7.85.0"
#if LIBCURL_VERSION_NUM < SAFETENSORS_HTTP_MIN_LIBCURL
#error "safetensors/http_source.hpp needs libcurl 7.85.0 or later (docs/remote.md)"
#endif

#ifdef SAFETENSORS_HTTP_DLOPEN
#ifdef _WIN32
#error "SAFETENSORS_HTTP_DLOPEN needs dlopen (POSIX); on Windows, link libcurl"
#endif
#include <dlfcn.h>
// The library loaded: its soname (libcurl-gnutls.so.4 for Debian's GnuTLS flavour, say).
#ifndef SAFETENSORS_HTTP_LIBCURL
#ifdef __APPLE__
#define SAFETENSORS_HTTP_LIBCURL "libcurl.4.dylib"
#else
#define SAFETENSORS_HTTP_LIBCURL "libcurl.so.4"
#endif
#endif
#endif

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "safetensors.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {

/// What went wrong with a remote read (docs/remote.md#errors). The error is an IoError whose
/// message carries the failure's name in brackets ("[RangeIgnored]"); http_failure_of()
/// recovers it, whatever prefixes the reader, checkpoint or loader added to the message.
enum class http_failure : std::uint8_t {
  range_ignored,  ///< RangeIgnored: the server answered 200 (the whole file) to a Range request
  changed,        ///< Changed: the ETag, Last-Modified or size differs from the first response's
  not_found,      ///< NotFound: 404 or 410
  forbidden,      ///< Forbidden: 401 or 403
  short_body,     ///< ShortBody: fewer bytes than the range (a truncated body or a shorter range)
  bad_response,   ///< BadResponse: another status (5xx after the retries), or a malformed reply
  timeout,        ///< Timeout: no connection, no progress or no answer in time (after retries)
  connection,     ///< Connection: cannot resolve, connect, send or receive (after the retries)
  redirect,       ///< Redirect: a redirect refused (https to http, another scheme, too many)
};

/// The failure's name as it appears in messages: "RangeIgnored", "Changed", ...
constexpr std::string_view http_failure_name(http_failure f) noexcept {
  switch (f) {
    case http_failure::range_ignored:
      return "RangeIgnored";
    case http_failure::changed:
      return "Changed";
    case http_failure::not_found:
      return "NotFound";
    case http_failure::forbidden:
      return "Forbidden";
    case http_failure::short_body:
      return "ShortBody";
    case http_failure::bad_response:
      return "BadResponse";
    case http_failure::timeout:
      return "Timeout";
    case http_failure::connection:
      return "Connection";
    case http_failure::redirect:
      return "Redirect";
  }
  return "BadResponse";
}

/// The http_failure an error carries (the last "[Name]" of one in its message), or nullopt for
/// an error that did not come from an HTTP request. It cannot tell a tensor or file name that
/// itself contains such a bracket from the failure: names come before it in messages.
inline std::optional<http_failure> http_failure_of(const error& e) {
  if (e.code() != errc::io_error) return std::nullopt;
  const std::string& m = e.message();
  std::optional<http_failure> found;
  std::size_t at = 0;
  for (std::size_t k = 0; k <= static_cast<std::size_t>(http_failure::redirect); ++k) {
    const auto f = static_cast<http_failure>(k);
    const std::string token = "[" + std::string(http_failure_name(f)) + "]";
    const std::size_t pos = m.rfind(token);
    if (pos != std::string::npos && (!found || pos > at)) {
      found = f;
      at = pos;
    }
  }
  return found;
}

/// Options of http_source::open and open_http_checkpoint. The defaults suit a model hub or an
/// object store over the internet; tests against a local server use much shorter timeouts.
struct http_options {
  /// Longest wait for a connection (TCP and TLS), per attempt.
  std::chrono::milliseconds connect_timeout{10'000};
  /// A request fails with Timeout (retried) when it receives nothing for this long (no header,
  /// no body byte), or fewer than min_speed bytes per second on average over this long (a
  /// server that trickles); checked about once a second; 0: no limit.
  std::chrono::milliseconds stall_timeout{30'000};
  /// The slowest a request may receive, in bytes per second averaged over each stall_timeout
  /// (off with it); 0: only a request that receives nothing at all for stall_timeout fails.
  std::uint64_t min_speed = 1024;
  /// Longest one request may take in all, per attempt; 0: no limit (stall_timeout and min_speed
  /// still apply).
  std::chrono::milliseconds request_timeout{0};
  /// Attempts after the first on 5xx, 408, 429, timeouts and connection failures (each read's
  /// own count). RangeIgnored, Changed, NotFound, Forbidden, ShortBody from a consistent reply,
  /// Redirect, TLS certificate failures and out of memory are never retried.
  unsigned retries = 4;
  /// Wait before the first retry; doubled before each later one, up to max_backoff.
  std::chrono::milliseconds backoff{250};
  /// Longest wait between two attempts.
  std::chrono::milliseconds max_backoff{8'000};
  /// Bytes the opening request fetches from the start of the file and keeps, so that later
  /// reads inside them cost no request. 8 (the length prefix, the default) makes opening a
  /// reader cost two requests and exactly 8 + N bytes; a value above 8 + N makes it one.
  std::uint64_t first_bytes = 8;
  /// Extra request headers, such as "Authorization: Bearer <token>", sent only to the origin
  /// (scheme, host and port) of the URL given: a request redirected to another origin goes
  /// without them (docs/remote.md#redirects).
  std::vector<std::string> headers;
  /// Extra request headers sent to every origin a request is redirected to, as well as to the
  /// URL's: never a credential.
  std::vector<std::string> headers_any_origin;
  /// Redirects followed by one request; one more is the failure Redirect.
  unsigned max_redirects = 10;
  /// Follow a redirect from https to http (by default the failure Redirect: the rest of the
  /// exchange would go unencrypted and unauthenticated).
  bool allow_https_to_http = false;
  /// Check the server's TLS certificate and name (turn off only for a test server).
  bool verify_tls = true;
  /// A PEM file of the CA certificates to check servers against instead of the system's (a
  /// private CA); empty: the system's.
  std::string ca_file;
  /// Idle connections kept for reuse (one per concurrent reader is enough).
  std::size_t max_idle_connections = 16;
  /// The User-Agent header.
  std::string user_agent = "safetensors-cpp";
  /// The proxy: nullopt for libcurl's default (the environment variables http_proxy,
  /// https_proxy or HTTPS_PROXY, all_proxy or ALL_PROXY, no_proxy or NO_PROXY; never
  /// HTTP_PROXY), "" for none, or a proxy URL.
  std::optional<std::string> proxy;
};

/// What a source (or a fetch) has sent and received so far.
struct http_stats {
  std::uint64_t requests = 0;     ///< requests sent, retries included
  std::uint64_t bytes = 0;        ///< body bytes received into buffers (the file's bytes)
  std::uint64_t retries = 0;      ///< attempts after a retryable failure
  std::uint64_t connections = 0;  ///< new connections opened (the others reused one)
};

namespace detail {

inline bool http_ieq(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

inline std::string_view http_trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

/// True when `url` begins with http:// or https:// (any case).
inline bool http_url(std::string_view url) noexcept {
  return (url.size() > 7 && http_ieq(url.substr(0, 7), "http://")) ||
         (url.size() > 8 && http_ieq(url.substr(0, 8), "https://"));
}

/// The URL without user information, query or fragment (which may hold credentials or
/// signatures): for messages. A removed query shows as "?...".
inline std::string http_shown_url(std::string_view url) {
  const std::size_t scheme = url.find("://");
  const std::size_t host = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t end = url.find_first_of("?#", host);
  const bool query = end != std::string_view::npos;
  if (!query) end = url.size();
  std::size_t authority_end = url.find('/', host);
  if (authority_end == std::string_view::npos || authority_end > end) authority_end = end;
  std::size_t at = url.rfind('@', authority_end);
  std::string out(url.substr(0, host));
  if (at != std::string_view::npos && at >= host) {
    out.append(url.substr(at + 1, end - at - 1));
  } else {
    out.append(url.substr(host, end - host));
  }
  if (query) out += "?...";
  return out;
}

/// Parses a decimal number of at most 19 digits.
inline std::optional<std::uint64_t> http_number(std::string_view s) noexcept {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

/// "bytes FIRST-LAST/TOTAL", "bytes FIRST-LAST/*" or "bytes */TOTAL".
struct content_range {
  std::optional<std::uint64_t> first, last, total;
};

inline std::optional<content_range> parse_content_range(std::string_view v) {
  v = http_trim(v);
  if (v.size() < 6 || !http_ieq(v.substr(0, 6), "bytes ")) return std::nullopt;
  v.remove_prefix(6);
  const std::size_t slash = v.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  content_range out;
  const std::string_view range = v.substr(0, slash), total = v.substr(slash + 1);
  if (total != "*") {
    out.total = http_number(total);
    if (!out.total) return std::nullopt;
  }
  if (range != "*") {
    const std::size_t dash = range.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    out.first = http_number(range.substr(0, dash));
    out.last = http_number(range.substr(dash + 1));
    if (!out.first || !out.last || *out.last < *out.first) return std::nullopt;
  } else if (!out.total) {
    return std::nullopt;
  }
  return out;
}

/// The libcurl functions the client calls, through one table: the library's own functions when
/// it is linked, or those of the library loaded at the first request (SAFETENSORS_HTTP_DLOPEN).
struct curl_api {
  decltype(&curl_global_init) global_init = nullptr;  // each the type of the header's own
  decltype(&curl_version_info) version_info = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_reset) easy_reset = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_perform) easy_perform = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
  decltype(&curl_url) url = nullptr;
  decltype(&curl_url_cleanup) url_cleanup = nullptr;
  decltype(&curl_url_set) url_set = nullptr;
  decltype(&curl_url_get) url_get = nullptr;
  decltype(&curl_free) free = nullptr;
};

/// libcurl, ready to use (`failure` empty) or why not: what is missing and what to install.
struct curl_library {
  curl_api api;
  std::string failure;
};

#ifdef SAFETENSORS_HTTP_DLOPEN
/// Fills `fn` with the address of `name` in `lib`; false when there is none.
template <class Fn>
bool curl_symbol(void* lib, const char* name, Fn& fn) noexcept {
  void* p = dlsym(lib, name);
  static_assert(sizeof(p) == sizeof(fn), "a function pointer is not the size of void*");
  std::memcpy(&fn, &p, sizeof fn);  // POSIX: dlsym's result is the function's address
  return p != nullptr;
}
#endif

/// Loads libcurl (SAFETENSORS_HTTP_DLOPEN: dlopen, never closed) or takes the linked one, checks
/// its version and initialises its global state.
inline curl_library load_curl() {
  curl_library out;
  curl_api& a = out.api;
  const std::string install =
      "; install libcurl " SAFETENSORS_HTTP_MIN_LIBCURL_TEXT
      " or later (Debian, Ubuntu: apt-get install libcurl4; Fedora: dnf install libcurl; Alpine: "
      "apk add libcurl)";
#ifdef SAFETENSORS_HTTP_DLOPEN
  void* lib = dlopen(SAFETENSORS_HTTP_LIBCURL, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    out.failure = "reading URLs needs libcurl, which cannot be loaded (" +
                  std::string(why != nullptr ? why : SAFETENSORS_HTTP_LIBCURL) + ")" + install;
    return out;
  }
  const bool found =
      curl_symbol(lib, "curl_global_init", a.global_init) &&
      curl_symbol(lib, "curl_version_info", a.version_info) &&
      curl_symbol(lib, "curl_easy_init", a.easy_init) &&
      curl_symbol(lib, "curl_easy_cleanup", a.easy_cleanup) &&
      curl_symbol(lib, "curl_easy_reset", a.easy_reset) &&
      curl_symbol(lib, "curl_easy_setopt", a.easy_setopt) &&
      curl_symbol(lib, "curl_easy_getinfo", a.easy_getinfo) &&
      curl_symbol(lib, "curl_easy_perform", a.easy_perform) &&
      curl_symbol(lib, "curl_easy_strerror", a.easy_strerror) &&
      curl_symbol(lib, "curl_slist_append", a.slist_append) &&
      curl_symbol(lib, "curl_slist_free_all", a.slist_free_all) &&
      curl_symbol(lib, "curl_url", a.url) && curl_symbol(lib, "curl_url_cleanup", a.url_cleanup) &&
      curl_symbol(lib, "curl_url_set", a.url_set) && curl_symbol(lib, "curl_url_get", a.url_get) &&
      curl_symbol(lib, "curl_free", a.free);
  if (!found) {
    out.failure = "the library " SAFETENSORS_HTTP_LIBCURL
                  " lacks functions of libcurl's API: it is not a usable libcurl" +
                  install;
    return out;
  }
#else
  a.global_init = &curl_global_init;
  a.version_info = &curl_version_info;
  a.easy_init = &curl_easy_init;
  a.easy_cleanup = &curl_easy_cleanup;
  a.easy_reset = &curl_easy_reset;
  a.easy_setopt = &curl_easy_setopt;
  a.easy_getinfo = &curl_easy_getinfo;
  a.easy_perform = &curl_easy_perform;
  a.easy_strerror = &curl_easy_strerror;
  a.slist_append = &curl_slist_append;
  a.slist_free_all = &curl_slist_free_all;
  a.url = &curl_url;
  a.url_cleanup = &curl_url_cleanup;
  a.url_set = &curl_url_set;
  a.url_get = &curl_url_get;
  a.free = &curl_free;
#endif
  const curl_version_info_data* v = a.version_info(CURLVERSION_NOW);
  if (v == nullptr || v->version_num < SAFETENSORS_HTTP_MIN_LIBCURL) {
    out.failure = "libcurl " + std::string(v != nullptr && v->version ? v->version : "?") +
                  " is older than " SAFETENSORS_HTTP_MIN_LIBCURL_TEXT ", the oldest supported" +
                  install;
    return out;
  }
  if (a.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    out.failure = "libcurl could not be initialised (curl_global_init)";
  }
  return out;
}

/// The process's libcurl, loaded and initialised by the first call (thread-safe).
inline const curl_library& curl_loaded() {
  static const curl_library lib = load_curl();
  return lib;
}

/// libcurl's functions: only after curl_loaded() succeeded (http_client::init).
inline const curl_api& curl() noexcept { return curl_loaded().api; }

/// Text a server sent (a reason phrase, an ETag, an error page), fit for a message on a
/// terminal: tabs and line breaks become spaces, and every byte outside printable ASCII is
/// escaped as \xNN, so that it cannot carry an escape sequence.
inline std::string http_printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\t' || c == '\r' || c == '\n') {
      out += ' ';
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += hex_digit(c >> 4u);
      out += hex_digit(c);
    } else {
      out += ch;
    }
  }
  return out;
}

/// A URL's origin: lowercase scheme and host, and the port (the scheme's default when absent).
struct http_origin {
  std::string scheme, host, port;
  bool operator==(const http_origin& o) const {
    return scheme == o.scheme && host == o.host && port == o.port;
  }
};

/// The origin of an absolute http(s) URL as libcurl parses it, or nullopt when it cannot.
inline std::optional<http_origin> http_origin_of(const std::string& url) {
  const curl_api& c = curl();
  CURLU* u = c.url();
  if (u == nullptr) return std::nullopt;
  std::optional<http_origin> out;
  if (c.url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    http_origin o;
    const auto part = [&](CURLUPart which, unsigned flags, std::string& into) {
      char* v = nullptr;
      if (c.url_get(u, which, &v, flags) != CURLUE_OK || v == nullptr) return false;
      into = v;
      c.free(v);
      for (char& ch : into) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return true;
    };
    if (part(CURLUPART_SCHEME, 0, o.scheme) && part(CURLUPART_HOST, 0, o.host) &&
        part(CURLUPART_PORT, CURLU_DEFAULT_PORT, o.port)) {
      out = std::move(o);
    }
  }
  c.url_cleanup(u);
  return out;
}

/// One exchange's state (one response: a redirect is another exchange), filled by libcurl's
/// callbacks.
struct http_transfer {
  // Where the body goes: a fixed buffer (a Range request) or a growing string (a whole GET).
  char* dst = nullptr;
  std::size_t capacity = 0;
  std::string* text = nullptr;
  std::uint64_t max_text = 0;
  bool ranged = true;
  // The response.
  long status = 0;
  std::string reason;
  std::optional<std::string> content_range;
  std::optional<std::string> etag;
  std::optional<std::string> last_modified;
  std::uint64_t received = 0;  // body bytes stored
  std::uint64_t refused = 0;   // the allocation that failed (stop::out_of_memory)
  std::string error_body;      // the start of a non-2xx body, for the message
  std::uint64_t error_bytes = 0;
  enum class stop {
    none,
    range_ignored,
    overflow,
    too_large,
    out_of_memory,
    stalled,
    too_slow,
    error_body,  // a non-2xx body longer than error_body_limit: not worth reading to its end
  } stopped = stop::none;
  // Progress: the time of the last byte received (header or body), and the bytes received since
  // the start of the current min_speed window.
  std::chrono::milliseconds stall{0};
  std::uint64_t min_speed = 0;
  std::chrono::steady_clock::time_point last_data, window_start;
  std::uint64_t seen = 0, window_seen = 0;

  /// The most of a non-2xx body that is read: its start goes into the message (200 bytes).
  static constexpr std::uint64_t error_body_limit = 4096;

  /// Clears the response, before an exchange.
  void begin(std::chrono::milliseconds stall_timeout, std::uint64_t speed) {
    if (text != nullptr) text->clear();
    status = 0;
    reason.clear();
    content_range.reset();
    etag.reset();
    last_modified.reset();
    received = 0;
    refused = 0;
    error_body.clear();
    error_bytes = 0;
    stopped = stop::none;
    stall = stall_timeout;
    min_speed = speed;
    last_data = window_start = std::chrono::steady_clock::now();
    seen = window_seen = 0;
  }

  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<http_transfer*>(user);
    if (t->stall.count() <= 0) return 0;
    const auto now = std::chrono::steady_clock::now();
    if (now - t->last_data > t->stall) {
      t->stopped = stop::stalled;
      return 1;  // abort the transfer
    }
    if (t->min_speed > 0 && now - t->window_start >= t->stall) {
      const auto ms = static_cast<std::uint64_t>(t->stall.count());
      const std::uint64_t need = t->min_speed > std::numeric_limits<std::uint64_t>::max() / ms
                                     ? std::numeric_limits<std::uint64_t>::max()
                                     : t->min_speed * ms / 1000;
      if (t->seen - t->window_seen < need) {
        t->stopped = stop::too_slow;
        return 1;
      }
      t->window_start = now;
      t->window_seen = t->seen;
    }
    return 0;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<http_transfer*>(user);
    const std::size_t n = size * count;
    t->last_data = std::chrono::steady_clock::now();
    t->seen += n;
#if SAFETENSORS_NO_EXCEPTIONS == 0
    try {  // no exception may cross libcurl's frames
#endif
      t->header_line(std::string_view(data, n));
#if SAFETENSORS_NO_EXCEPTIONS == 0
    } catch (...) {
      t->stopped = stop::out_of_memory;
      return 0;  // abort the transfer
    }
#endif
    return n;
  }

  void header_line(std::string_view line) {
    if (line.size() >= 5 && line.compare(0, 5, "HTTP/") == 0) {  // a response (1xx, CONNECT's)
      status = 0;
      reason.clear();
      content_range.reset();
      etag.reset();
      last_modified.reset();
      const std::size_t sp = line.find(' ');
      if (sp != std::string_view::npos) {
        std::string_view rest = http_trim(line.substr(sp + 1));
        const std::size_t sp2 = rest.find(' ');
        if (auto code = http_number(rest.substr(0, sp2))) status = static_cast<long>(*code);
        if (sp2 != std::string_view::npos) reason = std::string(http_trim(rest.substr(sp2)));
      }
      return;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::string_view name = http_trim(line.substr(0, colon));
    const std::string_view value = http_trim(line.substr(colon + 1));
    if (http_ieq(name, "Content-Range")) {
      content_range = std::string(value);
    } else if (http_ieq(name, "ETag")) {
      etag = std::string(value);
    } else if (http_ieq(name, "Last-Modified")) {
      last_modified = std::string(value);
    }
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<http_transfer*>(user);
    const std::size_t n = size * count;
    t->last_data = std::chrono::steady_clock::now();
    t->seen += n;
    if (t->status < 200 || t->status > 299) {  // an error page or a redirect's: its start only
      const std::size_t keep =
          std::min<std::size_t>(n, 200 - std::min<std::size_t>(200, t->error_body.size()));
      if (keep != 0 && try_reserve(t->error_body, 200)) t->error_body.append(data, keep);
      t->error_bytes += n;
      if (t->error_bytes > error_body_limit) {
        t->stopped = stop::error_body;
        return 0;  // abort: the connection closes instead of draining the rest
      }
      return n;
    }
    if (t->ranged && t->status != 206) {  // the whole file is coming: stop at its first byte
      t->stopped = stop::range_ignored;
      return 0;
    }
    if (t->text != nullptr) {
      if (t->received + n > t->max_text) {
        t->stopped = stop::too_large;
        return 0;
      }
      std::string& s = *t->text;
      if (s.size() + n > s.capacity()) {  // grown as it arrives, at most to max_text
        const std::uint64_t want = std::min<std::uint64_t>(
            t->max_text, std::max<std::uint64_t>(std::uint64_t{2} * s.capacity(), s.size() + n));
        if (!try_reserve(s, int_cast<std::size_t>(want))) {
          t->refused = want;
          t->stopped = stop::out_of_memory;
          return 0;
        }
      }
      s.append(data, n);  // within the capacity: no allocation
    } else {
      if (n > t->capacity - int_cast<std::size_t>(t->received)) {
        t->stopped = stop::overflow;
        return 0;
      }
      if (n != 0) std::memcpy(t->dst + t->received, data, n);
    }
    t->received += n;
    return n;
  }
};

/// The first response's identity: a later response with another one means the file changed.
struct http_identity {
  std::uint64_t size = 0;
  std::optional<std::string> etag;
  std::optional<std::string> last_modified;
};

/// The HTTP client of one URL: a pool of libcurl easy handles (each keeps its connections open
/// for the next request), redirects, the retry loop, and the statistics. Thread-safe.
class http_client {
 public:
  http_client(std::string url, http_options options)
      : url_(std::move(url)), shown_(http_shown_url(url_)), options_(std::move(options)) {}
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;
  ~http_client() {
    if (idle_.empty() && headers_ == nullptr && foreign_headers_ == nullptr) return;
    for (CURL* h : idle_) curl().easy_cleanup(h);
    if (headers_ != nullptr) curl().slist_free_all(headers_);
    if (foreign_headers_ != nullptr) curl().slist_free_all(foreign_headers_);
  }

  const std::string& url() const noexcept { return url_; }
  const std::string& shown() const noexcept { return shown_; }
  const http_options& options() const noexcept { return options_; }

  http_stats stats() const noexcept {
    http_stats s;
    s.requests = requests_.load(std::memory_order_relaxed);
    s.bytes = bytes_.load(std::memory_order_relaxed);
    s.retries = retries_.load(std::memory_order_relaxed);
    s.connections = connections_.load(std::memory_order_relaxed);
    return s;
  }

  /// Loads libcurl, parses the URL's origin and builds the header lists. IoError when libcurl
  /// cannot be used, InvalidArgument for a URL libcurl does not parse.
  result<void> init() {
    if (const curl_library& lib = curl_loaded(); !lib.failure.empty()) {
      return error(errc::io_error, shown_ + ": " + lib.failure);
    }
    auto origin = http_origin_of(url_);
    if (!origin) {
      return error(errc::invalid_argument, quote(shown_) + " is not a URL libcurl can parse");
    }
    origin_ = std::move(*origin);
    const auto append = [](curl_slist*& list, const std::string& h) {
      curl_slist* next = curl().slist_append(list, h.c_str());
      if (next == nullptr) return false;
      list = next;
      return true;
    };
    for (const std::string& h : options_.headers) {
      if (!append(headers_, h)) return out_of_memory(shown_ + ": a request header", h.size());
    }
    for (const std::string& h : options_.headers_any_origin) {
      if (!append(headers_, h) || !append(foreign_headers_, h)) {
        return out_of_memory(shown_ + ": a request header", h.size());
      }
    }
    return {};
  }

  /// GETs bytes [first, first + n) into dst; the reply must be exactly that range, of the file
  /// `expect` describes. Or, with `learn` (the opening request), of any file: it may be shorter
  /// than n bytes (`got` receives how many came) and `learn` receives its identity.
  result<void> get_range(std::uint64_t first, void* dst, std::size_t n, const http_identity* expect,
                         http_identity* learn = nullptr, std::uint64_t* got = nullptr) const {
    const bool probe = learn != nullptr;
    http_transfer t;
    t.dst = static_cast<char*>(dst);
    t.capacity = n;
    const std::string what =
        "GET " + shown_ + " bytes " + num(first) + "-" + num(first + n - 1) + ": ";
    return attempts(t, first, n, what, [&]() -> std::optional<error> {
      if (t.status == 416 && probe) {  // an empty file has no byte 0
        auto cr = t.content_range ? parse_content_range(*t.content_range) : std::nullopt;
        if (cr && cr->total && *cr->total == 0 && !cr->first) {
          learn->size = 0;
          learn->etag = t.etag;
          learn->last_modified = t.last_modified;
          if (got != nullptr) *got = 0;
          return std::nullopt;
        }
      }
      if (auto e = status_error(t, what)) return e;
      auto cr = t.content_range ? parse_content_range(*t.content_range) : std::nullopt;
      if (!cr || !cr->first) {
        return fail(http_failure::bad_response, what +
                                                    "a 206 reply without a valid Content-Range (" +
                                                    quote(t.content_range.value_or("")) + ")");
      }
      if (probe) {
        if (!cr->total) {
          return fail(http_failure::bad_response,
                      what + "the server does not tell the file's size (Content-Range " +
                          quote(*t.content_range) + ")");
        }
        learn->size = *cr->total;
        learn->etag = t.etag;
        learn->last_modified = t.last_modified;
      } else if (auto e = changed(t, *expect, cr->total, what)) {
        return e;
      }
      const std::uint64_t want_last =
          probe ? std::min<std::uint64_t>(first + n, learn->size) - 1 : first + n - 1;
      if (*cr->first != first || *cr->last > want_last) {
        return fail(http_failure::bad_response,
                    what + "the server sent another range (" + quote(*t.content_range) + ")");
      }
      if (*cr->last < want_last || t.received != *cr->last - *cr->first + 1) {
        return fail(http_failure::short_body, what + "the reply holds " + num(t.received) +
                                                  " of the " + num(want_last - first + 1) +
                                                  " bytes asked for (Content-Range " +
                                                  quote(*t.content_range) + ")");
      }
      if (got != nullptr) *got = t.received;
      return std::nullopt;
    });
  }

  /// GETs the whole resource (no Range), at most max_bytes bytes.
  result<std::string> get_all(std::uint64_t max_bytes) const {
    std::string text;
    http_transfer t;
    t.ranged = false;
    t.text = &text;
    t.max_text = std::min<std::uint64_t>(max_bytes, std::numeric_limits<std::size_t>::max());
    const std::string what = "GET " + shown_ + ": ";
    auto r = attempts(t, 0, 0, what, [&]() -> std::optional<error> {
      if (auto e = status_error(t, what)) return e;
      return std::nullopt;
    });
    if (!r) return r.error();
    return text;
  }

  static error fail(http_failure f, const std::string& message) {
    return error(errc::io_error, "[" + std::string(http_failure_name(f)) + "] " + message);
  }

 private:
  // The attempts of one request: `check` judges a completed exchange (nullopt: success).
  template <class Check>
  result<void> attempts(http_transfer& t, std::uint64_t first, std::size_t n,
                        const std::string& what, Check check) const {
    std::chrono::milliseconds wait = options_.backoff;
    for (unsigned attempt = 0;; ++attempt) {
      if (attempt > 0) {
        retries_.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(wait);
        wait = std::min(wait * 2, options_.max_backoff);
      }
      bool retryable = false;
      std::optional<error> e = perform(t, first, n, what, retryable);
      if (!e) e = check();
      if (!e) return {};
      if (!retryable || attempt >= options_.retries) {
        if (attempt > 0) {
          return error(e->code(), e->message() + " (after " + num(attempt + 1) + " attempts)");
        }
        return std::move(*e);
      }
    }
  }

  static bool redirect_status(long status) noexcept {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  }

  // One request, its redirects followed (docs/remote.md#redirects). An error here is a transport
  // failure, a refused redirect or a stop of a callback; `retryable` says whether another
  // attempt may succeed. Otherwise `t` holds the final response.
  std::optional<error> perform(http_transfer& t, std::uint64_t first, std::size_t n,
                               const std::string& what, bool& retryable) const {
    CURL* h = acquire();
    if (h == nullptr) {
      return fail(http_failure::connection, what + "libcurl cannot create a handle");
    }
    std::string range;
    if (t.ranged) range = num(first) + "-" + num(first + n - 1);
    std::string url = url_;
    std::optional<error> out;
    for (unsigned hop = 0;; ++hop) {
      t.begin(options_.stall_timeout, options_.min_speed);
      char curl_message[CURL_ERROR_SIZE] = {};
      // The caller's headers go to the URL's own origin only: a hop elsewhere gets the others.
      const bool home = hop == 0 || http_origin_of(url) == origin_;
      CURLcode rc = set_options(h, t, url, home ? headers_ : foreign_headers_, range, curl_message);
      if (rc == CURLE_OK) rc = curl().easy_perform(h);
      long new_connections = 0;
      curl().easy_getinfo(h, CURLINFO_NUM_CONNECTS, &new_connections);
      requests_.fetch_add(1, std::memory_order_relaxed);
      bytes_.fetch_add(t.received, std::memory_order_relaxed);
      connections_.fetch_add(static_cast<std::uint64_t>(std::max(0L, new_connections)),
                             std::memory_order_relaxed);
      const bool answered = rc == CURLE_OK || t.stopped == http_transfer::stop::error_body;
      if (answered && redirect_status(t.status)) {
        char* location = nullptr;
        curl().easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
        if (location == nullptr) {
          out = fail(http_failure::bad_response, what + "HTTP " +
                                                     num(static_cast<std::uint64_t>(t.status)) +
                                                     " without a Location to follow");
          break;
        }
        std::string next = location;
        if ((out = redirect_error(url, next, hop, what))) break;
        url = std::move(next);
        continue;
      }
      if (answered) {
        retryable = t.status >= 500 || t.status == 408 || t.status == 429;
        break;
      }
      out = transfer_error(rc, t, n, what, curl_message, retryable);
      break;
    }
    release(h);
    return out;
  }

  // Why the redirect from `from` to `to` (hop `hop`, from 0) is not followed, or nullopt.
  std::optional<error> redirect_error(const std::string& from, const std::string& to, unsigned hop,
                                      const std::string& what) const {
    const std::string shown_to = quote(http_printable(http_shown_url(to)));
    if (hop >= options_.max_redirects) {
      return fail(http_failure::redirect,
                  what + "more than " + num(options_.max_redirects) +
                      " redirects (http_options::max_redirects); the last to " + shown_to);
    }
    if (!http_url(to)) {
      return fail(http_failure::redirect,
                  what + "a redirect to " + shown_to + ": only http:// and https:// are followed");
    }
    if (http_ieq(from.substr(0, 8), "https://") && !http_ieq(to.substr(0, 8), "https://") &&
        !options_.allow_https_to_http) {
      return fail(http_failure::redirect,
                  what + "a redirect from https to " + shown_to +
                      ", which is not encrypted (http_options::allow_https_to_http)");
    }
    if (!http_origin_of(to)) {
      return fail(http_failure::redirect,
                  what + "a redirect to " + shown_to + ", which libcurl cannot parse");
    }
    return std::nullopt;
  }

  // The failure of an exchange that did not complete.
  std::optional<error> transfer_error(CURLcode rc, const http_transfer& t, std::size_t n,
                                      const std::string& what, const char* curl_message,
                                      bool& retryable) const {
    const std::string reason =
        http_printable(curl_message[0] != '\0' ? curl_message : curl().easy_strerror(rc));
    switch (t.stopped) {
      case http_transfer::stop::range_ignored:
        return fail(http_failure::range_ignored,
                    what + "the server answered " + num(static_cast<std::uint64_t>(t.status)) +
                        ", not 206 Partial Content: it ignores Range requests");
      case http_transfer::stop::overflow:
        return fail(http_failure::bad_response,
                    what + "the server sent more than the " + num(n) + " bytes asked for");
      case http_transfer::stop::too_large:
        return error(errc::header_too_large,
                     what + "the reply is larger than " + num(t.max_text) + " bytes");
      case http_transfer::stop::out_of_memory:
        return out_of_memory(what + "the reply, after " + num(t.received) + " bytes", t.refused);
      case http_transfer::stop::stalled:
        retryable = true;
        return fail(http_failure::timeout,
                    what + "nothing received for " +
                        num(static_cast<std::uint64_t>(options_.stall_timeout.count())) +
                        " ms (http_options::stall_timeout), after " + num(t.received) + " bytes");
      case http_transfer::stop::too_slow:
        retryable = true;
        return fail(http_failure::timeout,
                    what + "fewer than " + num(options_.min_speed) + " bytes per second over " +
                        num(static_cast<std::uint64_t>(options_.stall_timeout.count())) +
                        " ms (http_options::min_speed), after " + num(t.received) + " bytes");
      case http_transfer::stop::error_body:
      case http_transfer::stop::none:
        break;
    }
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        retryable = true;
        return fail(http_failure::timeout, what + reason);
      case CURLE_PARTIAL_FILE:  // the connection closed before the promised length
        retryable = true;
        return fail(http_failure::short_body,
                    what + "the connection closed after " + num(t.received) + " bytes: " + reason);
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        retryable = true;
        return fail(http_failure::connection, what + reason);
      default:
        return fail(http_failure::connection, what + reason);
    }
  }

  // A status other than 206 (ranged) or 200 (whole): its failure.
  static std::optional<error> status_error(const http_transfer& t, const std::string& what) {
    const long want = t.ranged ? 206 : 200;
    if (t.status == want) return std::nullopt;
    std::string status = "HTTP " + num(static_cast<std::uint64_t>(std::max(0L, t.status)));
    if (!t.reason.empty()) status += " " + http_printable(t.reason);
    const std::string body(http_trim(http_printable(t.error_body)));
    if (!body.empty()) status += " (" + body + ")";
    if (t.status == 404 || t.status == 410) return fail(http_failure::not_found, what + status);
    if (t.status == 401 || t.status == 403) return fail(http_failure::forbidden, what + status);
    if (t.ranged && t.status == 200) {
      return fail(http_failure::range_ignored,
                  what +
                      "the server answered 200, not 206 Partial Content: it ignores Range "
                      "requests");
    }
    if (t.status == 416) {
      auto cr = t.content_range ? parse_content_range(*t.content_range) : std::nullopt;
      if (cr && cr->total) {
        return fail(http_failure::changed,
                    what + status + ": the file now has " + num(*cr->total) + " bytes");
      }
    }
    return fail(http_failure::bad_response, what + status);
  }

  // The file's identity against the first response's.
  static std::optional<error> changed(const http_transfer& t, const http_identity& id,
                                      std::optional<std::uint64_t> total, const std::string& what) {
    if (total && *total != id.size) {
      return fail(http_failure::changed, what + "the file had " + num(id.size) +
                                             " bytes when opened and now has " + num(*total));
    }
    if (id.etag && t.etag && *id.etag != *t.etag) {
      return fail(http_failure::changed, what + "the ETag was " + quote(http_printable(*id.etag)) +
                                             " when the file was opened and is now " +
                                             quote(http_printable(*t.etag)));
    }
    if (!id.etag && id.last_modified && t.last_modified && *id.last_modified != *t.last_modified) {
      return fail(http_failure::changed, what + "Last-Modified was " +
                                             quote(http_printable(*id.last_modified)) +
                                             " when the file was opened and is now " +
                                             quote(http_printable(*t.last_modified)));
    }
    return std::nullopt;
  }

  // Sets every option of one exchange; the first option libcurl refuses, or CURLE_OK.
  CURLcode set_options(CURL* h, http_transfer& t, const std::string& url, curl_slist* headers,
                       const std::string& range, char* message) const {
    const auto ms = [](std::chrono::milliseconds d) {  // 0 for a negative duration
      return int_cast<long>(
          std::clamp<std::int64_t>(d.count(), 0, std::numeric_limits<long>::max()));
    };
    CURLcode first = CURLE_OK;
    const auto set = [&](CURLoption option, auto value) {
      const CURLcode rc = curl().easy_setopt(h, option, value);
      if (first == CURLE_OK) first = rc;
    };
    curl().easy_setopt(h, CURLOPT_ERRORBUFFER, message);
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_NOSIGNAL, 1L);        // no SIGALRM: required with threads
    set(CURLOPT_FOLLOWLOCATION, 0L);  // redirects are followed here, each one checked
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_CONNECTTIMEOUT_MS, ms(options_.connect_timeout));
    set(CURLOPT_TIMEOUT_MS, ms(options_.request_timeout));
    set(CURLOPT_XFERINFOFUNCTION, &http_transfer::on_progress);
    set(CURLOPT_XFERINFODATA, static_cast<void*>(&t));
    set(CURLOPT_NOPROGRESS, 0L);
    set(CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    set(CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    if (!options_.ca_file.empty()) set(CURLOPT_CAINFO, options_.ca_file.c_str());
    set(CURLOPT_USERAGENT, options_.user_agent.c_str());
    set(CURLOPT_HTTPHEADER, headers);  // also when null: the previous hop's list must go
    if (options_.proxy) set(CURLOPT_PROXY, options_.proxy->c_str());
    if (!range.empty()) set(CURLOPT_RANGE, range.c_str());
    set(CURLOPT_HEADERFUNCTION, &http_transfer::on_header);
    set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
    set(CURLOPT_WRITEFUNCTION, &http_transfer::on_body);
    set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
    return first;
  }

  CURL* acquire() const {
    {
      std::lock_guard<std::mutex> lock(pool_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        curl().easy_reset(h);  // keeps the open connections, the DNS and TLS session caches
        return h;
      }
    }
    return curl().easy_init();
  }

  void release(CURL* h) const {
    curl().easy_setopt(h, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
    {
      std::lock_guard<std::mutex> lock(pool_);
      if (idle_.size() < options_.max_idle_connections) {
        idle_.push_back(h);
        return;
      }
    }
    curl().easy_cleanup(h);
  }

  std::string url_;
  std::string shown_;
  http_options options_;
  http_origin origin_;
  curl_slist* headers_ = nullptr;          // options_.headers and headers_any_origin
  curl_slist* foreign_headers_ = nullptr;  // headers_any_origin
  mutable std::mutex pool_;
  mutable std::vector<CURL*> idle_;
  mutable std::atomic<std::uint64_t> requests_{0};
  mutable std::atomic<std::uint64_t> bytes_{0};
  mutable std::atomic<std::uint64_t> retries_{0};
  mutable std::atomic<std::uint64_t> connections_{0};
};

}  // namespace detail

/// A file over HTTP(S) as a random_access_source: each read is one GET with a Range header
/// (connections are kept open and reused), checked to be exactly the bytes asked for and of the
/// same file as when it was opened. Works with source_reader, checkpoint (open_http_checkpoint)
/// and load(). Thread-safe: concurrent reads use concurrent requests. It cannot make a server
/// that ignores Range efficient (RangeIgnored, no fallback to downloading the whole file), nor
/// detect a change of a file that keeps its size and has neither ETag nor Last-Modified.
class http_source final : public random_access_source {
 public:
  /// Opens `url` (http:// or https://) with one request for its first options.first_bytes
  /// bytes, which gives the size (Content-Range) and the ETag every later reply must match.
  /// InvalidArgument for another scheme or a URL libcurl cannot parse; IoError with an
  /// http_failure otherwise, or without one when libcurl cannot be loaded.
  static result<std::unique_ptr<http_source>> open(const std::string& url,
                                                   const http_options& options = {}) {
    if (!detail::http_url(url)) {
      return error(errc::invalid_argument,
                   "http_source: " + detail::quote(detail::http_shown_url(url)) +
                       " is not an http:// or https:// URL");
    }
    std::unique_ptr<http_source> s(new http_source(url, options));
    if (auto r = s->client_.init(); !r) return r.error();
    const std::uint64_t want = std::max<std::uint64_t>(options.first_bytes, 1);
    auto size = detail::to_size_t(want, "http_options::first_bytes");
    if (!size) return size.error();
    if (!detail::try_resize(s->first_, *size)) {
      return detail::out_of_memory("http_source: http_options::first_bytes", want);
    }
    std::uint64_t got = 0;
    if (auto r = s->client_.get_range(0, s->first_.data(), s->first_.size(), nullptr, &s->identity_,
                                      &got);
        !r) {
      return r.error();
    }
    s->first_.resize(detail::int_cast<std::size_t>(got));
    return s;
  }

  /// The file's size, from the opening reply.
  std::uint64_t byte_size() const noexcept override { return identity_.size; }
  /// Bytes inside the kept first bytes are copied without a request; others are one request.
  /// IoError past the end (no request) or with an http_failure.
  result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    if (offset > identity_.size || n > identity_.size - offset) {
      return error(errc::io_error, client_.shown() + ": read of " + detail::num(n) +
                                       " bytes at offset " + detail::num(offset) +
                                       " is past the end of " + detail::num(identity_.size) +
                                       " bytes");
    }
    if (n == 0) return {};
    if (offset < first_.size() && n <= first_.size() - offset) {
      std::memcpy(dst, first_.data() + offset, n);
      return {};
    }
    return client_.get_range(offset, dst, n, &identity_);
  }
  /// The URL without user information, query or fragment.
  std::string describe() const override { return client_.shown(); }
  /// The URL as given.
  const std::string& url() const noexcept { return client_.url(); }
  /// The ETag of the opening reply (empty when the server sent none).
  std::string etag() const { return identity_.etag.value_or(std::string()); }
  /// Requests and bytes so far, the opening request included.
  http_stats stats() const noexcept { return client_.stats(); }

 private:
  http_source(std::string url, const http_options& options) : client_(std::move(url), options) {}
  detail::http_client client_;
  detail::http_identity identity_;
  std::vector<unsigned char> first_;
};

/// GETs the whole resource at `url` (no Range; an index file, a config), at most `max_bytes`
/// bytes (HeaderTooLarge above), with the timeouts and retries of `options`; `stats`, when
/// given, receives what it cost. IoError with an http_failure. A retry fetches the whole body
/// again: there is no resuming.
inline result<std::string> http_get(const std::string& url, const http_options& options = {},
                                    std::uint64_t max_bytes = 100'000'000,
                                    http_stats* stats = nullptr) {
  if (!detail::http_url(url)) {
    return error(errc::invalid_argument, "http_get: " + detail::quote(detail::http_shown_url(url)) +
                                             " is not an http:// or https:// URL");
  }
  detail::http_client client(url, options);
  if (auto r = client.init(); !r) return r.error();
  auto text = client.get_all(max_bytes);
  if (stats != nullptr) *stats = client.stats();
  return text;
}

/// The URL of `name` next to the file at `url`: the directory of url's path (its query and
/// fragment dropped) joined with `name`, percent-encoded. It cannot make URLs that need a
/// signature of their own (signed object-store URLs): use checkpoint_options::open_shard.
inline std::string http_sibling_url(std::string_view url, std::string_view name) {
  const std::size_t scheme = url.find("://");
  const std::size_t host = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t end = url.find_first_of("?#", host);
  if (end == std::string_view::npos) end = url.size();
  const std::size_t path = url.find('/', host);
  std::string out;
  if (path == std::string_view::npos || path >= end) {
    out = std::string(url.substr(0, end)) + "/";
  } else {
    out = std::string(url.substr(0, url.rfind('/', end - 1) + 1));
  }
  static const char hex[] = "0123456789ABCDEF";
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Opens the checkpoint at `url` over HTTP(S), as checkpoint::open opens a path. A URL whose path
/// ends in `.json` is an index: fetched in one GET (at most options.max_index_size bytes) and
/// parsed; each shard is an http_source next to it (http_sibling_url), opened on first use. Any
/// other URL is a single file, opened here (sharded() is false). Shards are read with
/// shard_access::reader (options.access and options.open_shard are set here). Costs: one request
/// for the index, then two per shard on its first use (docs/remote.md#costs). The index's errors
/// are prefixed with the URL; IoError with an http_failure; InvalidArgument for a URL that is
/// not http:// or https://.
inline result<checkpoint> open_http_checkpoint(const std::string& url,
                                               const http_options& http = {},
                                               checkpoint_options options = {}) {
  const std::string shown = detail::http_shown_url(url);
  if (!detail::http_url(url)) {
    return error(errc::invalid_argument, "open_http_checkpoint: " + detail::quote(shown) +
                                             " is not an http:// or https:// URL");
  }
  options.access = shard_access::reader;
  const std::string_view path = std::string_view(url).substr(0, url.find_first_of("?#"));
  if (path.size() < 5 || path.compare(path.size() - 5, 5, ".json") != 0) {
    // One file: the checkpoint's single shard is the URL itself, query included.
    options.open_shard =
        [url, http](const std::string&) -> result<std::unique_ptr<random_access_source>> {
      auto s = http_source::open(url, http);
      if (!s) return s.error();
      return std::unique_ptr<random_access_source>(std::move(*s));
    };
    // The path is for messages only: the URL without user information or query.
    const std::string shown_path = shown.substr(0, shown.find_first_of("?#"));
    return checkpoint::open(std::filesystem::path(shown_path), options);
  }
  auto text = http_get(url, http, options.max_index_size);
  if (!text) return text.error();
  auto index = parse_index(*text);
  if (!index) {
    return error(index.error().code(), detail::quote(shown) + ": " + index.error().message());
  }
  options.open_shard =
      [url, http](const std::string& name) -> result<std::unique_ptr<random_access_source>> {
    auto s = http_source::open(http_sibling_url(url, name), http);
    if (!s) return s.error();
    return std::unique_ptr<random_access_source>(std::move(*s));
  };
  return checkpoint::open(std::move(*index), std::filesystem::path(http_sibling_url(shown, "")),
                          options);
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#endif  // SAFETENSORS_HTTP_SOURCE_HPP
