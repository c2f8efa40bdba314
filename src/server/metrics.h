#pragma once

// Prometheus text exposition (format 0.0.4) of the control plane's counters: requests by route
// and status, a request-latency histogram, certificates issued, and the expiry time of every CA
// and named certificate and of the issued certificate that expires first.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace clustertls::server {

// Thread-safe counters; Render() produces the /metrics body.
class Metrics {
 public:
  // Latency buckets (seconds), Prometheus-style upper bounds.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  // One finished request: `route` is the route pattern ("/v1/ca/sign", "/v1/certificates/{serial}",
  // "other"), never the raw path (bounded label cardinality).
  void ObserveRequest(const std::string& method, const std::string& route, int status,
                      std::chrono::nanoseconds latency);
  void CountIssued(const std::string& profile);
  void CountAuthFailure();
  // One OCSPResponse sent, by its responseStatus name ("successful", "malformedRequest", ...;
  // RFC 6960 section 4.2.1): clustertls_ocsp_responses_total{status}.
  void CountOcspResponse(const std::string& status);

  // One gauge line per certificate: clustertls_certificate_expiry_timestamp_seconds{kind="ca"|
  // "named"|"crl"|"ocsp-signer"|"issued",name="..."} <unix seconds> (for "crl": the CRL's
  // nextUpdate; "issued": only the issued certificate, neither revoked nor expired, that
  // expires first, its serial as the name).
  struct Expiry {
    std::string kind;
    std::string name;
    std::int64_t not_after_unix = 0;
  };
  // `expiries` are taken at render time (the caller reads them from its current state).
  std::string Render(const std::vector<Expiry>& expiries) const;

 private:
  struct Series {
    std::uint64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> requests_;                     // key: method\0route\0status
  std::map<std::string, std::uint64_t> issued_;                       // by profile
  std::map<std::string, std::uint64_t> ocsp_;                         // by response status
  std::array<std::uint64_t, kBuckets.size() + 1> latency_buckets_{};  // last: +Inf
  double latency_sum_ = 0;
  std::uint64_t latency_count_ = 0;
  std::uint64_t auth_failures_ = 0;
};

}  // namespace clustertls::server
