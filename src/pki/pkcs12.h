#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace clustertls::pki {

struct Pkcs12Options {
  std::string friendly_name = {};
  // Modern default: AES-256-CBC with PBKDF2-HMAC-SHA256 for key and certificates, SHA-256 MAC.
  // `legacy` uses 3DES/RC2 + SHA-1 for old Java/Windows readers.
  bool legacy = false;
};

// Builds a PKCS#12 (DER) with `key`, `cert` and `chain` (issuers, leaf excluded), protected by
// `passphrase` (must not be empty: kInvalidArgument).
core::Result<std::string> BuildPkcs12(const PrivateKey& key, const Certificate& cert,
                                      const std::vector<Certificate>& chain,
                                      std::string_view passphrase,
                                      const Pkcs12Options& options = {});

struct Pkcs12Contents {
  std::optional<PrivateKey> key;
  std::optional<Certificate> certificate;
  std::vector<Certificate> chain;
};

// Parses a PKCS#12 (DER). Wrong passphrase: kWrongPassphrase; not PKCS#12: kParse.
core::Result<Pkcs12Contents> ParsePkcs12(std::string_view der, std::string_view passphrase);

}  // namespace clustertls::pki
