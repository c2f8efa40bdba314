#pragma once

// The one place where an ErrorCode becomes an HTTP status, and the JSON error body every route
// answers with: {"error":{"code":"invalid_argument","message":"..."}}.

#include <string>

#include "core/result.h"
#include "net/https_server.h"

namespace clustertls::server {

// kInvalidArgument/kParse/kWeakKey/kKeyMismatch/kNotCa/kExpired/kInvalidName/kBadSignature/
// kChainIncomplete/kVerifyFailed/kWrongPassphrase -> 400 (422 is not used: scripts test 400),
// kPermissionDenied -> 403, kNotFound -> 404, kAlreadyExists/kConflict -> 409, kUnsupported ->
// 415, kIo/kCrypto/kInternal -> 500, kUnavailable -> 503 (docs/api.md "Errors").
int HttpStatus(core::ErrorCode code);

// A JSON error response for `error` with HttpStatus(error.code). Messages of 5xx errors are
// replaced by a generic line (the detail goes to the log, not to the client); a 503 also says
// `Retry-After: 1`.
net::Response ErrorResponse(const core::Error& error);

// A JSON error response with an explicit status and code string, for the statuses no ErrorCode
// stands for: 401 "unauthorized", 405 "method_not_allowed", 413 "body_too_large", 415
// "unsupported_media_type" (a Content-Type), 429 "too_many_requests" (docs/api.md "Errors").
net::Response ErrorResponse(int status, std::string code, std::string message);

// A 200 (or `status`) JSON response with `json` as the body.
net::Response JsonResponse(std::string json, int status = 200);

}  // namespace clustertls::server
