#pragma once

#include <string>
#include <utility>
#include <variant>

namespace clustertls::core {

// The closed set of failure categories. Each maps to one exit code (cli/) and one HTTP status
// (server/) in exactly one place.
enum class ErrorCode {
  kInvalidArgument,   // a caller-supplied value is malformed or out of range
  kParse,             // bytes are not the expected encoding (PEM, DER, JSON, YAML)
  kNotFound,          // a file or record does not exist
  kAlreadyExists,     // refusing to overwrite
  kIo,                // a read or write failed
  kWeakKey,           // key is of a refused type, size, exponent or curve
  kWrongPassphrase,   // decryption failed with the given passphrase
  kKeyMismatch,       // private key does not match certificate / CSR
  kNotCa,             // the issuer certificate is not a CA
  kExpired,           // a certificate is outside its validity (or would outlive its issuer)
  kInvalidName,       // a DNS name, IP, URI or e-mail is refused
  kBadSignature,      // a signature (CSR, certificate) does not verify
  kChainIncomplete,   // a chain misses a link
  kVerifyFailed,      // verification found problems
  kUnsupported,       // well-formed but not supported
  kPermissionDenied,  // the caller may not do this (a name policy, a reserved name)
  kConflict,          // the current state forbids it (the last admin, a concurrent change)
  kUnavailable,       // try again later (the database is busy beyond every retry)
  kCrypto,            // an OpenSSL call failed unexpectedly
  kInternal,          // a bug
};

// Short stable spelling of an ErrorCode, e.g. "invalid_argument".
const char* ErrorCodeName(ErrorCode code);

// A failure: `message` is one human line (names the file/field and the cause);
// `detail` carries optional diagnostics (e.g. the drained OpenSSL error queue).
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string detail;

  // Returns a copy whose message is prefixed with "<context>: ".
  Error WithContext(const std::string& context) const {
    return Error{code, context + ": " + message, detail};
  }
};

// Builds an Error; convertible to any Result<T>.
inline Error Fail(ErrorCode code, std::string message, std::string detail = {}) {
  return Error{code, std::move(message), std::move(detail)};
}

// A value or an Error; shaped like C++23 std::expected so the move is a rename.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace clustertls::core

// Evaluates `expr` (a Result<T>); on error returns the error from the enclosing function,
// otherwise assigns the value to `lhs`.
#define CTLS_CONCAT_INNER(a, b) a##b
#define CTLS_CONCAT(a, b) CTLS_CONCAT_INNER(a, b)
#define CTLS_ASSIGN_OR_RETURN(lhs, expr) \
  CTLS_ASSIGN_OR_RETURN_IMPL(CTLS_CONCAT(ctls_result_, __LINE__), lhs, expr)
#define CTLS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp) {                                      \
    return tmp.error();                            \
  }                                                \
  lhs = std::move(tmp).value()
#define CTLS_RETURN_IF_ERROR(expr) \
  do {                             \
    auto ctls_status_ = (expr);    \
    if (!ctls_status_) {           \
      return ctls_status_.error(); \
    }                              \
  } while (false)
