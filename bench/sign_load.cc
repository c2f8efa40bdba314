// sign_load: an HTTP/1.1 load generator for signing endpoints (`POST /v1/ca/sign` of
// `clustertls serve`, `/api/v1/cfssl/sign` of `cfssl serve`), on Boost.Beast over Asio.
//
// N keep-alive connections run on M threads (one strand each); every connection sends one
// request, waits for its response, and sends the next (closed loop), so N is the number of
// concurrent clients. Bodies are read from a file (one JSON body per line) or from a directory
// (one body per file, in name order) and are used in turn, cycling through them. A warm-up
// phase (connections made, handshakes done, caches warm) runs to completion before the timed
// phase starts; only the timed phase is counted.
//
// For https:// URLs the server's chain is verified against --cafile and its name against the
// URL's host or --tls-name (RFC 6125 through X509_VERIFY_PARAM_set1_host / set1_ip_asc); there
// is no way to turn verification off.
//
// A response counts as an error unless its status is --expect-status and its body contains
// --expect-substring (default: "-----BEGIN CERTIFICATE-----"). Transport failures count as
// errors too (the connection is then re-established). With --save-serials, the "serial" of every
// good response (warm-up included) is appended to a file as soon as it arrives, one per line in
// one write(2), so that a test that kills the server (or this tool) knows every certificate a
// client received (tests/integration/test_fault_kill_serve.sh). Output: a table, or one JSON object
// with --json: requests/s, latency percentiles (ms), errors by kind, the generator's own CPU.
//
// This is a benchmark tool: it reads the real clock (steady_clock) by design.

#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    "usage: sign_load --url URL --bodies FILE|DIR [--auth VALUE] [--concurrency N]\n"
    "                 [--threads M] [--requests T] [--warmup W] [--expect-status S]\n"
    "                 [--expect-substring TEXT] [--cafile PEM] [--tls-name NAME]\n"
    "                 [--save-sample FILE] [--save-serials FILE] [--timeout-ms MS]\n"
    "                 [--label TEXT] [--json]\n"
    "  --url            http://host:port/path or https://host:port/path\n"
    "  --bodies         a file with one request body per line, or a directory of body files\n"
    "  --auth           the Authorization header's value (e.g. \"Bearer ctls_...\")\n"
    "  --concurrency    keep-alive connections, each with one request in flight (default 1)\n"
    "  --threads        threads running the connections (default 1)\n"
    "  --requests       timed requests in total, cycling through the bodies (default 1000)\n"
    "  --warmup         untimed requests before (default: 2 per connection, at least 10)\n"
    "  --expect-status  the status every response must have (default 200)\n"
    "  --cafile         trust anchors for https (PEM); required for https\n"
    "  --tls-name       the name (DNS or IP) to verify the certificate against and send as\n"
    "                   SNI (default: the URL's host)\n"
    "  --save-sample    write the body of the first good timed response to FILE\n"
    "  --save-serials   append the \"serial\" of every good response (warm-up included) to\n"
    "                   FILE, one per line, written as each response arrives\n";

struct Options {
  std::string url;
  std::string bodies_path;
  std::string auth;
  int concurrency = 1;
  int threads = 1;
  std::int64_t requests = 1000;
  std::int64_t warmup = -1;
  int expect_status = 200;
  std::string expect_substring = "-----BEGIN CERTIFICATE-----";
  std::string cafile;
  std::string tls_name;
  std::string save_sample;
  std::string save_serials;
  int timeout_ms = 30000;
  std::string label;
  bool json = false;
};

struct Url {
  bool https = false;
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string target;
};

std::optional<Url> ParseUrl(std::string_view s) {
  Url u;
  if (s.starts_with("https://")) {
    u.https = true;
    s.remove_prefix(8);
  } else if (s.starts_with("http://")) {
    s.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  std::size_t slash = s.find('/');
  std::string_view authority = s.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(s.substr(slash));
  if (authority.starts_with("[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    u.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(":")) {
      u.port = std::string(authority.substr(1));
    }
  } else {
    std::size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      u.port = std::string(authority.substr(colon + 1));
    }
  }
  if (u.port.empty()) {
    u.port = u.https ? "443" : "80";
  }
  if (u.host.empty()) {
    return std::nullopt;
  }
  return u;
}

// Reads the bodies: one per non-empty line of a file, or one per regular file of a directory.
std::vector<std::string> ReadBodies(const std::string& path) {
  std::vector<std::string> bodies;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file()) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      bodies.push_back(ss.str());
    }
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return bodies;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      if (!line.empty()) {
        bodies.push_back(std::move(line));
      }
    }
  }
  return bodies;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// State shared by every connection of one run.
struct Shared {
  Options opt;
  Url url;
  std::vector<std::string> bodies;
  tcp::resolver::results_type endpoints;
  std::optional<ssl::context> tls;
  std::string verify_name;

  // The current phase: requests [0, limit) are handed out through `next`.
  std::atomic<std::int64_t> next{0};
  std::int64_t limit = 0;
  std::int64_t body_offset = 0;  // the phase's first body index (timed phase follows warm-up)
  bool timed = false;
  std::vector<double> latency_ms;  // timed phase: one slot per request (-1 = failed)
  std::atomic<int> active{0};
  std::promise<void> phase_done;

  std::mutex mu;  // guards what follows
  std::map<std::string, std::int64_t> errors;
  std::string first_error_body;
  std::int64_t connects = 0;
  bool sample_saved = false;
  int serials_fd = -1;  // --save-serials (O_APPEND): one write(2) per line

  // Appends the JSON body's "serial" value and a newline to --save-serials (if given).
  void SaveSerial(std::string_view body) const {
    constexpr std::string_view kKey = "\"serial\":\"";
    if (serials_fd < 0) {
      return;
    }
    std::size_t at = body.find(kKey);
    if (at == std::string_view::npos) {
      return;
    }
    at += kKey.size();
    std::size_t end = body.find('"', at);
    if (end == std::string_view::npos) {
      return;
    }
    std::string line(body.substr(at, end - at));
    line += '\n';
    if (::write(serials_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      std::perror("sign_load: --save-serials: write");
    }
  }

  void CountError(const std::string& kind, std::string_view body = {}) {
    std::lock_guard lock(mu);
    ++errors[kind];
    if (first_error_body.empty() && !body.empty()) {
      first_error_body = std::string(body.substr(0, 300));
    }
  }
};

// One keep-alive client connection; Stream is beast::tcp_stream or ssl_stream<tcp_stream>.
template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(asio::io_context& ioc, Shared& shared)
      : strand_(asio::make_strand(ioc)), shared_(shared) {}

  // Runs the current phase on this connection until no request is left.
  void StartPhase() {
    asio::dispatch(strand_, [self = this->shared_from_this()] { self->NextRequest(); });
  }

 private:
  beast::tcp_stream& Tcp() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      return *stream_;
    } else {
      return beast::get_lowest_layer(*stream_);
    }
  }

  auto Timeout() { return std::chrono::milliseconds(shared_.opt.timeout_ms); }

  void NextRequest() {
    index_ = shared_.next.fetch_add(1, std::memory_order_relaxed);
    if (index_ >= shared_.limit) {
      if (shared_.active.fetch_sub(1) == 1) {
        shared_.phase_done.set_value();
      }
      return;
    }
    const std::string& body = shared_.bodies[static_cast<std::size_t>(
        (shared_.body_offset + index_) % static_cast<std::int64_t>(shared_.bodies.size()))];
    req_ = {};
    req_.method(http::verb::post);
    req_.target(shared_.url.target);
    req_.version(11);
    req_.set(http::field::host, shared_.url.host + ":" + shared_.url.port);
    req_.set(http::field::content_type, "application/json");
    req_.set(http::field::user_agent, "sign_load");
    if (!shared_.opt.auth.empty()) {
      req_.set(http::field::authorization, shared_.opt.auth);
    }
    req_.body() = body;
    req_.keep_alive(true);
    req_.prepare_payload();
    if (!stream_) {
      Connect();
    } else {
      Send();
    }
  }

  void Connect() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream_.emplace(strand_);
    } else {
      stream_.emplace(strand_, *shared_.tls);
      SSL* ssl_handle = stream_->native_handle();
      const std::string& name = shared_.verify_name;
      boost::system::error_code ec;
      asio::ip::make_address(name, ec);
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (!ec) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        SSL_set_tlsext_host_name(ssl_handle, name.c_str());
      }
    }
    {
      std::lock_guard lock(shared_.mu);
      ++shared_.connects;
    }
    Tcp().expires_after(Timeout());
    Tcp().async_connect(shared_.endpoints,
                        [self = this->shared_from_this()](
                            beast::error_code ec, const tcp::endpoint&) { self->OnConnect(ec); });
  }

  void OnConnect(beast::error_code ec) {
    if (ec) {
      return Fail("connect", ec);
    }
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      Send();
    } else {
      Tcp().expires_after(Timeout());
      stream_->async_handshake(ssl::stream_base::client,
                               [self = this->shared_from_this()](beast::error_code ec2) {
                                 if (ec2) {
                                   return self->Fail("tls_handshake", ec2);
                                 }
                                 self->Send();
                               });
    }
  }

  void Send() {
    start_ = Clock::now();
    Tcp().expires_after(Timeout());
    http::async_write(*stream_, req_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) {
                          return self->Fail("write", ec);
                        }
                        self->Receive();
                      });
  }

  void Receive() {
    parser_.emplace();
    parser_->body_limit(8 * 1024 * 1024);
    Tcp().expires_after(Timeout());
    http::async_read(*stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->OnResponse(ec);
                     });
  }

  void OnResponse(beast::error_code ec) {
    if (ec) {
      return Fail("read", ec);
    }
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    const auto& res = parser_->get();
    int status = static_cast<int>(res.result_int());
    bool ok = status == shared_.opt.expect_status &&
              res.body().find(shared_.opt.expect_substring) != std::string::npos;
    if (shared_.timed) {
      shared_.latency_ms[static_cast<std::size_t>(index_)] = ok ? ms : -1;
    }
    if (ok) {
      shared_.SaveSerial(res.body());
    }
    if (!ok) {
      shared_.CountError(status == shared_.opt.expect_status
                             ? "status_" + std::to_string(status) + "_without_expected_body"
                             : "status_" + std::to_string(status),
                         res.body());
    } else if (shared_.timed && !shared_.opt.save_sample.empty()) {
      std::lock_guard lock(shared_.mu);
      if (!shared_.sample_saved) {
        shared_.sample_saved = true;
        std::ofstream(shared_.opt.save_sample, std::ios::binary) << res.body();
      }
    }
    if (!res.keep_alive()) {
      Close();
    }
    NextRequest();
  }

  void Fail(const char* what, beast::error_code ec) {
    if (shared_.timed && index_ < shared_.limit) {
      shared_.latency_ms[static_cast<std::size_t>(index_)] = -1;
    }
    shared_.CountError(std::string(what) + ": " + ec.message());
    Close();
    NextRequest();
  }

  void Close() {
    if (stream_) {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
      Tcp().socket().close(ignored);
      stream_.reset();
    }
    buffer_.clear();
  }

  asio::strand<asio::io_context::executor_type> strand_;
  Shared& shared_;
  std::optional<Stream> stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::int64_t index_ = 0;
  Clock::time_point start_;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  // Nearest rank.
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

int ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "sign_load: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&]() -> std::int64_t {
      std::string v = value();
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0) {
        std::cerr << "sign_load: " << a << ": not a non-negative integer: " << v << "\n";
        std::exit(2);
      }
      return n;
    };
    if (a == "--url") {
      o.url = value();
    } else if (a == "--bodies") {
      o.bodies_path = value();
    } else if (a == "--auth") {
      o.auth = value();
    } else if (a == "--concurrency") {
      o.concurrency = static_cast<int>(number());
    } else if (a == "--threads") {
      o.threads = static_cast<int>(number());
    } else if (a == "--requests") {
      o.requests = number();
    } else if (a == "--warmup") {
      o.warmup = number();
    } else if (a == "--expect-status") {
      o.expect_status = static_cast<int>(number());
    } else if (a == "--expect-substring") {
      o.expect_substring = value();
    } else if (a == "--cafile") {
      o.cafile = value();
    } else if (a == "--tls-name") {
      o.tls_name = value();
    } else if (a == "--save-sample") {
      o.save_sample = value();
    } else if (a == "--save-serials") {
      o.save_serials = value();
    } else if (a == "--timeout-ms") {
      o.timeout_ms = static_cast<int>(number());
    } else if (a == "--label") {
      o.label = value();
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else {
      std::cerr << "sign_load: unknown argument " << a << "\n" << kUsage;
      return 2;
    }
  }
  if (o.url.empty() || o.bodies_path.empty()) {
    std::cerr << "sign_load: --url and --bodies are required\n" << kUsage;
    return 2;
  }
  if (o.concurrency < 1 || o.threads < 1 || o.requests < 1) {
    std::cerr << "sign_load: --concurrency, --threads and --requests must be at least 1\n";
    return 2;
  }
  if (o.warmup < 0) {
    o.warmup = std::max<std::int64_t>(10, 2 * o.concurrency);
  }
  return 0;
}

template <class Stream>
std::vector<std::shared_ptr<Connection<Stream>>> MakeConnections(asio::io_context& ioc,
                                                                 Shared& shared) {
  std::vector<std::shared_ptr<Connection<Stream>>> conns;
  for (int i = 0; i < shared.opt.concurrency; ++i) {
    conns.push_back(std::make_shared<Connection<Stream>>(ioc, shared));
  }
  return conns;
}

// Runs one phase of `count` requests on every connection and waits for it to finish.
template <class Conns>
void RunPhase(Shared& shared, Conns& conns, std::int64_t count, std::int64_t body_offset,
              bool timed) {
  shared.next = 0;
  shared.limit = count;
  shared.body_offset = body_offset;
  shared.timed = timed;
  shared.phase_done = std::promise<void>();
  auto done = shared.phase_done.get_future();
  shared.active = static_cast<int>(conns.size());
  for (auto& c : conns) {
    c->StartPhase();
  }
  done.wait();
}

}  // namespace

int main(int argc, char** argv) {
  Shared shared;
  if (int rc = ParseArgs(argc, argv, shared.opt); rc != 0) {
    return rc;
  }
  const Options& opt = shared.opt;
  auto url = ParseUrl(opt.url);
  if (!url) {
    std::cerr << "sign_load: --url: not an http:// or https:// URL: " << opt.url << "\n";
    return 2;
  }
  shared.url = *url;
  shared.bodies = ReadBodies(opt.bodies_path);
  if (shared.bodies.empty()) {
    std::cerr << "sign_load: --bodies: no bodies read from " << opt.bodies_path << "\n";
    return 2;
  }
  if (!opt.save_serials.empty()) {
    shared.serials_fd =
        ::open(opt.save_serials.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (shared.serials_fd < 0) {
      std::cerr << "sign_load: --save-serials: cannot open " << opt.save_serials << ": "
                << std::strerror(errno) << "\n";
      return 2;
    }
  }
  shared.verify_name = opt.tls_name.empty() ? url->host : opt.tls_name;
  if (url->https) {
    if (opt.cafile.empty()) {
      std::cerr << "sign_load: --cafile is required for https (verification is never off)\n";
      return 2;
    }
    shared.tls.emplace(ssl::context::tls_client);
    boost::system::error_code ec;
    shared.tls->load_verify_file(opt.cafile, ec);
    if (ec) {
      std::cerr << "sign_load: --cafile: cannot load " << opt.cafile << ": " << ec.message()
                << "\n";
      return 2;
    }
    shared.tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }

  asio::io_context ioc(opt.threads);
  {
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    shared.endpoints = resolver.resolve(url->host, url->port, ec);
    if (ec) {
      std::cerr << "sign_load: --url: cannot resolve " << url->host << ": " << ec.message() << "\n";
      return 2;
    }
  }
  auto work = asio::make_work_guard(ioc);
  std::vector<std::thread> threads;
  for (int i = 0; i < opt.threads; ++i) {
    threads.emplace_back([&ioc] { ioc.run(); });
  }

  shared.latency_ms.assign(static_cast<std::size_t>(opt.requests), -1);
  std::map<std::string, std::int64_t> warmup_errors;
  double seconds = 0;
  double cpu = 0;
  std::int64_t connects_warmup = 0;
  auto run = [&](auto conns) {
    if (opt.warmup > 0) {
      RunPhase(shared, conns, opt.warmup, 0, false);
    }
    {
      std::lock_guard lock(shared.mu);
      warmup_errors.swap(shared.errors);
      connects_warmup = shared.connects;
    }
    double cpu0 = CpuSeconds();
    auto t0 = Clock::now();
    RunPhase(shared, conns, opt.requests, opt.warmup, true);
    seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    cpu = CpuSeconds() - cpu0;
  };
  if (url->https) {
    run(MakeConnections<beast::ssl_stream<beast::tcp_stream>>(ioc, shared));
  } else {
    run(MakeConnections<beast::tcp_stream>(ioc, shared));
  }
  work.reset();
  ioc.stop();
  for (auto& t : threads) {
    t.join();
  }

  std::vector<double> ok;
  ok.reserve(shared.latency_ms.size());
  for (double v : shared.latency_ms) {
    if (v >= 0) {
      ok.push_back(v);
    }
  }
  std::sort(ok.begin(), ok.end());
  std::int64_t errors = 0;
  for (const auto& [k, n] : shared.errors) {
    errors += n;
  }
  double mean = 0;
  for (double v : ok) {
    mean += v;
  }
  mean = ok.empty() ? 0 : mean / static_cast<double>(ok.size());
  double rps = static_cast<double>(ok.size()) / seconds;
  double p50 = Percentile(ok, 50);
  double p90 = Percentile(ok, 90);
  double p99 = Percentile(ok, 99);
  double max = ok.empty() ? 0 : ok.back();
  std::int64_t reconnects = shared.connects - connects_warmup;

  if (opt.json) {
    std::printf(
        "{\"label\":\"%s\",\"url\":\"%s\",\"concurrency\":%d,\"threads\":%d,\"requests\":%" PRId64
        ",\"warmup\":%" PRId64 ",\"ok\":%zu,\"errors\":%" PRId64
        ",\"seconds\":%.4f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"max_ms\":%.3f,\"mean_ms\":%.3f,\"connects_timed\":%" PRId64
        ",\"client_cpu_s\":%.3f,\"error_kinds\":{",
        JsonEscape(opt.label).c_str(), JsonEscape(opt.url).c_str(), opt.concurrency, opt.threads,
        opt.requests, opt.warmup, ok.size(), errors, seconds, rps, p50, p90, p99, max, mean,
        reconnects, cpu);
    bool first = true;
    for (const auto& [k, n] : shared.errors) {
      std::printf("%s\"%s\":%" PRId64, first ? "" : ",", JsonEscape(k).c_str(), n);
      first = false;
    }
    std::printf(
        "},\"warmup_errors\":%" PRId64 ",\"first_error_body\":\"%s\"}\n",
        [&] {
          std::int64_t n = 0;
          for (const auto& [k, v] : warmup_errors) {
            n += v;
          }
          return n;
        }(),
        JsonEscape(shared.first_error_body).c_str());
  } else {
    std::printf("%-10s %5s %8s %10s %9s %9s %9s %9s %7s\n", "label", "conc", "requests", "req/s",
                "p50 ms", "p90 ms", "p99 ms", "max ms", "errors");
    std::printf("%-10s %5d %8" PRId64 " %10.1f %9.3f %9.3f %9.3f %9.3f %7" PRId64 "\n",
                opt.label.empty() ? "-" : opt.label.c_str(), opt.concurrency, opt.requests, rps,
                p50, p90, p99, max, errors);
    for (const auto& [k, n] : shared.errors) {
      std::printf("  error %s: %" PRId64 "\n", k.c_str(), n);
    }
    if (!shared.first_error_body.empty()) {
      std::printf("  first error body: %s\n", shared.first_error_body.c_str());
    }
    std::printf("  %.3f s, client CPU %.3f s, %" PRId64 " connects during the timed phase\n",
                seconds, cpu, reconnects);
  }
  return errors == 0 ? 0 : 1;
}
