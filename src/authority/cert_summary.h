#pragma once

// What the issuance record needs from a certificate the CA has just signed, read from its DER
// without pki::Certificate::FromDer: OpenSSL's d2i_X509 decodes the subject public key through
// the provider decoders, which costs more than signing the certificate. This reader walks the
// same RFC 5280 section 4.1 structure with the SubjectPublicKeyInfo left undecoded.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "store/store.h"

namespace clustertls::authority {

// The fields of an issued certificate that its record and the audit log hold.
struct CertSummary {
  std::string serial_hex{};     // upper-case, even length: as pki::Certificate::serial_hex
  std::string common_name{};    // the subject's last CN, "" if none
  pki::SubjectAltNames sans{};  // DNS, IP (text), URI and e-mail names, in certificate order
  core::TimePoint not_before{};
  core::TimePoint not_after{};
};

// Reads one DER X.509 certificate (trailing bytes refused). kParse if it is not one.
core::Result<CertSummary> SummarizeCertificateDer(std::string_view der);

// The SANs as an issuance record's sans_json: a JSON array of "DNS:a.example.com",
// "IP:10.0.0.1", "URI:...", "email:..." in that order.
std::string SansJson(const pki::SubjectAltNames& sans);

// The issuance record of a certificate the CA signed outside the Authority's batched path (the
// OCSP signer, the named certificates `init` makes): the summary's fields, the DER, and the
// given issuer id, profile name, time and actor. kParse if `der` is not a certificate.
core::Result<store::IssuedCert> IssuedRecordFromDer(std::string_view der, std::string issuer_id,
                                                    std::string profile, core::TimePoint issued_at,
                                                    std::string issued_by);

// The "cert.sign" audit entry of an issuance record: at its issued_at, target its serial,
// details {"profile", "cn", "not_after"} followed by the members of `extra` (a JSON object,
// e.g. {"named": "api"}).
store::AuditInput CertSignAudit(const store::IssuedCert& record, std::string actor,
                                std::string source);
store::AuditInput CertSignAudit(const store::IssuedCert& record, std::string actor,
                                std::string source, const nlohmann::ordered_json& extra);

// The PEM text ("CERTIFICATE") of DER bytes, without parsing them.
std::string CertificatePemFromDer(std::string_view der);

}  // namespace clustertls::authority
