#include "server/http_error.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace clustertls::server {
namespace {

using core::ErrorCode;

TEST(HttpErrorTest, EveryErrorCodeHasItsStatus) {
  for (ErrorCode code : {ErrorCode::kInvalidArgument, ErrorCode::kParse, ErrorCode::kWeakKey,
                         ErrorCode::kWrongPassphrase, ErrorCode::kKeyMismatch, ErrorCode::kNotCa,
                         ErrorCode::kExpired, ErrorCode::kInvalidName, ErrorCode::kBadSignature,
                         ErrorCode::kChainIncomplete, ErrorCode::kVerifyFailed}) {
    EXPECT_EQ(HttpStatus(code), 400) << core::ErrorCodeName(code);
  }
  EXPECT_EQ(HttpStatus(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatus(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatus(ErrorCode::kConflict), 409);
  EXPECT_EQ(
      ErrorResponse(core::Fail(ErrorCode::kConflict, "user \"a\" is the last active admin")).body,
      R"({"error":{"code":"conflict","message":"user \"a\" is the last active admin"}})");
  EXPECT_EQ(HttpStatus(ErrorCode::kUnsupported), 415);
  EXPECT_EQ(HttpStatus(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(ErrorResponse(core::Fail(ErrorCode::kPermissionDenied, "no")).body,
            R"({"error":{"code":"forbidden","message":"no"}})");
  EXPECT_EQ(HttpStatus(ErrorCode::kIo), 500);
  EXPECT_EQ(HttpStatus(ErrorCode::kCrypto), 500);
  EXPECT_EQ(HttpStatus(ErrorCode::kInternal), 500);
  EXPECT_EQ(HttpStatus(ErrorCode::kUnavailable), 503);
}

// A store that stayed busy through every retry: 503 with Retry-After, never the store's message
// (it names the database file).
TEST(HttpErrorTest, UnavailableAsksToRetryAfterASecond) {
  net::Response response = ErrorResponse(
      core::Fail(ErrorCode::kUnavailable,
                 "sqlite /var/lib/clustertls/clustertls.db: begin: database is locked"));
  EXPECT_EQ(response.status, 503);
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.headers[0].first, "Retry-After");
  EXPECT_EQ(response.headers[0].second, "1");
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["error"]["code"], "unavailable");
  EXPECT_EQ(response.body.find("/var/lib"), std::string::npos) << response.body;
  EXPECT_EQ(ErrorResponse(core::Fail(ErrorCode::kIo, "x")).headers.size(), 0u);
}

TEST(HttpErrorTest, ClientErrorsCarryCodeAndMessage) {
  net::Response response =
      ErrorResponse(core::Fail(ErrorCode::kInvalidArgument, "days: must be 1..825", "detail"));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body,
            R"({"error":{"code":"invalid_argument","message":"days: must be 1..825"}})");
  EXPECT_EQ(ErrorResponse(core::Fail(ErrorCode::kNotFound, "no certificate 0A")).status, 404);
}

TEST(HttpErrorTest, ServerErrorsHideTheirMessage) {
  net::Response response =
      ErrorResponse(core::Fail(ErrorCode::kIo, "cannot write /var/lib/secret/path", "errno 28"));
  EXPECT_EQ(response.status, 500);
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["error"]["code"], "internal");
  EXPECT_EQ(response.body.find("/var/lib"), std::string::npos);
  EXPECT_EQ(response.body.find("errno"), std::string::npos);
}

TEST(HttpErrorTest, MessagesAreJsonEscaped) {
  net::Response response =
      ErrorResponse(403, "forbidden", "role \"reader\" may not\nPOST \\v1 \x01 \xff");
  EXPECT_EQ(response.status, 403);
  auto body = nlohmann::json::parse(response.body);  // valid JSON despite the bytes
  EXPECT_EQ(body["error"]["code"], "forbidden");
  EXPECT_EQ(body["error"]["message"].get<std::string>().substr(0, 28),
            "role \"reader\" may not\nPOST \\");
  EXPECT_EQ(response.body.find('\n'), std::string::npos);
}

TEST(HttpErrorTest, JsonResponse) {
  net::Response response = JsonResponse(R"({"ok":true})", 201);
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"ok":true})");
  EXPECT_EQ(JsonResponse("{}").status, 200);
}

}  // namespace
}  // namespace clustertls::server
