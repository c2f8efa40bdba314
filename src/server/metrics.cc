#include "server/metrics.h"

#include <charconv>
#include <string_view>

namespace clustertls::server {
namespace {

// Shortest text that reads back as `value`, in fixed notation below 1e15 ("0.0005", "1", "2.5";
// Prometheus parses either notation, people read this one).
std::string FormatDouble(double value) {
  char buffer[400];
  const bool fixed = value > -1e15 && value < 1e15;
  auto [end, ec] =
      fixed ? std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed)
            : std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) {
    return "NaN";
  }
  return std::string(buffer, end);
}

// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

void Metrics::ObserveRequest(const std::string& method, const std::string& route, int status,
                             std::chrono::nanoseconds latency) {
  const double seconds =
      latency.count() <= 0 ? 0.0 : std::chrono::duration<double>(latency).count();
  std::size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) {
    ++bucket;
  }
  std::string key = method;
  key.push_back('\0');
  key += route;
  key.push_back('\0');
  key += std::to_string(status);
  std::lock_guard lock(mu_);
  ++requests_[key];
  ++latency_buckets_[bucket];
  latency_sum_ += seconds;
  ++latency_count_;
}

void Metrics::CountIssued(const std::string& profile) {
  std::lock_guard lock(mu_);
  ++issued_[profile];
}

void Metrics::CountOcspResponse(const std::string& status) {
  std::lock_guard lock(mu_);
  ++ocsp_[status];
}

void Metrics::CountAuthFailure() {
  std::lock_guard lock(mu_);
  ++auth_failures_;
}

std::string Metrics::Render(const std::vector<Expiry>& expiries) const {
  std::string out;
  std::lock_guard lock(mu_);

  Header(out, "clustertls_http_requests_total", "counter",
         "HTTP requests answered, by method, route pattern and status.");
  for (const auto& [key, count] : requests_) {
    const std::size_t first = key.find('\0');
    const std::size_t second = key.find('\0', first + 1);
    out.append("clustertls_http_requests_total{method=\"")
        .append(EscapeLabel(std::string_view(key).substr(0, first)))
        .append("\",route=\"")
        .append(EscapeLabel(std::string_view(key).substr(first + 1, second - first - 1)))
        .append("\",status=\"")
        .append(EscapeLabel(std::string_view(key).substr(second + 1)))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }

  Header(out, "clustertls_http_request_duration_seconds", "histogram",
         "Time from a complete request to its response, in seconds.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBuckets.size(); ++i) {
    cumulative += latency_buckets_[i];
    out.append("clustertls_http_request_duration_seconds_bucket{le=\"")
        .append(i < kBuckets.size() ? FormatDouble(kBuckets[i]) : "+Inf")
        .append("\"} ")
        .append(std::to_string(cumulative))
        .append("\n");
  }
  out.append("clustertls_http_request_duration_seconds_sum ")
      .append(FormatDouble(latency_sum_))
      .append("\n");
  out.append("clustertls_http_request_duration_seconds_count ")
      .append(std::to_string(latency_count_))
      .append("\n");

  Header(out, "clustertls_certificates_issued_total", "counter",
         "Certificates issued through the API, by profile.");
  for (const auto& [profile, count] : issued_) {
    out.append("clustertls_certificates_issued_total{profile=\"")
        .append(EscapeLabel(profile))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }

  Header(out, "clustertls_auth_failures_total", "counter",
         "Requests refused for malformed or wrong credentials.");
  out.append("clustertls_auth_failures_total ").append(std::to_string(auth_failures_)).append("\n");

  Header(out, "clustertls_ocsp_responses_total", "counter",
         "OCSP responses sent, by responseStatus.");
  for (const auto& [status, count] : ocsp_) {
    out.append("clustertls_ocsp_responses_total{status=\"")
        .append(EscapeLabel(status))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }

  Header(out, "clustertls_certificate_expiry_timestamp_seconds", "gauge",
         "Expiry (notAfter) of each CA and named certificate, the OCSP signer, the issued "
         "certificate (neither revoked nor expired) that expires first (kind=\"issued\", "
         "name=its serial), and the CRL's nextUpdate, in Unix seconds.");
  for (const Expiry& expiry : expiries) {
    out.append("clustertls_certificate_expiry_timestamp_seconds{kind=\"")
        .append(EscapeLabel(expiry.kind))
        .append("\",name=\"")
        .append(EscapeLabel(expiry.name))
        .append("\"} ")
        .append(std::to_string(expiry.not_after_unix))
        .append("\n");
  }
  return out;
}

}  // namespace clustertls::server
