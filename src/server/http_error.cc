#include "server/http_error.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace clustertls::server {

namespace {

// What a client sees instead of a 5xx error's message (the detail goes to the server log).
constexpr const char* kGenericInternalMessage = "internal error (details are in the server log)";
// What a client sees for kUnavailable (503): the store stayed busy through every retry, the
// database could not be reached, or its disk is full.
constexpr const char* kUnavailableMessage =
    "the store is busy, unreachable or full: try again in a moment (details are in the server log)";

}  // namespace

int HttpStatus(core::ErrorCode code) {
  switch (code) {
    case core::ErrorCode::kInvalidArgument:
    case core::ErrorCode::kParse:
    case core::ErrorCode::kWeakKey:
    case core::ErrorCode::kWrongPassphrase:
    case core::ErrorCode::kKeyMismatch:
    case core::ErrorCode::kNotCa:
    case core::ErrorCode::kExpired:
    case core::ErrorCode::kInvalidName:
    case core::ErrorCode::kBadSignature:
    case core::ErrorCode::kChainIncomplete:
    case core::ErrorCode::kVerifyFailed:
      return 400;
    case core::ErrorCode::kNotFound:
      return 404;
    case core::ErrorCode::kAlreadyExists:
    case core::ErrorCode::kConflict:
      return 409;
    case core::ErrorCode::kUnsupported:
      return 415;
    case core::ErrorCode::kPermissionDenied:
      return 403;
    case core::ErrorCode::kIo:
    case core::ErrorCode::kCrypto:
    case core::ErrorCode::kInternal:
      return 500;
    case core::ErrorCode::kUnavailable:
      return 503;
  }
  return 500;
}

net::Response ErrorResponse(const core::Error& error) {
  const int status = HttpStatus(error.code);
  if (status == 503) {
    // RFC 9110 section 10.2.3: when to try again.
    net::Response response = ErrorResponse(status, "unavailable", kUnavailableMessage);
    response.headers.emplace_back("Retry-After", "1");
    return response;
  }
  if (status >= 500) {
    return ErrorResponse(status, "internal", kGenericInternalMessage);
  }
  return ErrorResponse(status, core::ErrorCodeName(error.code), error.message);
}

net::Response ErrorResponse(int status, std::string code, std::string message) {
  nlohmann::json body = {{"error", {{"code", std::move(code)}, {"message", std::move(message)}}}};
  // Messages may quote client input: replace invalid UTF-8 instead of throwing.
  return JsonResponse(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), status);
}

net::Response JsonResponse(std::string json, int status) {
  net::Response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(json);
  return response;
}

}  // namespace clustertls::server
