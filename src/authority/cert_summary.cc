#include "authority/cert_summary.h"

#include <arpa/inet.h>
#include <openssl/asn1t.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "ossl/bio.h"
#include "ossl/error.h"

// Certificate and TBSCertificate (RFC 5280 4.1) as OpenSSL ASN.1 templates. They mirror
// OpenSSL's own X509 / X509_CINF templates (crypto/x509/x_x509.c) except that the
// SubjectPublicKeyInfo is a plain SEQUENCE { AlgorithmIdentifier, BIT STRING }, never decoded
// into a key (the same approach as pki/csr_fast.cc).
namespace {

struct SummarySpkiSt {
  X509_ALGOR* algor;
  ASN1_BIT_STRING* public_key;
};

struct SummaryTbsSt {
  ASN1_INTEGER* version;
  ASN1_INTEGER* serial;
  X509_ALGOR* signature;
  X509_NAME* issuer;
  X509_VAL* validity;
  X509_NAME* subject;
  SummarySpkiSt* key;
  ASN1_BIT_STRING* issuer_uid;
  ASN1_BIT_STRING* subject_uid;
  STACK_OF(X509_EXTENSION) * extensions;
};

struct SummaryCertSt {
  SummaryTbsSt* tbs;
  X509_ALGOR* sig_alg;
  ASN1_BIT_STRING* signature;
};

// OpenSSL's template macros are laid out as in OpenSSL's own sources.
// clang-format off
ASN1_SEQUENCE(SummarySpkiSt) = {
    ASN1_SIMPLE(SummarySpkiSt, algor, X509_ALGOR),
    ASN1_SIMPLE(SummarySpkiSt, public_key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(SummarySpkiSt)

// TBSCertificate ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, serialNumber, signature,
//   issuer, validity, subject, subjectPublicKeyInfo, issuerUniqueID [1] IMPLICIT OPTIONAL,
//   subjectUniqueID [2] IMPLICIT OPTIONAL, extensions [3] EXPLICIT OPTIONAL }
ASN1_SEQUENCE(SummaryTbsSt) = {
    ASN1_EXP_OPT(SummaryTbsSt, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(SummaryTbsSt, serial, ASN1_INTEGER),
    ASN1_SIMPLE(SummaryTbsSt, signature, X509_ALGOR),
    ASN1_SIMPLE(SummaryTbsSt, issuer, X509_NAME),
    ASN1_SIMPLE(SummaryTbsSt, validity, X509_VAL),
    ASN1_SIMPLE(SummaryTbsSt, subject, X509_NAME),
    ASN1_SIMPLE(SummaryTbsSt, key, SummarySpkiSt),
    ASN1_IMP_OPT(SummaryTbsSt, issuer_uid, ASN1_BIT_STRING, 1),
    ASN1_IMP_OPT(SummaryTbsSt, subject_uid, ASN1_BIT_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(SummaryTbsSt, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(SummaryTbsSt)

// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
ASN1_SEQUENCE(SummaryCertSt) = {
    ASN1_SIMPLE(SummaryCertSt, tbs, SummaryTbsSt),
    ASN1_SIMPLE(SummaryCertSt, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(SummaryCertSt, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(SummaryCertSt)
// clang-format on

}  // namespace

namespace clustertls::authority {
namespace {

using core::ErrorCode;

struct SummaryCertDeleter {
  void operator()(SummaryCertSt* cert) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(cert), ASN1_ITEM_rptr(SummaryCertSt));
  }
};

std::string StringBytes(const ASN1_STRING* s) {
  if (s == nullptr || ASN1_STRING_length(s) <= 0) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

core::Result<core::TimePoint> ToTimePoint(const ASN1_TIME* t, const char* field) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return ossl::Failure(ErrorCode::kParse, std::string("certificate ") + field + " is invalid");
  }
  return core::TimePoint(std::chrono::seconds(timegm(&tm)));
}

std::string LastCommonName(const X509_NAME* name) {
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    last = i;
  }
  if (last < 0) {
    return {};
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    return {};
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// The names of the subjectAltName extension (RFC 5280 4.2.1.6), as pki::Certificate::sans.
core::Result<pki::SubjectAltNames> ReadSans(const STACK_OF(X509_EXTENSION) * extensions) {
  pki::SubjectAltNames sans;
  const int index = X509v3_get_ext_by_NID(extensions, NID_subject_alt_name, -1);
  if (index < 0) {
    return sans;
  }
  // RFC 5280 4.2: at most one instance of an extension. OpenSSL reads a repeated one as none.
  if (X509v3_get_ext_by_NID(extensions, NID_subject_alt_name, index) >= 0) {
    return core::Fail(ErrorCode::kParse, "certificate has more than one subjectAltName extension");
  }
  auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(X509v3_get_ext(extensions, index)));
  if (names == nullptr) {
    return ossl::Failure(ErrorCode::kParse, "certificate subjectAltName is invalid");
  }
  std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)> owned(names, GENERAL_NAMES_free);
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    switch (gn->type) {
      case GEN_DNS:
        sans.dns.push_back(StringBytes(gn->d.dNSName));
        break;
      case GEN_URI:
        sans.uris.push_back(StringBytes(gn->d.uniformResourceIdentifier));
        break;
      case GEN_EMAIL:
        sans.emails.push_back(StringBytes(gn->d.rfc822Name));
        break;
      case GEN_IPADD: {
        const std::string bytes = StringBytes(gn->d.iPAddress);
        char text[INET6_ADDRSTRLEN];
        const int af = bytes.size() == 4 ? AF_INET : (bytes.size() == 16 ? AF_INET6 : -1);
        if (af < 0 || inet_ntop(af, bytes.data(), text, sizeof text) == nullptr) {
          return core::Fail(ErrorCode::kParse, "certificate subjectAltName holds a " +
                                                   std::to_string(bytes.size()) +
                                                   "-byte IP address");
        }
        sans.ips.emplace_back(text);
        break;
      }
      default:
        break;
    }
  }
  return sans;
}

}  // namespace

core::Result<CertSummary> SummarizeCertificateDer(std::string_view der) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  std::unique_ptr<SummaryCertSt, SummaryCertDeleter> cert(reinterpret_cast<SummaryCertSt*>(
      ASN1_item_d2i(nullptr, &p, static_cast<long>(der.size()), ASN1_ITEM_rptr(SummaryCertSt))));
  if (!cert) {
    return ossl::Failure(ErrorCode::kParse, "not a DER certificate");
  }
  if (p != begin + der.size()) {
    return core::Fail(ErrorCode::kParse, "trailing bytes after the DER certificate");
  }
  const SummaryTbsSt* tbs = cert->tbs;
  CertSummary out;
  out.serial_hex = pki::SerialHex(tbs->serial);
  out.common_name = LastCommonName(tbs->subject);
  CTLS_ASSIGN_OR_RETURN(out.sans, ReadSans(tbs->extensions));
  CTLS_ASSIGN_OR_RETURN(out.not_before, ToTimePoint(tbs->validity->notBefore, "notBefore"));
  CTLS_ASSIGN_OR_RETURN(out.not_after, ToTimePoint(tbs->validity->notAfter, "notAfter"));
  return out;
}

std::string CertificatePemFromDer(std::string_view der) {
  return ossl::PemEncode(PEM_STRING_X509, der);
}

core::Result<store::IssuedCert> IssuedRecordFromDer(std::string_view der, std::string issuer_id,
                                                    std::string profile, core::TimePoint issued_at,
                                                    std::string issued_by) {
  CTLS_ASSIGN_OR_RETURN(CertSummary summary, SummarizeCertificateDer(der));
  return store::IssuedCert{.serial_hex = std::move(summary.serial_hex),
                           .issuer_id = std::move(issuer_id),
                           .profile = std::move(profile),
                           .subject_cn = std::move(summary.common_name),
                           .sans_json = SansJson(summary.sans),
                           .not_before = summary.not_before,
                           .not_after = summary.not_after,
                           .der = store::Blob(der.begin(), der.end()),
                           .issued_at = issued_at,
                           .issued_by = std::move(issued_by)};
}

store::AuditInput CertSignAudit(const store::IssuedCert& record, std::string actor,
                                std::string source) {
  return CertSignAudit(record, std::move(actor), std::move(source), nlohmann::ordered_json());
}

store::AuditInput CertSignAudit(const store::IssuedCert& record, std::string actor,
                                std::string source, const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json details = {{"profile", record.profile},
                                    {"cn", record.subject_cn},
                                    {"not_after", core::FormatTime(record.not_after)}};
  if (extra.is_object()) {
    details.update(extra);
  }
  return store::AuditInput{.time = record.issued_at,
                           .actor = std::move(actor),
                           .action = "cert.sign",
                           .target = record.serial_hex,
                           .source = std::move(source),
                           .details_json = details.dump()};
}

std::string SansJson(const pki::SubjectAltNames& sans) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& n : sans.dns) {
    out.push_back("DNS:" + n);
  }
  for (const auto& n : sans.ips) {
    out.push_back("IP:" + n);
  }
  for (const auto& n : sans.uris) {
    out.push_back("URI:" + n);
  }
  for (const auto& n : sans.emails) {
    out.push_back("email:" + n);
  }
  // A name read from a certificate may hold bytes that are not UTF-8 (an IA5String is only
  // checked by the issuer's canonicalisation): replaced by U+FFFD, as dump() would throw.
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace clustertls::authority
