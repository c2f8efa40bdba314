#pragma once

#include <string>

#include "core/result.h"

namespace clustertls::ossl {

// Drains the calling thread's OpenSSL error queue into one line ("" if empty).
std::string DrainErrors();

// Clears the error queue without reading it.
void ClearErrors();

// Builds an Error with `code` and `message`, carrying the drained error queue as detail.
core::Error Failure(core::ErrorCode code, std::string message);

// The OpenSSL library in use at run time, as `openssl version` prints it ("OpenSSL 3.0.15 ...").
std::string LibraryVersion();

}  // namespace clustertls::ossl
