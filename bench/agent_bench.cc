// The node agent's propagation and scale benchmarks (issue 14) against a real `clustertls serve`,
// driven by bench/agent_bench.sh, which starts the server and passes its URL, trust anchor,
// an admin API token and the CA fingerprint.
//
//   agent_bench enroll    --n N [--first K] --base DIR [--threads T]
//       N one-time tokens through POST /v1/nodes/tokens (assign: proxy), then agent::Enroll
//       in-process for each (its own key, CSR and directory BASE/bench-<i>).
//   agent_bench propagate --n N [--first K] --base DIR [--rounds R] [--long-poll S]
//       N in-process agents (agent::Run, the real sync code, one thread each) on BASE/bench-<i>;
//       each round makes a new `proxy` certificate (POST /v1/ca/sign), sends PUT
//       /v1/cluster/update_cert and times, per agent, from the PUT's answer to the moment the
//       agent's on_applied callback reports the set holding proxy_cert.pem renamed into place.
//   agent_bench propagate --watch D [--watch D ...] [--rounds R]
//       The same rounds against external `clustertls agent run` processes: an inotify watch on
//       each D times the rename of D/..data (IN_MOVED_TO), then D/proxy_cert.pem is checked.
//   agent_bench scale     --n N [--first K] --base DIR --serve-pid PID [--idle-seconds S]
//                         [--rounds R]
//       N light clients (one thread each): the agent's HTTP long-poll (GET /v1/agent/state with
//       after/wait/digest, POST /v1/agent/report when the version moves) with the node's
//       certificate over mutual TLS, but no file installs. Measures serve's RSS and its CPU over
//       S seconds with every client waiting, then the time for all of them to see a change.
//
// Common options: --server URL --ca-file PEM (trust for the admin calls) --api-token-file F
// (Bearer) --ca-fingerprint FP --fqdn FQDN [--timeout S (per round, default 90)].
// Times are CLOCK_MONOTONIC (std::chrono::steady_clock). Output: `key=value` lines.

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <semaphore>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "net/https_client.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"

namespace {

using namespace clustertls;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "agent_bench: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Die(path + ": cannot read");
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// --key value options; --watch may repeat.
struct Args {
  std::map<std::string, std::string> one;
  std::vector<std::string> watch;

  std::string Get(const std::string& key, const std::string& fallback = "\x01") const {
    auto it = one.find(key);
    if (it != one.end()) {
      return it->second;
    }
    if (fallback == "\x01") {
      Die("--" + key + " is required");
    }
    return fallback;
  }
  long Int(const std::string& key, long fallback) const {
    auto it = one.find(key);
    return it == one.end() ? fallback : std::stol(it->second);
  }
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
      Die("bad argument " + k);
    }
    k = k.substr(2);
    if (k == "watch") {
      a.watch.push_back(argv[i + 1]);
    } else {
      a.one[k] = argv[i + 1];
    }
  }
  return a;
}

// Nearest-rank percentile of a sorted vector.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return NAN;
  }
  std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

double Median(std::vector<double> v) {
  if (v.empty()) {
    return NAN;
  }
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string NodeName(long i) { return "bench-" + std::to_string(i); }

// Starts `fn` on a thread with a small stack (10,000 threads of 8 MiB reserve 80 GiB).
void StartThread(std::function<void()> fn, std::size_t stack = 512 * 1024) {
  auto* heap = new std::function<void()>(std::move(fn));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  const int rc = pthread_create(
      &t, &attr,
      [](void* p) -> void* {
        std::unique_ptr<std::function<void()>> f(static_cast<std::function<void()>*>(p));
        (*f)();
        return nullptr;
      },
      heap);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    Die("pthread_create: " + std::string(strerror(rc)));
  }
}

// The admin side: Bearer-authenticated calls on one keep-alive connection.
class Admin {
 public:
  explicit Admin(const Args& a) {
    auto url = net::ParseHttpsUrl(a.Get("server"));
    if (!url) {
      Die(url.error().message);
    }
    url_ = *url;
    ca_pem_ = ReadFile(a.Get("ca-file"));
    token_ = Trim(ReadFile(a.Get("api-token-file")));
    fqdn_ = a.Get("fqdn");
  }

  net::ClientResponse Call(const std::string& method, const std::string& target,
                           const std::string& body) {
    if (client_ == nullptr) {
      auto c = net::HttpsClient::Connect({.url = url_, .ca_pem = ca_pem_});
      if (!c) {
        Die("admin connection: " + c.error().message);
      }
      client_ = std::move(*c);
    }
    auto r = client_->Send({.method = method,
                            .target = target,
                            .headers = {{"Authorization", "Bearer " + token_}},
                            .body = body});
    if (!r) {
      Die(method + " " + target + ": " + r.error().message);
    }
    return *r;
  }

  std::string CreateToken(const std::string& node) {
    auto r = Call("POST", "/v1/nodes/tokens",
                  json{{"node", node}, {"assign", {"proxy"}}, {"ip", {"127.0.0.1"}}}.dump());
    if (r.status != 201) {
      Die("POST /v1/nodes/tokens " + node + ": HTTP " + std::to_string(r.status) + " " + r.body);
    }
    return json::parse(r.body).at("token").get<std::string>();
  }

  struct Proxy {
    std::string key_pem;
    std::string cert_pem;  // leaf + chain
    std::string fingerprint_hex;
  };

  // A new proxy key and certificate, as tests/integration/test_agent.sh's new_proxy_cert makes
  // it (peer profile through POST /v1/ca/sign).
  Proxy NewProxy() {
    auto key = pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    if (!key) {
      Die(key.error().message);
    }
    auto csr = pki::Csr::Create(
        *key, {.common_name = fqdn_,
               .sans = {.dns = {fqdn_, "*." + fqdn_, "localhost"}, .ips = {"127.0.0.1"}}});
    if (!csr) {
      Die(csr.error().message);
    }
    auto r = Call(
        "POST", "/v1/ca/sign",
        json{{"csr", csr->ToPem()}, {"profile", "peer"}, {"days", 30}, {"allow_reserved", true}}
            .dump());
    if (r.status != 201) {
      Die("POST /v1/ca/sign: HTTP " + std::to_string(r.status) + " " + r.body);
    }
    json j = json::parse(r.body);
    Proxy p;
    p.key_pem = *key->ToPem();
    std::string leaf = j.at("certificate").get<std::string>();
    p.cert_pem = leaf;
    if (!p.cert_pem.empty() && p.cert_pem.back() != '\n') {
      p.cert_pem += "\n";
    }
    p.cert_pem += j.value("chain", "");
    auto cert = pki::Certificate::FromPem(leaf);
    if (!cert) {
      Die("signed proxy certificate: " + cert.error().message);
    }
    p.fingerprint_hex = cert->fingerprint().hex;
    return p;
  }

  void UpdateProxy(const Proxy& p) {
    auto r = Call("PUT", "/v1/cluster/update_cert",
                  json{{"name", "proxy"}, {"key", p.key_pem}, {"certificate", p.cert_pem}}.dump());
    if (r.status != 200) {
      Die("PUT /v1/cluster/update_cert: HTTP " + std::to_string(r.status) + " " + r.body);
    }
  }

 private:
  net::HttpsUrl url_;
  std::string ca_pem_;
  std::string token_;
  std::string fqdn_;
  std::unique_ptr<net::HttpsClient> client_;
};

// The fingerprint of the first certificate of a PEM file, or "" if it cannot be read.
std::string FileFingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return "";
  }
  std::ostringstream s;
  s << in.rdbuf();
  auto cert = pki::Certificate::FromPem(s.str());
  return cert ? cert->fingerprint().hex : "";
}

void RaiseNoFile() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

// ---------------------------------------------------------------------------------------------
// enroll

int Enroll(const Args& a) {
  const long n = a.Int("n", 0);
  const long first = a.Int("first", 0);
  const long threads = a.Int("threads", 4);
  const std::string base = a.Get("base");
  const std::string fp = a.Get("ca-fingerprint");
  const std::string server = a.Get("server");
  std::atomic<long> next{first};
  std::atomic<long> failed{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (long t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      Admin admin(a);
      ossl::Csprng rng;
      for (long i = next++; i < first + n; i = next++) {
        const std::string name = NodeName(i);
        const std::string token = admin.CreateToken(name);
        auto r = agent::Enroll(
            {.server_url = server, .ca_fingerprint = fp, .token = token, .dir = base + "/" + name},
            rng);
        if (!r) {
          std::fprintf(stderr, "agent_bench: enroll %s: %s\n", name.c_str(),
                       r.error().message.c_str());
          ++failed;
        }
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("enroll_n=%ld\nenroll_failed=%ld\nenroll_seconds=%.1f\nenroll_per_s=%.1f\n", n,
              failed.load(), s, static_cast<double>(n) / s);
  return failed.load() == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Rounds of update_cert, shared by propagate and scale.

// Per-receiver time (steady ns) of its latest sighting of a new proxy certificate.
// Only the active ones count (scale: the clients that reached their long-poll).
struct Receivers {
  explicit Receivers(std::size_t n, bool active_at_start = true) : seen_ns(n), active(n) {
    for (auto& s : seen_ns) {
      s.store(0);
    }
    for (auto& a : active) {
      a.store(active_at_start);
    }
  }
  std::size_t ActiveCount() const {
    std::size_t c = 0;
    for (const auto& a : active) {
      c += a.load() ? 1 : 0;
    }
    return c;
  }
  std::vector<std::atomic<std::int64_t>> seen_ns;
  std::vector<std::atomic<bool>> active;
};

struct RoundResult {
  std::vector<double> ms;       // per receiver that saw it, from the PUT's answer
  std::vector<double> ms_sent;  // the same from the PUT's sending
  long missing = 0;
  double put_ms = 0;
  long bad_files = 0;
};

// One round: a new proxy certificate, PUT update_cert, wait (at most timeout_s) until every
// receiver saw a change after the PUT was sent. `check(i, fp)` verifies receiver i's files.
RoundResult Round(Admin& admin, Receivers& rx, long timeout_s,
                  const std::function<bool(std::size_t, const std::string&)>& check) {
  Admin::Proxy proxy = admin.NewProxy();
  const std::int64_t sent = NowNs();
  admin.UpdateProxy(proxy);
  const std::int64_t returned = NowNs();
  RoundResult out;
  out.put_ms = static_cast<double>(returned - sent) / 1e6;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    bool all = true;
    for (std::size_t i = 0; i < rx.seen_ns.size(); ++i) {
      if (rx.active[i].load() && rx.seen_ns[i].load() <= sent) {
        all = false;
        break;
      }
    }
    if (all) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::size_t i = 0; i < rx.seen_ns.size(); ++i) {
    if (!rx.active[i].load()) {
      continue;
    }
    const std::int64_t t = rx.seen_ns[i].load();
    if (t <= sent) {
      ++out.missing;
    } else {
      out.ms.push_back(static_cast<double>(t - returned) / 1e6);
      out.ms_sent.push_back(static_cast<double>(t - sent) / 1e6);
      if (check && !check(i, proxy.fingerprint_hex)) {
        ++out.bad_files;
      }
    }
  }
  std::sort(out.ms.begin(), out.ms.end());
  std::sort(out.ms_sent.begin(), out.ms_sent.end());
  return out;
}

// Runs `rounds` rounds and prints per-round and summary lines with `prefix`.
void Rounds(const std::string& prefix, Admin& admin, Receivers& rx, long rounds, long timeout_s,
            long pause_ms, const std::function<bool(std::size_t, const std::string&)>& check) {
  std::vector<double> p50s, p99s, maxs, mins, p50s_sent, p99s_sent;
  long missing = 0, bad = 0;
  for (long r = 1; r <= rounds; ++r) {
    RoundResult res = Round(admin, rx, timeout_s, check);
    const double p50 = Percentile(res.ms, 0.50), p99 = Percentile(res.ms, 0.99);
    const double mx = res.ms.empty() ? NAN : res.ms.back();
    const double mn = res.ms.empty() ? NAN : res.ms.front();
    std::printf(
        "%s_round=%ld receivers=%zu received=%zu missing=%ld bad_files=%ld put_ms=%.1f "
        "min_ms=%.1f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f from_send_p50_ms=%.1f "
        "from_send_p99_ms=%.1f\n",
        prefix.c_str(), r, rx.ActiveCount(), res.ms.size(), res.missing, res.bad_files, res.put_ms,
        mn, p50, p99, mx, Percentile(res.ms_sent, 0.50), Percentile(res.ms_sent, 0.99));
    std::fflush(stdout);
    missing += res.missing;
    bad += res.bad_files;
    if (!res.ms.empty()) {
      p50s.push_back(p50);
      p99s.push_back(p99);
      maxs.push_back(mx);
      mins.push_back(mn);
      p50s_sent.push_back(Percentile(res.ms_sent, 0.50));
      p99s_sent.push_back(Percentile(res.ms_sent, 0.99));
    }
    if (res.ms.empty()) {
      // Nothing arrived within the timeout: the server does not deliver this change; more
      // rounds would only wait the same timeout again.
      std::printf("%s_stopped=no receiver saw the change within %ld s\n", prefix.c_str(),
                  timeout_s);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  std::printf("%s_from_send_p50_ms=%.1f\n%s_from_send_p99_ms=%.1f\n", prefix.c_str(),
              Median(p50s_sent), prefix.c_str(), Median(p99s_sent));
  std::printf(
      "%s_rounds=%ld\n%s_p50_ms=%.1f\n%s_p99_ms=%.1f\n%s_max_ms=%.1f\n%s_min_ms=%.1f\n"
      "%s_missing=%ld\n%s_bad_files=%ld\n",
      prefix.c_str(), rounds, prefix.c_str(), Median(p50s), prefix.c_str(), Median(p99s),
      prefix.c_str(), Median(maxs), prefix.c_str(), Median(mins), prefix.c_str(), missing,
      prefix.c_str(), bad);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// propagate

int PropagateWatch(const Args& a) {
  Admin admin(a);
  const std::vector<std::string>& dirs = a.watch;
  Receivers rx(dirs.size());
  const int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) {
    Die("inotify_init1 failed");
  }
  std::map<int, std::size_t> by_wd;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const int wd = inotify_add_watch(fd, dirs[i].c_str(), IN_MOVED_TO);
    if (wd < 0) {
      Die(dirs[i] + ": inotify_add_watch failed");
    }
    by_wd[wd] = i;
  }
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    alignas(inotify_event) char buf[16384];
    while (!stop.load()) {
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 100) <= 0) {
        continue;
      }
      const std::int64_t t = NowNs();
      const ssize_t len = read(fd, buf, sizeof buf);
      for (ssize_t off = 0; off < len;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        if (ev->len > 0 && std::string(ev->name) == "..data") {
          rx.seen_ns[by_wd[ev->wd]].store(t);
        }
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
  });
  auto check = [&](std::size_t i, const std::string& fp) {
    return FileFingerprint(dirs[i] + "/proxy_cert.pem") == fp;
  };
  std::printf("watch_agents=%zu\n", dirs.size());
  Rounds("prop_processes", admin, rx, a.Int("rounds", 5), a.Int("timeout", 90),
         a.Int("pause-ms", 1500), check);
  stop = true;
  reader.join();
  close(fd);
  return 0;
}

int PropagateInProcess(const Args& a) {
  RaiseNoFile();
  const long n = a.Int("n", 0);
  const long first = a.Int("first", 0);
  const std::string base = a.Get("base");
  const auto long_poll = std::chrono::seconds(a.Int("long-poll", 30));
  Admin admin(a);
  Receivers rx(static_cast<std::size_t>(n));
  std::vector<std::atomic<long>> applies(static_cast<std::size_t>(n));
  std::vector<agent::AgentStatus> status(static_cast<std::size_t>(n));
  std::atomic<long> run_errors{0};
  std::atomic<bool> stop{false};
  ossl::Csprng rng;
  const auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) {
    const std::size_t k = static_cast<std::size_t>(i);
    applies[k].store(0);
    agent::RunOptions o{
        .dir = base + "/" + NodeName(first + i),
        .agent_version = "agent_bench",
        .long_poll = long_poll,
        .log = [](const std::string&) {},
        .on_applied =
            [&rx, &applies, k](std::int64_t, const std::vector<std::string>& changed) {
              if (std::find(changed.begin(), changed.end(), "proxy_cert.pem") != changed.end()) {
                rx.seen_ns[k].store(NowNs());
              }
              ++applies[k];
            },
    };
    StartThread([o, &rng, &stop, &status, k, &run_errors] {
      auto r = agent::Run(o, rng, stop, &status[k]);
      if (!r) {
        ++run_errors;
        std::fprintf(stderr, "agent_bench: agent %zu: %s\n", k, r.error().message.c_str());
      }
    });
  }
  // The first sync: every agent installs the proxy certificate it was assigned.
  const auto deadline = Clock::now() + std::chrono::seconds(a.Int("start-timeout", 600));
  long synced = 0;
  while (Clock::now() < deadline) {
    synced = 0;
    for (auto& s : rx.seen_ns) {
      synced += s.load() > 0 ? 1 : 0;
    }
    if (synced == n || run_errors.load() > 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double start_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("inproc_agents=%ld\ninproc_first_sync_seconds=%.2f\ninproc_first_synced=%ld\n", n,
              start_s, synced);
  std::fflush(stdout);
  if (synced != n) {
    Die("only " + std::to_string(synced) + " of " + std::to_string(n) +
        " agents made their first sync");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(a.Int("settle-ms", 3000)));
  auto check = [&](std::size_t i, const std::string& fp) {
    return FileFingerprint(base + "/" + NodeName(first + static_cast<long>(i)) +
                           "/proxy_cert.pem") == fp;
  };
  Rounds("prop_inproc", admin, rx, a.Int("rounds", 5), a.Int("timeout", 90),
         a.Int("pause-ms", 3000), check);
  std::uint64_t errors = 0, failures = 0;
  for (const auto& s : status) {
    errors += s.errors;
    failures += s.apply_failures;
  }
  std::printf("prop_inproc_agent_errors=%lu\nprop_inproc_apply_failures=%lu\n",
              static_cast<unsigned long>(errors), static_cast<unsigned long>(failures));
  std::fflush(stdout);
  std::_Exit(0);  // the agents' long-polls would hold a join for up to a long-poll period
}

// ---------------------------------------------------------------------------------------------
// scale

struct ProcStat {
  double cpu_s = 0;  // utime + stime
  long rss_kib = 0;  // VmRSS
  long hwm_kib = 0;  // VmHWM
  long threads = 0;
};

ProcStat ReadProc(long pid) {
  ProcStat s;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string stat = ReadFile(dir + "/stat");
  // Fields after the ")" of comm: state is field 3; utime 14, stime 15.
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string x; in >> x;) {
    f.push_back(x);
  }
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tck;
  std::istringstream st(ReadFile(dir + "/status"));
  for (std::string line; std::getline(st, line);) {
    auto value = [&] { return std::stol(line.substr(line.find(':') + 1)); };
    if (line.rfind("VmRSS:", 0) == 0) {
      s.rss_kib = value();
    } else if (line.rfind("VmHWM:", 0) == 0) {
      s.hwm_kib = value();
    } else if (line.rfind("Threads:", 0) == 0) {
      s.threads = value();
    }
  }
  return s;
}

// The light clients: the agent's long-poll and report (same requests, same node certificate,
// mutual TLS), no installs, all on one io_context thread so that a connection costs one file
// descriptor (net::HttpsClient owns an io_context each: epoll + eventfd + socket, and
// RLIMIT_NOFILE's hard limit here is 20,000 without CAP_SYS_RESOURCE).
struct LightShared {
  asio::io_context ioc;
  asio::ip::tcp::endpoint endpoint;
  std::string base;
  long first = 0;
  long wait_s = 30;
  std::size_t max_connecting = 64;  // handshakes in flight
  std::size_t connecting = 0;
  std::deque<std::function<void()>> queued;  // connects waiting for a slot
  std::atomic<long> ready{0};                // clients that reached their first long-poll
  std::atomic<long> errors{0};               // failed requests (reconnected after a pause)
  std::atomic<long> connects{0};
};

class LightClient : public std::enable_shared_from_this<LightClient> {
 public:
  LightClient(LightShared& sh, Receivers& rx, std::size_t k)
      : sh_(sh), rx_(rx), k_(k), ctx_(ssl::context::tls_client), timer_(sh.ioc) {
    const std::string dir = sh.base + "/" + NodeName(sh.first + static_cast<long>(k));
    const std::string cert = ReadFile(dir + "/node_cert.pem");
    const std::string key = ReadFile(dir + "/node_key.pem");
    const std::string ca = ReadFile(dir + "/ca.pem");
    boost::system::error_code ec;
    ctx_.add_certificate_authority(asio::buffer(ca), ec);
    if (!ec) {
      ctx_.use_certificate_chain(asio::buffer(cert), ec);
    }
    if (!ec) {
      ctx_.use_private_key(asio::buffer(key), ssl::context::pem, ec);
    }
    if (ec) {
      Die(dir + ": " + ec.message());
    }
    ctx_.set_verify_mode(ssl::verify_peer);
    SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_2_VERSION);
  }

  void Start() { Connect(); }

 private:
  void Connect() {
    if (sh_.connecting >= sh_.max_connecting) {
      sh_.queued.push_back([self = shared_from_this()] { self->Connect(); });
      return;
    }
    ++sh_.connecting;
    ++sh_.connects;
    stream_.emplace(sh_.ioc, ctx_);
    // The server's name is checked as the agent checks it (RFC 6125, the IP address here).
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream_->native_handle()), "127.0.0.1");
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(*stream_).async_connect(
        sh_.endpoint, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec) {
            return self->Fail(true);
          }
          self->stream_->async_handshake(ssl::stream_base::client,
                                         [self](boost::system::error_code ec2) {
                                           self->Connected();
                                           if (ec2) {
                                             return self->Fail(false);
                                           }
                                           self->Next();
                                         });
        });
  }

  void Connected() {
    --sh_.connecting;
    if (!sh_.queued.empty()) {
      auto next = std::move(sh_.queued.front());
      sh_.queued.pop_front();
      asio::post(sh_.ioc, std::move(next));
    }
  }

  void Fail(bool still_connecting) {
    if (still_connecting) {
      Connected();
    }
    ++sh_.errors;
    stream_.reset();
    timer_.expires_after(std::chrono::milliseconds(500 + static_cast<long>(k_ % 500)));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code) { self->Connect(); });
  }

  void Next() {
    req_ = {};
    req_.version(11);
    req_.set(http::field::host, "127.0.0.1");
    if (!reported_) {
      req_.method(http::verb::post);
      req_.target("/v1/agent/report");
      req_.set(http::field::content_type, "application/json");
      req_.body() =
          json{{"applied_version", version_}, {"agent_version", "agent_bench-light"}}.dump();
    } else {
      if (!digest_.empty() && !counted_) {
        counted_ = true;
        rx_.active[k_].store(true);
        ++sh_.ready;
      }
      req_.method(http::verb::get);
      req_.target("/v1/agent/state?after=" + std::to_string(version_) +
                  "&wait=" + std::to_string(sh_.wait_s) + "&digest=" + digest_);
    }
    req_.prepare_payload();
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(sh_.wait_s + 15));
    http::async_write(
        *stream_, req_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          if (ec) {
            return self->Fail(false);
          }
          self->res_ = {};
          http::async_read(*self->stream_, self->buf_, self->res_,
                           [self](boost::system::error_code ec2, std::size_t) { self->Read(ec2); });
        });
  }

  void Read(boost::system::error_code ec) {
    const std::int64_t t = NowNs();
    if (ec || res_.result_int() != 200) {
      return Fail(false);
    }
    if (req_.method() == http::verb::post) {
      reported_ = true;
    } else {
      json j = json::parse(res_.body(), nullptr, false);
      if (!j.is_object() || !j.contains("version") || !j["version"].is_number_integer()) {
        return Fail(false);
      }
      const std::string digest = j.value("digest", "");
      if (!j.value("unchanged", false) && digest != digest_) {
        if (!digest_.empty()) {
          rx_.seen_ns[k_].store(t);
        }
        digest_ = digest;
      }
      const std::int64_t v = j["version"].get<std::int64_t>();
      if (v != version_) {
        version_ = v;
        reported_ = false;  // the agent reports the version it applied
      }
    }
    if (!res_.keep_alive()) {
      stream_.reset();
      return Connect();
    }
    Next();
  }

  LightShared& sh_;
  Receivers& rx_;
  std::size_t k_;
  ssl::context ctx_;
  std::optional<ssl::stream<beast::tcp_stream>> stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  std::int64_t version_ = 0;
  std::string digest_;
  bool reported_ = false;
  bool counted_ = false;
};

int Scale(const Args& a) {
  RaiseNoFile();
  const long n = a.Int("n", 0);
  const long pid = a.Int("serve-pid", 0);
  const long idle_s = a.Int("idle-seconds", 30);
  auto url = net::ParseHttpsUrl(a.Get("server"));
  if (!url) {
    Die(url.error().message);
  }
  Admin admin(a);
  Receivers rx(static_cast<std::size_t>(n), false);
  auto sh = std::make_unique<LightShared>();
  sh->endpoint = asio::ip::tcp::endpoint(asio::ip::make_address(url->host), url->port);
  sh->base = a.Get("base");
  sh->first = a.Int("first", 0);
  sh->wait_s = a.Int("long-poll", 30);
  const ProcStat before = ReadProc(pid);
  std::printf("scale_clients=%ld\nscale_serve_rss_before_mib=%.1f\n", n,
              static_cast<double>(before.rss_kib) / 1024);
  std::fflush(stdout);
  const auto t0 = Clock::now();
  // Every client's TLS context first (reading its files), then the connections: a connect
  // started long before the io thread runs would outlast the server's handshake timeout.
  std::vector<std::shared_ptr<LightClient>> clients;
  for (long i = 0; i < n; ++i) {
    clients.push_back(std::make_shared<LightClient>(*sh, rx, static_cast<std::size_t>(i)));
  }
  std::printf("scale_client_contexts_seconds=%.1f\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
  std::fflush(stdout);
  for (auto& c : clients) {
    asio::post(sh->ioc, [c] { c->Start(); });
  }
  clients.clear();
  auto guard = asio::make_work_guard(sh->ioc);
  std::thread io([&sh] { sh->ioc.run(); });
  // Until every client waits, or no progress for --stall-seconds (the clients that are waiting
  // then are measured).
  const auto deadline = Clock::now() + std::chrono::seconds(a.Int("start-timeout", 900));
  const auto stall = std::chrono::seconds(a.Int("stall-seconds", 60));
  long last_print = 0;
  long best = 0;
  auto best_at = Clock::now();
  while (sh->ready.load() < n && Clock::now() < deadline && Clock::now() - best_at < stall) {
    if (sh->ready.load() > best + n / 200) {
      best = sh->ready.load();
      best_at = Clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const long secs = static_cast<long>(std::chrono::duration<double>(Clock::now() - t0).count());
    if (secs / 10 != last_print / 10) {
      last_print = secs;
      std::fprintf(stderr, "agent_bench: %ld s: %ld of %ld clients waiting, %ld errors\n", secs,
                   sh->ready.load(), n, sh->errors.load());
    }
  }
  const double start_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("scale_ready=%ld\nscale_start_seconds=%.1f\nscale_start_errors=%ld\n",
              sh->ready.load(), start_s, sh->errors.load());
  std::fflush(stdout);
  if (sh->ready.load() < n) {
    std::fprintf(stderr,
                 "agent_bench: only %ld of %ld clients reached their long-poll (no progress for "
                 "%ld s or the start timeout): measuring those\n",
                 sh->ready.load(), n, static_cast<long>(stall.count()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(a.Int("settle-ms", 5000)));
  // Idle: every client waiting (each re-polls when its long-poll period ends).
  const long errors0 = sh->errors.load();
  const ProcStat i0 = ReadProc(pid);
  const ProcStat self0 = ReadProc(getpid());
  const auto ti0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(idle_s));
  const ProcStat i1 = ReadProc(pid);
  const ProcStat self1 = ReadProc(getpid());
  const double el = std::chrono::duration<double>(Clock::now() - ti0).count();
  std::printf(
      "scale_idle_seconds=%.1f\nscale_idle_cpu_pct=%.2f\nscale_idle_client_cpu_pct=%.2f\n"
      "scale_idle_errors=%ld\nscale_serve_rss_mib=%.1f\nscale_serve_hwm_mib=%.1f\n"
      "scale_serve_threads=%ld\n",
      el, 100 * (i1.cpu_s - i0.cpu_s) / el, 100 * (self1.cpu_s - self0.cpu_s) / el,
      sh->errors.load() - errors0, static_cast<double>(i1.rss_kib) / 1024,
      static_cast<double>(i1.hwm_kib) / 1024, i1.threads);
  std::fflush(stdout);
  Rounds("scale_change", admin, rx, a.Int("rounds", 3), a.Int("timeout", 120),
         a.Int("pause-ms", 5000), nullptr);
  const ProcStat end = ReadProc(pid);
  std::printf("scale_serve_rss_end_mib=%.1f\nscale_serve_hwm_end_mib=%.1f\nscale_errors=%ld\n",
              static_cast<double>(end.rss_kib) / 1024, static_cast<double>(end.hwm_kib) / 1024,
              sh->errors.load());
  std::fflush(stdout);
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Die("usage: agent_bench enroll|propagate|scale --option value ... (see the source)");
  }
  const std::string cmd = argv[1];
  const Args a = Parse(argc, argv);
  if (cmd == "enroll") {
    return Enroll(a);
  }
  if (cmd == "propagate") {
    return a.watch.empty() ? PropagateInProcess(a) : PropagateWatch(a);
  }
  if (cmd == "scale") {
    return Scale(a);
  }
  Die("unknown command " + cmd);
}
