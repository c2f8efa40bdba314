#include "pki/crl.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <utility>

#include "ossl/bio.h"
#include "ossl/error.h"

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

}  // namespace clustertls::pki
