#pragma once

// The short-lived certificates the issuing CA makes for the server's own signing duties (the OCSP
// responder, the audit head): a fresh key held only in memory, a certificate recorded with its
// "cert.sign" audit entry like every other one the CA signs, renewed at half its lifetime.

#include <chrono>
#include <string>

#include "authority/cluster.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/issuer.h"
#include "pki/key.h"
#include "store/store.h"

namespace clustertls::authority {

struct DelegatedSignerRequest {
  pki::Profile profile = pki::Profile::kOcspSigner;
  std::string record_profile{};  // the issuance record's profile ("ocsp-signer")
  std::string common_name{};
  std::chrono::seconds validity{};  // cut short to the issuing CA's remaining lifetime
  std::string actor{};              // issued_by and the audit entry's actor
  std::string what{};               // in messages: "OCSP signer"
  std::string certificate_noun{};   // in messages: "a responder certificate"
};

struct DelegatedSigner {
  pki::PrivateKey key;
  pki::Certificate certificate;
  std::string der;  // the certificate's DER
  core::TimePoint not_after{};
  core::TimePoint renew_at{};  // half of its lifetime from `now`
};

// Generates an EC P-256 key, has `ca.issuing` sign its certificate (never outliving the issuing
// CA: kExpired, "<what>: the issuing CA expires on ...; it cannot issue <certificate_noun>", when
// less than a minute is left) and records it with its "cert.sign" entry in one transaction
// before returning it ("<what> certificate SERIAL was not recorded" if that fails).
core::Result<DelegatedSigner> IssueDelegatedSigner(store::Store& store, const ClusterCa& ca,
                                                   const DelegatedSignerRequest& request,
                                                   core::TimePoint now, core::Rng& rng);

}  // namespace clustertls::authority
