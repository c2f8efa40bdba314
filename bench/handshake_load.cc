// handshake_load: full TLS handshakes against a TLS terminator, from K threads at once (the
// data-path proxy benchmark, bench/proxy_bench.sh).
//
// Each connection: TCP connect, a full handshake (a fresh SSL object, the client's session cache
// off: never a resumption), one request written through the tunnel and its answer read
// (default `PING\r\n` -> `+PONG\r\n`, Redis' inline command), then close_notify and close. The
// request proves the handshake completed on the server's side too: in TLS 1.3 the client's
// SSL_connect returns before the server has read the client's Finished (and, in mutual TLS,
// checked its certificate), so a refused client certificate only shows on the first read. The
// NewSessionTicket messages the server sends arrive before the answer and are read with it, so
// the close leaves nothing unread (a clean FIN, no RST).
//
// The server's chain is verified against --cafile and its name against --tls-name (default: the
// host of --connect; RFC 6125 through X509_VERIFY_PARAM_set1_host / set1_ip_asc); there is no
// way to turn verification off. --cert/--key present a client certificate.
//
// --expect-refused inverts the check: every connection must fail (handshake refused, or the
// connection closed before the answer), e.g. a mutual-TLS terminator and a client without a
// certificate.
//
// Output: one line of key=value: handshakes, errors, seconds, rate, the tool's own CPU per
// handshake, and what the first good connection negotiated (protocol, cipher, group), the
// session tickets received per handshake. Exit 1 on any error (or, with --expect-refused, any
// connection that was not refused).
//
// This is a benchmark tool: it reads the real clock (steady_clock) by design.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    "usage: handshake_load --connect IP:PORT --cafile PEM [--cert PEM --key PEM]\n"
    "                      [--tls-name NAME] [--threads K] [--handshakes N]\n"
    "                      [--ciphersuites LIST] [--request TEXT] [--expect TEXT]\n"
    "                      [--expect-refused] [--timeout-ms MS]\n"
    "  --connect        the terminator's IPv4 address and port\n"
    "  --cafile         trust anchors for the server's chain (PEM)\n"
    "  --cert, --key    a client certificate (chain) and its key (PEM), for mutual TLS\n"
    "  --tls-name       the name (DNS or IP) the server's certificate must carry, also sent\n"
    "                   as SNI when it is a DNS name (default: the host of --connect)\n"
    "  --threads        connections in flight at once, one per thread (default 4)\n"
    "  --handshakes     connections in total (default 1000)\n"
    "  --ciphersuites   the TLS 1.3 suites offered (default TLS_AES_128_GCM_SHA256); the\n"
    "                   client offers TLS 1.3 only\n"
    "  --request        written after the handshake (default \"PING\\r\\n\"; C escapes \\r \\n)\n"
    "  --expect         the answer that must come back (default \"+PONG\\r\\n\")\n"
    "  --expect-refused every connection must be refused (handshake or first read fails)\n"
    "  --timeout-ms     per socket operation (default 10000)\n";

struct Options {
  std::string host;
  int port = 0;
  std::string cafile;
  std::string cert;
  std::string key;
  std::string tls_name;
  int threads = 4;
  long handshakes = 1000;
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256";
  std::string request = "PING\r\n";
  std::string expect = "+PONG\r\n";
  bool expect_refused = false;
  int timeout_ms = 10000;
};

std::string Unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;
      if (s[i] == 'r') {
        out += '\r';
      } else if (s[i] == 'n') {
        out += '\n';
      } else {
        out += s[i];
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "handshake_load: " << message << "\n" << kUsage;
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        UsageError(std::string(a) + " needs a value");
      }
      return argv[++i];
    };
    auto number = [&](long min) -> long {
      std::string v = value();
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < min) {
        UsageError(std::string(a) + ": \"" + v + "\" is not a number >= " + std::to_string(min));
      }
      return n;
    };
    if (a == "--connect") {
      std::string v = value();
      std::size_t colon = v.rfind(':');
      if (colon == std::string::npos) {
        UsageError("--connect: \"" + v + "\" is not IP:PORT");
      }
      o.host = v.substr(0, colon);
      o.port = std::atoi(v.c_str() + colon + 1);
      if (o.port <= 0 || o.port > 65535) {
        UsageError("--connect: bad port in \"" + v + "\"");
      }
    } else if (a == "--cafile") {
      o.cafile = value();
    } else if (a == "--cert") {
      o.cert = value();
    } else if (a == "--key") {
      o.key = value();
    } else if (a == "--tls-name") {
      o.tls_name = value();
    } else if (a == "--threads") {
      o.threads = static_cast<int>(number(1));
    } else if (a == "--handshakes") {
      o.handshakes = number(1);
    } else if (a == "--ciphersuites") {
      o.ciphersuites = value();
    } else if (a == "--request") {
      o.request = Unescape(value());
    } else if (a == "--expect") {
      o.expect = Unescape(value());
    } else if (a == "--expect-refused") {
      o.expect_refused = true;
    } else if (a == "--timeout-ms") {
      o.timeout_ms = static_cast<int>(number(1));
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else {
      UsageError("unknown flag " + std::string(a));
    }
  }
  if (o.host.empty() || o.cafile.empty()) {
    UsageError("--connect and --cafile are required");
  }
  if (o.cert.empty() != o.key.empty()) {
    UsageError("--cert and --key go together");
  }
  if (o.tls_name.empty()) {
    o.tls_name = o.host;
  }
  return o;
}

std::string OpenSslErrors() {
  std::string out;
  unsigned long e = 0;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

std::atomic<long> g_tickets{0};

int CountTicket(SSL*, SSL_SESSION*) {
  g_tickets.fetch_add(1, std::memory_order_relaxed);
  return 0;  // not kept: the next connection must be a full handshake
}

SSL_CTX* MakeContext(const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()) != 1 ||
      SSL_CTX_load_verify_locations(ctx, o.cafile.c_str(), nullptr) != 1) {
    std::cerr << "handshake_load: client context (" << o.cafile << ", " << o.ciphersuites
              << "): " << OpenSslErrors() << "\n";
    std::exit(1);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // The client's cache is off and every ticket is dropped: each connection is a full handshake.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, CountTicket);
  if (!o.cert.empty() && (SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str()) != 1 ||
                          SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
                          SSL_CTX_check_private_key(ctx) != 1)) {
    std::cerr << "handshake_load: client certificate (" << o.cert << ", " << o.key
              << "): " << OpenSslErrors() << "\n";
    std::exit(1);
  }
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  unsigned char ip[16];
  if (inet_pton(AF_INET, o.tls_name.c_str(), ip) == 1 ||
      inet_pton(AF_INET6, o.tls_name.c_str(), ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, o.tls_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, o.tls_name.c_str(), 0);
  }
  return ctx;
}

struct Negotiated {
  std::string protocol;
  std::string cipher;
  std::string group;
};

class Runner {
 public:
  Runner(const Options& o, SSL_CTX* ctx) : o_(o), ctx_(ctx) {
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr) != 1) {
      UsageError("--connect: \"" + o.host + "\" is not an IPv4 address");
    }
  }

  void Thread() {
    while (next_.fetch_add(1) < o_.handshakes) {
      std::string why;
      Outcome r = One(&why);
      bool good = o_.expect_refused ? r == Outcome::kRefused : r == Outcome::kOk;
      if (!good) {
        ++failed_;
        std::lock_guard lock(mu_);
        if (messages_.size() < 3) {
          messages_.push_back(r == Outcome::kOk ? "not refused: the answer came back" : why);
        }
      } else {
        ++done_;
        if (r == Outcome::kRefused) {
          std::lock_guard lock(mu_);
          if (first_refusal_.empty()) {
            first_refusal_ = why;
          }
        }
      }
      if (failed_ > 20) {
        break;  // broken: stop instead of waiting out every timeout
      }
    }
  }

  long done() const { return done_; }
  long failed() const { return failed_; }
  const std::vector<std::string>& messages() const { return messages_; }
  const Negotiated& negotiated() const { return negotiated_; }
  const std::string& first_refusal() const { return first_refusal_; }

 private:
  enum class Outcome { kOk, kRefused, kError };

  // One connection: kOk (answer back), kRefused (connected, then the handshake or the exchange
  // failed: the reason in *why) or kError (no TCP connection: the reason in *why).
  Outcome One(std::string* why) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *why = std::string("socket: ") + std::strerror(errno);
      return Outcome::kError;
    }
    timeval tv{.tv_sec = o_.timeout_ms / 1000, .tv_usec = (o_.timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0) {
      *why = std::string("connect: ") + std::strerror(errno);
      close(fd);
      return Outcome::kError;
    }
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    unsigned char ip[16];
    if (inet_pton(AF_INET, o_.tls_name.c_str(), ip) != 1 &&
        inet_pton(AF_INET6, o_.tls_name.c_str(), ip) != 1) {
      SSL_set_tlsext_host_name(ssl, o_.tls_name.c_str());
    }
    bool ok = false;
    if (SSL_connect(ssl) != 1) {
      long v = SSL_get_verify_result(ssl);
      *why = "handshake: " + OpenSslErrors() +
             (v != X509_V_OK ? std::string(" (verify: ") + X509_verify_cert_error_string(v) + ")"
                             : "");
    } else if (SSL_write(ssl, o_.request.data(), static_cast<int>(o_.request.size())) !=
               static_cast<int>(o_.request.size())) {
      *why = "write: " + (ERR_peek_error() != 0 ? OpenSslErrors()
                                                : std::string("connection closed by the server (") +
                                                      std::strerror(errno) + ")");
    } else {
      std::string got;
      char buf[512];
      while (got.size() < o_.expect.size()) {
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) {
          int err = SSL_get_error(ssl, n);
          *why = "read after " + std::to_string(got.size()) + " bytes: " +
                 (err == SSL_ERROR_ZERO_RETURN ? std::string("closed by the server (close_notify)")
                  : err == SSL_ERROR_SYSCALL
                      ? std::string("connection closed or timed out (") + std::strerror(errno) + ")"
                      : OpenSslErrors());
          break;
        }
        got.append(buf, static_cast<std::size_t>(n));
      }
      if (got.size() >= o_.expect.size()) {
        if (got.compare(0, o_.expect.size(), o_.expect) == 0) {
          ok = true;
        } else {
          *why = "unexpected answer: " + got.substr(0, 80);
        }
      }
      if (ok && !recorded_.exchange(true)) {
        std::lock_guard lock(mu_);
        negotiated_.protocol = SSL_get_version(ssl);
        negotiated_.cipher = SSL_get_cipher_name(ssl);
        const char* g = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
        negotiated_.group = g != nullptr ? g : "?";
      }
    }
    if (ok) {
      SSL_shutdown(ssl);  // close_notify; the server's is not waited for
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return ok ? Outcome::kOk : Outcome::kRefused;
  }

  const Options& o_;
  SSL_CTX* ctx_;
  sockaddr_in addr_{};
  std::atomic<long> next_{0};
  std::atomic<long> done_{0};
  std::atomic<long> failed_{0};
  std::atomic<bool> recorded_{false};
  std::mutex mu_;
  std::vector<std::string> messages_;
  std::string first_refusal_;
  Negotiated negotiated_;
};

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  SSL_CTX* ctx = MakeContext(o);
  Runner runner(o, ctx);
  double cpu0 = CpuSeconds();
  Clock::time_point t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.threads; ++i) {
    threads.emplace_back([&runner] { runner.Thread(); });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = CpuSeconds() - cpu0;
  long done = runner.done();
  long failed = runner.failed();
  std::printf(
      "%s=%ld errors=%ld seconds=%.3f rate=%.1f client_cpu_us_per_conn=%.1f protocol=%s "
      "cipher=%s group=%s tickets_per_conn=%.2f\n",
      o.expect_refused ? "refused" : "handshakes", done, failed, seconds,
      seconds > 0 ? static_cast<double>(done) / seconds : 0.0,
      done + failed > 0 ? cpu / static_cast<double>(done + failed) * 1e6 : 0.0,
      runner.negotiated().protocol.empty() ? "-" : runner.negotiated().protocol.c_str(),
      runner.negotiated().cipher.empty() ? "-" : runner.negotiated().cipher.c_str(),
      runner.negotiated().group.empty() ? "-" : runner.negotiated().group.c_str(),
      done > 0 && !o.expect_refused
          ? static_cast<double>(g_tickets.load()) / static_cast<double>(done)
          : 0.0);
  if (!runner.first_refusal().empty()) {
    std::fprintf(stderr, "handshake_load: refused as expected: %s\n",
                 runner.first_refusal().c_str());
  }
  for (const std::string& m : runner.messages()) {
    std::fprintf(stderr, "handshake_load: %s\n", m.c_str());
  }
  SSL_CTX_free(ctx);
  return failed == 0 ? 0 : 1;
}
