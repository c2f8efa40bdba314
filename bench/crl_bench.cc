// CRL generation of clustertls with N revoked certificates, the clustertls side of
// bench/crl_bench.sh (which runs `openssl ca -gencrl` on the same entries in the same run).
//
//   crl_bench prepare DIR N   a real SQLite store DIR/store.db made by InitializeCluster
//                             (EC P-256 root and issuing CA, as `clustertls init`), with N
//                             revoked issuance records (RecordIssued in batches of 10,000; not
//                             timed): one of them a real certificate (DIR/revoked.pem), the
//                             others records with random 136-bit serials, as the issuer makes
//                             them, and a real certificate's DER as their `der`, so the rows
//                             have their real size; plus one good certificate (DIR/good.pem).
//                             Writes the openssl side's fixture: the issuing CA's certificate
//                             and key (DIR/issuing.pem, DIR/issuing.key, 0600), the CA file
//                             (DIR/cafile.pem: issuing + root) and an `openssl ca` database
//                             (DIR/index.txt) listing the same N revocations (same serials,
//                             times and reasons).
//   crl_bench run DIR [K]     opens the store as `serve` does (LoadClusterCa) and times, K
//                             times each (default 3): the store's ListRevoked, the pure
//                             pki::BuildCrl on those entries, the PEM encoding, and (when
//                             authority::CrlPublisher is built) the end-to-end
//                             CrlPublisher::Regenerate (counter + ForEachRevoked streamed into
//                             the CRL's encoder + BuildEncodedCrl + PEM); also the streamed
//                             listing alone (stream_*: ForEachRevoked into a CrlEntryEncoder).
//                             Prints one JSON line with the medians (ms, wall) and the sizes;
//                             writes DIR/ctls.crl.{der,pem} and DIR/ctls-e2e.crl.pem.
#include <sys/stat.h>

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "authority/cluster.h"
#include "authority/secrets.h"
#include "core/encoding.h"
#include "core/time.h"
#include "ossl/csprng.h"
#include "pki/crl_builder.h"
#include "pki/issuer.h"
#include "pki/key.h"
#include "store/store.h"
#ifdef CTLS_HAVE_CRL_PUBLISHER
#include "authority/crl_publisher.h"
#endif

namespace ctls = clustertls;

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "crl_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(ctls::core::Result<T> r, const char* what) {
  if (!r) {
    Die(std::string(what) + ": " + r.error().message);
  }
  if constexpr (!std::is_void_v<T>) {
    return std::move(r).value();
  }
}

void WriteFile(const std::string& path, const std::string& data, bool secret = false) {
  if (secret) {
    ::umask(077);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out.good()) {
    Die("cannot write " + path);
  }
  out.close();
  if (secret) {
    ::chmod(path.c_str(), 0600);
    ::umask(022);
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Die("cannot read " + path);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `openssl ca`'s index.txt time: YYMMDDHHMMSSZ (UTCTime, years 1950..2049).
std::string IndexTime(ctls::core::TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%y%m%d%H%M%SZ", &tm);
  return buf;
}

std::string PemCrl(const std::string& der) {
  std::string out = "-----BEGIN X509 CRL-----\n";
  out.reserve(der.size() * 4 / 3 + der.size() / 48 + 64);
  unsigned char line[80];
  for (std::size_t i = 0; i < der.size(); i += 48) {
    int len = static_cast<int>(std::min<std::size_t>(48, der.size() - i));
    int n = EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(der.data()) + i, len);
    out.append(reinterpret_cast<const char*>(line), static_cast<std::size_t>(n));
    out.push_back('\n');
  }
  out += "-----END X509 CRL-----\n";
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of the process (user + system), ms: on a shared machine the wall time also holds
// the time spent waiting for a core.
double CpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

constexpr const char* kFqdn = "bench.example.com";
// Reasons cycled through the entries; "unspecified" gets no reasonCode (as in `openssl ca`'s
// index without a reason).
constexpr const char* kReasons[] = {"keyCompromise", "superseded", "cessationOfOperation",
                                    "unspecified", "affiliationChanged"};

void Prepare(const std::string& dir, long n) {
  ctls::ossl::Csprng rng;
  ctls::core::SystemClock clock;
  const auto now = clock.Now();
  auto store = Check(ctls::store::Store::Open(dir + "/store.db"), "open store");
  auto sealing = Check(ctls::authority::SealingKey::Generate(rng), "sealing key");
  WriteFile(dir + "/sealing.key", sealing.ToHex(), true);
  Check(ctls::authority::InitializeCluster(*store, sealing, {.fqdn = kFqdn}, clock, rng),
        "init cluster");
  auto ca = Check(ctls::authority::LoadClusterCa(*store, sealing), "load CA");

  // Two real certificates: one to revoke, one that stays good.
  auto issue = [&](const std::string& cn) {
    auto key = Check(ctls::pki::PrivateKey::Generate(ctls::pki::KeyType::kEcP256), "key");
    return Check(ca.issuing.Issue({.profile = ctls::pki::Profile::kServer, .common_name = cn},
                                  key.public_key(), now, rng),
                 "issue");
  };
  auto revoked = issue("revoked.bench.example.com");
  auto good = issue("good.bench.example.com");
  const std::string filler_der = revoked.ToDer();

  std::string index;
  index.reserve(static_cast<std::size_t>(n) * 80);
  auto index_line = [&](const ctls::store::IssuedCert& c) {
    index += c.revoked_at ? "R\t" : "V\t";
    index += IndexTime(c.not_after) + "\t";
    if (c.revoked_at) {
      index += IndexTime(*c.revoked_at);
      if (c.revocation_reason != "unspecified") {
        index += "," + c.revocation_reason;
      }
    }
    index += "\t" + c.serial_hex + "\tunknown\t/CN=" + c.subject_cn + "\n";
  };
  auto record = [&](const ctls::pki::Certificate& cert, bool is_revoked) {
    const std::string der = cert.ToDer();
    ctls::store::IssuedCert c{.serial_hex = cert.serial_hex(),
                              .issuer_id = ca.issuer_id,
                              .profile = "server",
                              .subject_cn = cert.common_name(),
                              .sans_json = "[\"DNS:" + cert.common_name() + "\"]",
                              .not_before = now - std::chrono::minutes(5),
                              .not_after = now + std::chrono::days(365),
                              .der = ctls::store::Blob(der.begin(), der.end()),
                              .issued_at = now,
                              .issued_by = "bench"};
    if (is_revoked) {
      c.revoked_at = now - std::chrono::hours(1);
      c.revocation_reason = "keyCompromise";
    }
    return c;
  };
  std::vector<ctls::store::IssuedCert> batch = {record(revoked, true), record(good, false)};
  // The index in the order `openssl ca` keeps it: issuance order; both real ones first.
  index_line(batch[0]);
  index_line(batch[1]);
  long done = 1;
  const auto t0 = std::chrono::steady_clock::now();
  while (done < n) {
    for (; done < n && batch.size() < 10000; ++done) {
      unsigned char serial[17];
      Check(rng.Fill(serial), "rng");
      serial[0] &= 0x7f;
      if (serial[0] == 0) {
        serial[0] = 1;
      }
      std::string hex = ctls::core::Hex(serial);
      std::transform(hex.begin(), hex.end(), hex.begin(), ::toupper);
      const std::string cn = "node" + std::to_string(done) + "." + kFqdn;
      ctls::store::IssuedCert c{
          .serial_hex = hex,
          .issuer_id = ca.issuer_id,
          .profile = "server",
          .subject_cn = cn,
          .sans_json = "[\"DNS:" + cn + "\"]",
          .not_before = now - std::chrono::days(done % 300),
          .not_after = now + std::chrono::days(365 - done % 300),
          .der = ctls::store::Blob(filler_der.begin(), filler_der.end()),
          .issued_at = now - std::chrono::days(done % 300),
          .issued_by = "bench",
          .revoked_at = now - std::chrono::seconds(done % (299 * 86400)),
          .revocation_reason = kReasons[done % std::size(kReasons)]};
      index_line(c);
      batch.push_back(std::move(c));
    }
    Check(store->RecordIssued(batch), "RecordIssued");
    batch.clear();
  }
  if (!batch.empty()) {
    Check(store->RecordIssued(batch), "RecordIssued");
  }
  std::fprintf(stderr, "crl_bench: recorded %ld revoked (+1 good) in %.1f s\n", n,
               MsSince(t0) / 1000);

  WriteFile(dir + "/index.txt", index);
  WriteFile(dir + "/index.txt.attr", "unique_subject = no\n");
  WriteFile(dir + "/issuing.pem", ca.issuing.certificate().ToPem());
  WriteFile(dir + "/issuing.key", Check(ca.issuing.key().ToPem(), "key PEM"), true);
  WriteFile(dir + "/cafile.pem", ca.issuing.certificate().ToPem() + ca.root.ToPem());
  WriteFile(dir + "/revoked.pem", revoked.ToPem());
  WriteFile(dir + "/good.pem", good.ToPem());
}

void Run(const std::string& dir, int iterations) {
  ctls::core::SystemClock clock;
  auto store = Check(ctls::store::Store::Open(dir + "/store.db"), "open store");
  auto sealing =
      Check(ctls::authority::SealingKey::FromHex(ReadFile(dir + "/sealing.key")), "sealing key");
  auto ca = Check(ctls::authority::LoadClusterCa(*store, sealing), "load CA");

  std::vector<double> list_ms, convert_ms, build_ms, pem_ms, e2e_ms;
  std::vector<double> list_cpu, build_cpu, e2e_cpu;
  std::string der, pem;
  std::size_t entries = 0;
  for (int i = 0; i < iterations; ++i) {
    const auto now = clock.Now();
    auto t0 = std::chrono::steady_clock::now();
    double c0 = CpuMs();
    auto revoked = Check(store->ListRevoked(ca.issuer_id, now), "ListRevoked");
    list_ms.push_back(MsSince(t0));
    list_cpu.push_back(CpuMs() - c0);

    t0 = std::chrono::steady_clock::now();
    std::vector<ctls::pki::CrlEntry> crl_entries;
    crl_entries.reserve(revoked.size());
    for (auto& r : revoked) {
      crl_entries.push_back({.serial_hex = std::move(r.serial_hex),
                             .revoked_at = r.revoked_at,
                             .reason = Check(ctls::pki::ParseRevocationReason(r.reason), "reason")});
    }
    convert_ms.push_back(MsSince(t0));
    entries = crl_entries.size();

    t0 = std::chrono::steady_clock::now();
    c0 = CpuMs();
    der = Check(ctls::pki::BuildCrl(ca.issuing.certificate(), ca.issuing.key(), crl_entries,
                                    {.this_update = now,
                                     .next_update = now + std::chrono::days(7),
                                     .crl_number = i + 1}),
                "BuildCrl");
    build_ms.push_back(MsSince(t0));
    build_cpu.push_back(CpuMs() - c0);

    t0 = std::chrono::steady_clock::now();
    pem = PemCrl(der);
    pem_ms.push_back(MsSince(t0));
  }
  WriteFile(dir + "/ctls.crl.der", der);
  WriteFile(dir + "/ctls.crl.pem", pem);

  // The streamed path CrlPublisher takes: Store::ForEachRevoked straight into a
  // pki::CrlEntryEncoder (no list in between), then BuildEncodedCrl.
  std::vector<double> stream_ms, stream_cpu, stream_build_cpu;
  for (int i = 0; i < iterations; ++i) {
    const auto now = clock.Now();
    auto t0 = std::chrono::steady_clock::now();
    double c0 = CpuMs();
    ctls::pki::CrlEntryEncoder encoder(entries);
    // As CrlPublisher: each distinct reason name parsed once.
    std::vector<std::pair<std::string, ctls::pki::RevocationReason>> reasons;
    Check(store->ForEachRevoked(
              ca.issuer_id, now,
              [&](const ctls::store::RevokedRow& r) {
                auto known = std::find_if(reasons.begin(), reasons.end(),
                                          [&](const auto& k) { return k.first == r.reason; });
                if (known == reasons.end()) {
                  auto parsed = ctls::pki::ParseRevocationReason(r.reason);
                  reasons.emplace_back(
                      r.reason, parsed ? *parsed : ctls::pki::RevocationReason::kUnspecified);
                  known = reasons.end() - 1;
                }
                return encoder.Add(r.serial_hex, r.revoked_at, known->second);
              }),
          "ForEachRevoked");
    stream_ms.push_back(MsSince(t0));
    stream_cpu.push_back(CpuMs() - c0);
    if (encoder.size() != entries) {
      Die("ForEachRevoked listed " + std::to_string(encoder.size()) + " entries, ListRevoked " +
          std::to_string(entries));
    }
    c0 = CpuMs();
    std::string streamed = Check(
        ctls::pki::BuildEncodedCrl(ca.issuing.certificate(), ca.issuing.key(), std::move(encoder),
                                   {.this_update = now,
                                    .next_update = now + std::chrono::days(7),
                                    .crl_number = i + 1}),
        "BuildEncodedCrl");
    stream_build_cpu.push_back(CpuMs() - c0);
    // The same entries as BuildCrl's (the ECDSA signature's length may differ by an octet or two).
    if (streamed.size() + 8 < der.size() || streamed.size() > der.size() + 8) {
      Die("the streamed CRL's size differs from BuildCrl's");
    }
  }

  std::string e2e_json = "\"e2e\":null";
#ifdef CTLS_HAVE_CRL_PUBLISHER
  {
    auto t0 = std::chrono::steady_clock::now();
    auto publisher = Check(ctls::authority::CrlPublisher::Create(
                               ca, {.store = store.get(), .clock = &clock}),
                           "CrlPublisher::Create");
    const double create_ms = MsSince(t0);
    std::shared_ptr<const ctls::authority::PublishedCrl> crl;
    for (int i = 0; i < iterations; ++i) {
      t0 = std::chrono::steady_clock::now();
      const double c0 = CpuMs();
      crl = Check(publisher->Regenerate(), "CrlPublisher::Regenerate");
      e2e_ms.push_back(MsSince(t0));
      e2e_cpu.push_back(CpuMs() - c0);
    }
    WriteFile(dir + "/ctls-e2e.crl.pem", crl->pem);
    WriteFile(dir + "/ctls-e2e.crl.der", crl->der);
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "\"e2e\":{\"create_ms\":%.1f,\"regenerate_ms\":%.1f,\"regenerate_cpu_ms\":%.1f,"
                  "\"entries\":%zu,"
                  "\"der_bytes\":%zu,\"pem_bytes\":%zu,\"number\":%lld}",
                  create_ms, Median(e2e_ms), Median(e2e_cpu), crl->entries, crl->der.size(), crl->pem.size(),
                  static_cast<long long>(crl->number));
    e2e_json = buf;
  }
#endif
  std::printf(
      "{\"entries\":%zu,\"iterations\":%d,\"list_ms\":%.1f,\"list_cpu_ms\":%.1f,"
      "\"convert_ms\":%.1f,\"build_ms\":%.1f,\"build_cpu_ms\":%.1f,\"pem_ms\":%.1f,"
      "\"stream_ms\":%.1f,\"stream_cpu_ms\":%.1f,\"stream_build_cpu_ms\":%.1f,"
      "\"der_bytes\":%zu,\"pem_bytes\":%zu,%s}\n",
      entries, iterations, Median(list_ms), Median(list_cpu), Median(convert_ms),
      Median(build_ms), Median(build_cpu), Median(pem_ms), Median(stream_ms),
      Median(stream_cpu), Median(stream_build_cpu), der.size(), pem.size(), e2e_json.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = "usage: crl_bench prepare DIR N | crl_bench run DIR [ITERATIONS]";
  if (argc < 3) {
    Die(usage);
  }
  const std::string mode = argv[1];
  const std::string dir = argv[2];
  if (mode == "prepare" && argc == 4) {
    const long n = std::atol(argv[3]);
    if (n < 1) {
      Die("N must be at least 1");
    }
    Prepare(dir, n);
  } else if (mode == "run" && argc <= 4) {
    const int k = argc == 4 ? std::atoi(argv[3]) : 3;
    if (k < 1) {
      Die("ITERATIONS must be at least 1");
    }
    Run(dir, k);
  } else {
    Die(usage);
  }
  return 0;
}
