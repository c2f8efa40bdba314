#include "pki/crl.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <array>
#include <chrono>
#include <ctime>
#include <utility>

#include "ossl/bio.h"
#include "ossl/error.h"
#include "pki/asn1_time.h"
#include "pki/certificate.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;

bool LooksLikePem(std::string_view data) {
  return data.find("-----BEGIN ") != std::string_view::npos;
}

core::Result<ossl::Ptr<X509_CRL>> ParseDer(std::string_view der, const std::string& what) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const auto* p = begin;
  auto crl = ossl::Own(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  if (!crl) {
    return ossl::Failure(ErrorCode::kParse, what + " is not a valid DER CRL");
  }
  if (p != begin + der.size()) {
    return Fail(ErrorCode::kParse, what + " has trailing data after the DER CRL");
  }
  return crl;
}

// Collects the "X509 CRL" blocks of a PEM text, at most `max` of them.
core::Result<std::vector<ossl::Ptr<X509_CRL>>> ParsePem(std::string_view data, std::size_t max) {
  CTLS_ASSIGN_OR_RETURN(auto blocks, ossl::ReadPemBlocks(data, {PEM_STRING_X509_CRL}, max));
  std::vector<ossl::Ptr<X509_CRL>> out;
  for (const ossl::PemBlock& block : blocks) {
    CTLS_ASSIGN_OR_RETURN(
        auto crl, ParseDer(block.der, "PEM block " + std::to_string(block.index) + " (X509 CRL)"));
    out.push_back(std::move(crl));
  }
  if (out.empty()) {
    return Fail(ErrorCode::kParse, "no PEM CRL found");
  }
  return out;
}

// RFC 5280 section 5.3.1: the CRLReason values (7 is unused).
bool IsRevocationReason(long code) {
  return code >= 0 && code <= 10 && code != 7;
}

}  // namespace

core::Result<Crl> Crl::Parse(std::string_view data) {
  if (data.empty()) {
    return Fail(ErrorCode::kParse, "empty input: not a CRL");
  }
  if (LooksLikePem(data)) {
    CTLS_ASSIGN_OR_RETURN(auto crls, ParsePem(data, 1));
    return Crl(ossl::Share(std::move(crls.front())));
  }
  CTLS_ASSIGN_OR_RETURN(auto crl, ParseDer(data, "input"));
  return Crl(ossl::Share(std::move(crl)));
}

core::Result<std::vector<Crl>> Crl::ParseAll(std::string_view data) {
  if (data.empty()) {
    return Fail(ErrorCode::kParse, "empty input: no CRL found");
  }
  std::vector<Crl> out;
  if (LooksLikePem(data)) {
    CTLS_ASSIGN_OR_RETURN(auto crls, ParsePem(data, static_cast<std::size_t>(-1)));
    for (auto& crl : crls) {
      out.push_back(Crl(ossl::Share(std::move(crl))));
    }
    return out;
  }
  CTLS_ASSIGN_OR_RETURN(auto crl, ParseDer(data, "input"));
  out.push_back(Crl(ossl::Share(std::move(crl))));
  return out;
}

std::string Crl::ToDer() const { return ossl::ToDer(crl_.get(), i2d_X509_CRL); }

std::string Crl::ToPem() const {
  auto bio = ossl::WriteBio();
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl_.get()) != 1) {
    ossl::ClearErrors();
    return {};
  }
  return ossl::BioContents(bio.get());
}

std::string Crl::issuer() const {
  const X509_NAME* name = X509_CRL_get_issuer(crl_.get());
  auto bio = ossl::WriteBio();
  if (name == nullptr || !bio ||
      X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ossl::ClearErrors();
    return {};
  }
  return ossl::BioContents(bio.get());
}

core::TimePoint Crl::this_update() const {
  return internal::ToTimePoint(X509_CRL_get0_lastUpdate(crl_.get()));
}

std::optional<core::TimePoint> Crl::next_update() const {
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl_.get());
  if (next == nullptr) {
    return std::nullopt;
  }
  return internal::ToTimePoint(next);
}

std::optional<std::string> Crl::crl_number() const {
  int critical = 0;
  auto number = ossl::Own(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl_.get(), NID_crl_number, &critical, nullptr)));
  if (!number) {
    ossl::ClearErrors();
    return std::nullopt;
  }
  auto bn = ossl::Own(ASN1_INTEGER_to_BN(number.get(), nullptr));
  char* dec = bn ? BN_bn2dec(bn.get()) : nullptr;
  if (dec == nullptr) {
    ossl::ClearErrors();
    return std::nullopt;
  }
  std::string out(dec);
  OPENSSL_free(dec);
  return out;
}

std::string Crl::signature_algorithm() const {
  int nid = X509_CRL_get_signature_nid(crl_.get());
  if (nid != NID_undef) {
    if (const char* ln = OBJ_nid2ln(nid); ln != nullptr) {
      return ln;
    }
  }
  const X509_ALGOR* alg = nullptr;
  X509_CRL_get0_signature(crl_.get(), nullptr, &alg);
  const ASN1_OBJECT* obj = nullptr;
  if (alg != nullptr) {
    X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
  }
  if (obj == nullptr) {
    return "unknown";
  }
  std::array<char, 128> buf{};
  int len = OBJ_obj2txt(buf.data(), static_cast<int>(buf.size()), obj, 1);
  return len > 0 ? std::string(buf.data()) : std::string("unknown");
}

std::size_t Crl::revoked_count() const {
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl_.get());
  return revoked == nullptr ? 0 : static_cast<std::size_t>(sk_X509_REVOKED_num(revoked));
}

core::Result<std::vector<CrlEntry>> Crl::entries() const {
  std::vector<CrlEntry> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl_.get());
  const int n = revoked == nullptr ? 0 : sk_X509_REVOKED_num(revoked);
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
    CrlEntry entry{.serial_hex = SerialHex(X509_REVOKED_get0_serialNumber(r)),
                   .revoked_at = internal::ToTimePoint(X509_REVOKED_get0_revocationDate(r))};
    int critical = 0;
    auto code = ossl::Own(static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &critical, nullptr)));
    if (code) {
      const long value = ASN1_ENUMERATED_get(code.get());
      if (!IsRevocationReason(value)) {
        return Fail(ErrorCode::kParse, "CRL entry " + std::to_string(i + 1) + " (serial " +
                                           entry.serial_hex + "): reasonCode " +
                                           std::to_string(value) +
                                           " is not an RFC 5280 reason");
      }
      entry.reason = static_cast<RevocationReason>(value);
    } else if (critical == -2) {
      return Fail(ErrorCode::kParse, "CRL entry " + std::to_string(i + 1) + " (serial " +
                                         entry.serial_hex + ") has more than one reasonCode");
    }
    ossl::ClearErrors();
    out.push_back(std::move(entry));
  }
  return out;
}

bool Crl::IsSignedBy(const Certificate& issuer) const {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl_.get()), X509_get_subject_name(issuer.get())) != 0) {
    return false;
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer.get());
  if (key == nullptr) {
    ossl::ClearErrors();
    return false;
  }
  const bool ok = X509_CRL_verify(crl_.get(), key) == 1;
  ossl::ClearErrors();
  return ok;
}

}  // namespace clustertls::pki
