#include "ossl/error.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

namespace clustertls::ossl {

std::string DrainErrors() {
  std::string out;
  unsigned long e;
  const char* data = nullptr;
  int flags = 0;
  while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
      out += " (";
      out += data;
      out += ")";
    }
  }
  return out;
}

void ClearErrors() { ERR_clear_error(); }

core::Error Failure(core::ErrorCode code, std::string message) {
  return core::Error{code, std::move(message), DrainErrors()};
}

std::string LibraryVersion() { return OpenSSL_version(OPENSSL_VERSION); }

}  // namespace clustertls::ossl
