#pragma once

// The data-path TLS proxy (`clustertls proxy`, issue 15): terminates TLS under the cluster
// policy read from a node's directory D (proxy_dir.h) and relays the bytes to a plain backend
// (redis, a Sentinel). One io_context per thread, each with its own acceptor on the same port
// (SO_REUSEPORT); each connection is two half-duplex pumps with one fixed buffer each. A reload
// swaps the whole configuration for new connections, and closes the open connections whose
// client certificate the new CRL lists.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "proxy/proxy_dir.h"

namespace clustertls::proxy {

// A listening or connecting address.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// Parses "HOST:PORT", "[IPV6]:PORT" or ":PORT" (host 0.0.0.0). kInvalidArgument: "expected
// HOST:PORT, got 'x'" or "port 'x' is not a number from 1 to 65535" (0 is allowed when
// `allow_zero`, for an ephemeral port).
core::Result<HostPort> ParseHostPort(std::string_view text, bool allow_zero = false);

struct ProxyOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: an ephemeral port (Proxy::port())
  std::string backend_host = "127.0.0.1";
  std::uint16_t backend_port = 0;
  DirOptions dir;
  int threads = 0;                      // io threads (one acceptor each); 0: one per core
  std::size_t max_connections = 10000;  // beyond: accepted and closed at once (counted)
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // No byte either way for this long closes the connection; 0: never.
  std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(0);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
  // Client identities let through (after a verified handshake); both empty: anyone verified
  // (or anyone at all when the policy asks for no certificate).
  std::vector<std::string> allow_cn{};
  std::vector<std::string> allow_san{};  // DNS or URI subjectAltName
  // One line per event, without a trailing newline; default: stderr with "clustertls proxy: ".
  std::function<void(const std::string&)> log{};
  const core::Clock* clock = nullptr;  // times in /status; default: the system clock
};

// Counters and the current configuration's summary (Prometheus text and /status JSON).
struct ProxyStats {
  std::uint64_t handshakes_ok = 0;
  std::uint64_t handshakes_failed = 0;
  std::uint64_t handshakes_revoked = 0;      // refused by the CRL check
  std::uint64_t handshakes_not_allowed = 0;  // verified, but not on the allow-lists
  std::uint64_t plain_connections = 0;       // relayed without TLS (Sentinel path)
  std::uint64_t connections_active = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t refused_limit = 0;    // over max_connections
  std::uint64_t refused_revoked = 0;  // open connections closed by a new CRL
  std::uint64_t backend_failures = 0;
  std::uint64_t bytes_in = 0;   // client to backend
  std::uint64_t bytes_out = 0;  // backend to client
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
};

class Proxy {
 public:
  // Loads D (LoadDir: fails naming the file), resolves the backend, binds the listeners and
  // starts the io threads. kIo when the address cannot be bound.
  static core::Result<std::unique_ptr<Proxy>> Start(const ProxyOptions& options);
  // Drain(0).
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  std::uint16_t port() const;

  // Reads D again. On success the new configuration serves new connections, and every open
  // connection whose verified client certificate the new CRLs list is closed (counted in
  // refused_revoked). On failure the previous configuration stays, and the error (naming the
  // file) is logged, counted and returned. Thread-safe; `why` goes to the log ("inotify",
  // "SIGHUP").
  core::Result<void> Reload(const std::string& why);

  // Stops accepting, waits up to `grace` for open connections to finish, closes the rest and
  // joins the threads. Idempotent.
  void Drain(std::chrono::milliseconds grace);

  ProxyStats stats() const;
  // Prometheus text exposition (clustertls_proxy_*).
  std::string MetricsText() const;
  // The /status document (JSON).
  std::string StatusJson() const;

 private:
  struct Impl;
  explicit Proxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::proxy
