#include "server/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace clustertls::server {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(MetricsTest, RendersTheExactExpositionText) {
  Metrics metrics;
  metrics.ObserveRequest("GET", "/health", 200, microseconds(300));      // <= 0.0005
  metrics.ObserveRequest("GET", "/health", 200, milliseconds(1));        // == 0.001 (le)
  metrics.ObserveRequest("POST", "/v1/ca/sign", 201, milliseconds(20));  // <= 0.025
  metrics.ObserveRequest("POST", "/v1/ca/sign", 400, seconds(3));        // +Inf only
  metrics.CountIssued("server");
  metrics.CountIssued("server");
  metrics.CountIssued("client");
  metrics.CountAuthFailure();
  metrics.CountOcspResponse("successful");
  metrics.CountOcspResponse("successful");
  metrics.CountOcspResponse("malformedRequest");
  const std::string text =
      metrics.Render({{.kind = "ca", .name = "root", .not_after_unix = 2000000000},
                      {.kind = "named", .name = "a\"b\\c\nd", .not_after_unix = 1800000000}});
  EXPECT_EQ(
      text,
      "# HELP clustertls_http_requests_total HTTP requests answered, by method, route "
      "pattern and status.\n"
      "# TYPE clustertls_http_requests_total counter\n"
      "clustertls_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2\n"
      "clustertls_http_requests_total{method=\"POST\",route=\"/v1/ca/sign\",status=\"201\"} 1\n"
      "clustertls_http_requests_total{method=\"POST\",route=\"/v1/ca/sign\",status=\"400\"} 1\n"
      "# HELP clustertls_http_request_duration_seconds Time from a complete request to its "
      "response, in seconds.\n"
      "# TYPE clustertls_http_request_duration_seconds histogram\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.0005\"} 1\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.001\"} 2\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.0025\"} 2\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.005\"} 2\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.01\"} 2\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.025\"} 3\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.05\"} 3\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.1\"} 3\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.25\"} 3\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"0.5\"} 3\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"1\"} 3\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"2.5\"} 3\n"
      "clustertls_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
      "clustertls_http_request_duration_seconds_sum 3.0213\n"
      "clustertls_http_request_duration_seconds_count 4\n"
      "# HELP clustertls_certificates_issued_total Certificates issued through the API, by "
      "profile.\n"
      "# TYPE clustertls_certificates_issued_total counter\n"
      "clustertls_certificates_issued_total{profile=\"client\"} 1\n"
      "clustertls_certificates_issued_total{profile=\"server\"} 2\n"
      "# HELP clustertls_auth_failures_total Requests refused for malformed or wrong "
      "credentials.\n"
      "# TYPE clustertls_auth_failures_total counter\n"
      "clustertls_auth_failures_total 1\n"
      "# HELP clustertls_ocsp_responses_total OCSP responses sent, by responseStatus.\n"
      "# TYPE clustertls_ocsp_responses_total counter\n"
      "clustertls_ocsp_responses_total{status=\"malformedRequest\"} 1\n"
      "clustertls_ocsp_responses_total{status=\"successful\"} 2\n"
      "# HELP clustertls_certificate_expiry_timestamp_seconds Expiry (notAfter) of each CA "
      "and named certificate, the OCSP signer, the issued certificate (neither revoked nor "
      "expired) that expires first (kind=\"issued\", name=its serial), and the CRL's "
      "nextUpdate, in Unix seconds.\n"
      "# TYPE clustertls_certificate_expiry_timestamp_seconds gauge\n"
      "clustertls_certificate_expiry_timestamp_seconds{kind=\"ca\",name=\"root\"} "
      "2000000000\n"
      "clustertls_certificate_expiry_timestamp_seconds{kind=\"named\",name=\"a\\\"b\\\\c\\nd\"} "
      "1800000000\n");
}

TEST(MetricsTest, EmptyRenderHasEveryFamilyAndZeroHistogram) {
  Metrics metrics;
  const std::string text = metrics.Render({});
  EXPECT_NE(text.find("# TYPE clustertls_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("clustertls_http_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("clustertls_http_request_duration_seconds_sum 0\n"), std::string::npos);
  EXPECT_NE(text.find("clustertls_auth_failures_total 0\n"), std::string::npos);
  EXPECT_EQ(text.find("clustertls_certificate_expiry_timestamp_seconds{"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(MetricsTest, LabelValuesAreEscapedInEveryFamily) {
  Metrics metrics;
  metrics.ObserveRequest("G\"ET", "/a\\b\nc", 404, microseconds(1));
  metrics.CountIssued("p\"x\n");
  const std::string text = metrics.Render({});
  EXPECT_NE(text.find("{method=\"G\\\"ET\",route=\"/a\\\\b\\nc\",status=\"404\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("{profile=\"p\\\"x\\n\"} 1\n"), std::string::npos) << text;
  // Every line is a comment or a sample: no raw newline leaked from a label.
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = text.substr(start, end - start);
    EXPECT_TRUE(line.starts_with("# ") || line.starts_with("clustertls_")) << line;
    start = end + 1;
  }
}

TEST(MetricsTest, ConcurrentObservationsAreAllCounted) {
  Metrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < 1000; ++i) {
        metrics.ObserveRequest("GET", "/health", 200, microseconds(100));
        metrics.CountAuthFailure();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const std::string text = metrics.Render({});
  EXPECT_NE(text.find("route=\"/health\",status=\"200\"} 4000\n"), std::string::npos);
  EXPECT_NE(text.find("clustertls_http_request_duration_seconds_count 4000\n"), std::string::npos);
  EXPECT_NE(text.find("clustertls_http_request_duration_seconds_bucket{le=\"0.0005\"} 4000\n"),
            std::string::npos);
  EXPECT_NE(text.find("clustertls_auth_failures_total 4000\n"), std::string::npos);
}

}  // namespace
}  // namespace clustertls::server
