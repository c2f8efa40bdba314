#include "core/result.h"

namespace clustertls::core {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kParse:
      return "parse_error";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kIo:
      return "io_error";
    case ErrorCode::kWeakKey:
      return "weak_key";
    case ErrorCode::kWrongPassphrase:
      return "wrong_passphrase";
    case ErrorCode::kKeyMismatch:
      return "key_mismatch";
    case ErrorCode::kNotCa:
      return "not_ca";
    case ErrorCode::kExpired:
      return "expired";
    case ErrorCode::kInvalidName:
      return "invalid_name";
    case ErrorCode::kBadSignature:
      return "bad_signature";
    case ErrorCode::kChainIncomplete:
      return "chain_incomplete";
    case ErrorCode::kVerifyFailed:
      return "verify_failed";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kPermissionDenied:
      return "forbidden";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kCrypto:
      return "crypto_error";
    case ErrorCode::kInternal:
      return "internal_error";
  }
  return "internal_error";
}

}  // namespace clustertls::core
