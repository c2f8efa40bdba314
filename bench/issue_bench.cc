// Issuing from a CSR against the raw limit of the cryptography it needs, in one binary, one core.
//
//   BM_RawLimit           one P-256 ECDSA verify + one P-256 ECDSA sign (EVP, SHA-256, ~300-byte
//                         message): the floor of "verify the CSR, sign the certificate".
//   BM_IssueFromCsrFast   DER CSR in -> parse, verify the CSR signature, server profile, sign
//                         with an EC P-256 CA -> DER certificate out (pki::IssueFromCsrDer).
//   BM_IssueFromCsrSlow   the same through Csr::Parse + Issuer::IssueFromCsr (d2i_X509_REQ).
//   BM_RawVerify, BM_RawSign, BM_D2iX509Req, BM_ParseCsrFast: the parts, for the record.
//
// After the runs it prints the medians and `ratio_vs_raw_limit=<issue rate / raw limit rate>`
// (goal: at least 0.50). Times are CPU time of the benchmark thread.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"
#include "ossl/csprng.h"
#include "ossl/ptr.h"
#include "pki/csr.h"
#include "pki/csr_fast.h"
#include "pki/issuer.h"
#include "pki/key.h"

namespace ctls = clustertls;

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "issue_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(ctls::core::Result<T> r, const char* what) {
  if (!r) {
    Die(std::string(what) + ": " + r.error().message);
  }
  return std::move(r).value();
}

const unsigned char* Bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// ---- Raw limit: EVP ECDSA P-256 -----------------------------------------------------------

struct RawFixture {
  ctls::ossl::Ptr<EVP_PKEY> key;
  std::string message = std::string(300, '\x5a');  // about a TBSCertificate's size
  std::string signature;
  // A sign context initialised once and copied per signature: cheaper than a fresh
  // EVP_DigestSignInit_ex each time, so the limit is the fastest EVP offers.
  ctls::ossl::Ptr<EVP_MD_CTX> sign_template;

  RawFixture() {
    key = ctls::ossl::Own(EVP_EC_gen("P-256"));
    sign_template = ctls::ossl::Own(EVP_MD_CTX_new());
    if (!key || !sign_template ||
        EVP_DigestSignInit_ex(sign_template.get(), nullptr, "SHA256", nullptr, nullptr, key.get(),
                              nullptr) != 1) {
      Die("cannot set up the P-256 key");
    }
    signature = Sign();
  }

  std::string Sign() const {
    auto ctx = ctls::ossl::Own(EVP_MD_CTX_new());
    unsigned char sig[80];
    std::size_t len = sizeof(sig);
    if (EVP_MD_CTX_copy_ex(ctx.get(), sign_template.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &len, Bytes(message), message.size()) != 1) {
      Die("EVP_DigestSign failed");
    }
    return std::string(reinterpret_cast<char*>(sig), len);
  }
};

const RawFixture& Raw() {
  static const RawFixture* fixture = new RawFixture();
  return *fixture;
}

bool RawVerify(const RawFixture& f, EVP_MD_CTX* ctx) {
  EVP_MD_CTX_reset(ctx);
  return EVP_DigestVerifyInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, f.key.get(), nullptr) ==
             1 &&
         EVP_DigestVerify(ctx, Bytes(f.signature), f.signature.size(), Bytes(f.message),
                          f.message.size()) == 1;
}

bool RawSign(const RawFixture& f, EVP_MD_CTX* ctx) {
  unsigned char sig[80];
  std::size_t len = sizeof(sig);
  return EVP_MD_CTX_copy_ex(ctx, f.sign_template.get()) == 1 &&
         EVP_DigestSign(ctx, sig, &len, Bytes(f.message), f.message.size()) == 1;
}

void BM_RawVerify(benchmark::State& state) {
  const RawFixture& f = Raw();
  auto ctx = ctls::ossl::Own(EVP_MD_CTX_new());
  for (auto _ : state) {
    if (!RawVerify(f, ctx.get())) {
      state.SkipWithError("verify failed");
      break;
    }
  }
}

void BM_RawSign(benchmark::State& state) {
  const RawFixture& f = Raw();
  auto ctx = ctls::ossl::Own(EVP_MD_CTX_new());
  for (auto _ : state) {
    if (!RawSign(f, ctx.get())) {
      state.SkipWithError("sign failed");
      break;
    }
  }
}

void BM_RawLimit(benchmark::State& state) {
  const RawFixture& f = Raw();
  auto verify_ctx = ctls::ossl::Own(EVP_MD_CTX_new());
  auto sign_ctx = ctls::ossl::Own(EVP_MD_CTX_new());
  for (auto _ : state) {
    if (!RawVerify(f, verify_ctx.get()) || !RawSign(f, sign_ctx.get())) {
      state.SkipWithError("verify or sign failed");
      break;
    }
  }
}

// ---- Issuance from a CSR ------------------------------------------------------------------

struct IssueFixture {
  ctls::ossl::Csprng rng;
  ctls::core::TimePoint now;
  std::optional<ctls::pki::Issuer> issuer;
  std::vector<std::string> csrs;  // DER, each from its own key, used in turn
  ctls::pki::IssueRequest request{.profile = ctls::pki::Profile::kServer,
                                  .validity = std::chrono::days(90)};

  IssueFixture() {
    now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    auto ca_key = Check(ctls::pki::PrivateKey::Generate(ctls::pki::KeyType::kEcP256), "CA key");
    auto ca_cert = Check(ctls::pki::SelfSign(ca_key,
                                             {.profile = ctls::pki::Profile::kRootCa,
                                              .common_name = "clustertls bench CA",
                                              .validity = std::chrono::days(3650)},
                                             now - std::chrono::hours(1), rng),
                         "CA certificate");
    issuer.emplace(Check(ctls::pki::Issuer::Create(ca_cert, ca_key), "issuer"));
    for (int i = 0; i < 16; ++i) {
      auto key = Check(ctls::pki::PrivateKey::Generate(ctls::pki::KeyType::kEcP256), "leaf key");
      std::string host = "node" + std::to_string(i) + ".cluster.example.com";
      auto csr =
          Check(ctls::pki::Csr::Create(key, {.common_name = host,
                                             .sans = {.dns = {host, "internal." + host},
                                                      .ips = {"10.0.0." + std::to_string(i + 1)}}}),
                "CSR");
      csrs.push_back(csr.ToDer());
    }
  }
};

const IssueFixture& Issue() {
  static const IssueFixture* fixture = new IssueFixture();
  return *fixture;
}

void BM_IssueFromCsrFast(benchmark::State& state) {
  const IssueFixture& f = Issue();
  ctls::ossl::Csprng rng;
  std::size_t i = 0;
  for (auto _ : state) {
    auto der =
        ctls::pki::IssueFromCsrDer(*f.issuer, f.csrs[i++ % f.csrs.size()], f.request, f.now, rng);
    if (!der) {
      state.SkipWithError(der.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(der->data());
  }
}

void BM_IssueFromCsrSlow(benchmark::State& state) {
  const IssueFixture& f = Issue();
  ctls::ossl::Csprng rng;
  std::size_t i = 0;
  for (auto _ : state) {
    auto csr = ctls::pki::Csr::Parse(f.csrs[i++ % f.csrs.size()]);
    if (!csr) {
      state.SkipWithError(csr.error().message.c_str());
      break;
    }
    auto cert = f.issuer->IssueFromCsr(*csr, f.request, f.now, rng);
    if (!cert) {
      state.SkipWithError(cert.error().message.c_str());
      break;
    }
    std::string der = cert->ToDer();
    benchmark::DoNotOptimize(der.data());
  }
}

void BM_D2iX509Req(benchmark::State& state) {
  const IssueFixture& f = Issue();
  for (auto _ : state) {
    const auto* p = Bytes(f.csrs[0]);
    auto req = ctls::ossl::Own(d2i_X509_REQ(nullptr, &p, static_cast<long>(f.csrs[0].size())));
    benchmark::DoNotOptimize(req.get());
  }
}

void BM_ParseCsrFast(benchmark::State& state) {
  const IssueFixture& f = Issue();
  for (auto _ : state) {
    auto csr = ctls::pki::ParseCsrFast(f.csrs[0]);
    if (!csr) {
      state.SkipWithError(csr.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(csr->spki.get());
  }
}

BENCHMARK(BM_RawLimit)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IssueFromCsrFast)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IssueFromCsrSlow)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawVerify)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawSign)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_D2iX509Req)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ParseCsrFast)->Unit(benchmark::kMicrosecond);

// Console output as usual, plus the CPU time of every repetition, for the medians and ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(OutputOptions options) : ConsoleReporter(options) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        times_[run.run_name.function_name].push_back(run.GetAdjustedCPUTime());
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // Median CPU time per iteration in microseconds, or 0 if the benchmark did not run.
  double Median(const std::string& name) const {
    auto it = times_.find(name);
    if (it == times_.end() || it->second.empty()) {
      return 0;
    }
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

  std::size_t Count(const std::string& name) const {
    auto it = times_.find(name);
    return it == times_.end() ? 0 : it->second.size();
  }

 private:
  std::map<std::string, std::vector<double>> times_;
};

void PrintRate(const RatioReporter& r, const char* name) {
  double us = r.Median(name);
  if (us > 0) {
    std::printf("%-22s median %8.1f us/op  %8.0f ops/s  (%zu runs)\n", name, us, 1e6 / us,
                r.Count(name));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Defaults for a noisy shared machine: several repetitions, interleaved so that a slow
  // moment does not fall on one benchmark only. Flags on the command line override them.
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=5";
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  std::string min_time = "--benchmark_min_time=0.3";
  auto given = [&](const char* prefix) {
    return std::any_of(args.begin() + 1, args.end(),
                       [&](const char* a) { return std::string(a).rfind(prefix, 0) == 0; });
  };
  if (!given("--benchmark_repetitions")) {
    args.insert(args.begin() + 1, reps.data());
  }
  if (!given("--benchmark_enable_random_interleaving")) {
    args.insert(args.begin() + 1, interleave.data());
  }
  if (!given("--benchmark_min_time")) {
    args.insert(args.begin() + 1, min_time.data());
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) {
    return 2;
  }
  // A reporter passed in does not see --benchmark_color: colour only on a terminal.
  RatioReporter reporter(isatty(STDOUT_FILENO) != 0 && !given("--benchmark_color=false")
                             ? benchmark::ConsoleReporter::OO_ColorTabular
                             : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::printf("\nmedians (CPU time per operation, one core):\n");
  for (const char* name : {"BM_RawLimit", "BM_IssueFromCsrFast", "BM_IssueFromCsrSlow",
                           "BM_RawVerify", "BM_RawSign", "BM_D2iX509Req", "BM_ParseCsrFast"}) {
    PrintRate(reporter, name);
  }
  double raw = reporter.Median("BM_RawLimit");
  double fast = reporter.Median("BM_IssueFromCsrFast");
  double slow = reporter.Median("BM_IssueFromCsrSlow");
  if (raw > 0 && fast > 0) {
    std::printf(
        "ratio_vs_raw_limit=%.2f  (issue-from-CSR rate / raw verify+sign rate; goal >= "
        "0.50)\n",
        raw / fast);
  }
  if (raw > 0 && slow > 0) {
    std::printf("slow_path_ratio_vs_raw_limit=%.2f  (Csr::Parse + Issuer::IssueFromCsr)\n",
                raw / slow);
  }
  return 0;
}
