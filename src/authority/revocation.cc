#include "authority/revocation.h"

#include <cctype>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "authority/secrets.h"
#include "core/encoding.h"
#include "pki/crl_builder.h"
#include "pki/issuer.h"
#include "pki/names.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;

void Log(const std::string& line) { std::cerr << "clustertls: " + line + "\n" << std::flush; }

// The serial as the store records it (pki::SerialHex: upper-case, even length, no leading zero
// byte): "0a:1b", "a1b", "000A1B" all become "0A1B". kInvalidArgument naming the input.
core::Result<std::string> CanonicalSerial(const std::string& serial_hex) {
  const std::string shown = pki::QuoteName(serial_hex.substr(0, 80));
  std::string digits;
  digits.reserve(serial_hex.size());
  for (char c : serial_hex) {
    if (c == ':') {
      continue;  // "0A:1B", as some tools print serials
    }
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "serial " + shown + ": must be hex digits, as openssl x509 -serial prints it");
    }
    digits.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (digits.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "serial: must not be empty");
  }
  std::size_t first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? "" : digits.substr(first);
  if (digits.size() > 40) {  // RFC 5280 section 4.1.2.2: at most 20 octets
    return Fail(ErrorCode::kInvalidArgument,
                "serial " + shown + ": longer than 20 octets (RFC 5280 4.1.2.2)");
  }
  if (digits.empty()) {
    return std::string("00");
  }
  if (digits.size() % 2 != 0) {
    digits.insert(digits.begin(), '0');
  }
  return digits;
}

}  // namespace

core::Result<std::string> CanonicalRevocationReason(const std::string& reason) {
  if (reason.empty()) {
    return std::string(pki::RevocationReasonName(pki::RevocationReason::kUnspecified));
  }
  auto parsed = pki::ParseRevocationReason(reason);
  if (!parsed) {
    return parsed.error().WithContext("reason");
  }
  if (*parsed == pki::RevocationReason::kRemoveFromCrl) {
    // Listed in a full CRL it would un-revoke the certificate for every CRL client.
    return Fail(ErrorCode::kInvalidArgument,
                "reason: removeFromCRL is only used in delta CRLs (RFC 5280 5.3.1); "
                "it cannot revoke a certificate");
  }
  return std::string(pki::RevocationReasonName(*parsed));
}

namespace {

// What a selector's `san` must equal: "DNS:<canonical name>" or "IP:<canonical address>" (or a
// URI:/email: entry, compared as given). Lower-cased for a case-insensitive comparison.
struct SanTarget {
  std::string entry;  // e.g. "dns:node1.example.com"
  std::string value;  // the part after the type, for the store's substring pre-filter
};

core::Result<SanTarget> ParseSanSelector(const std::string& san) {
  const std::string shown = pki::QuoteName(san.substr(0, 300));
  auto fail = [&](const core::Error& e) {
    return Fail(ErrorCode::kInvalidArgument, "san " + shown + ": " + e.message);
  };
  const std::size_t colon = san.find(':');
  const std::string type = colon == std::string::npos ? "" : core::AsciiLower(san.substr(0, colon));
  const std::string rest = colon == std::string::npos ? san : san.substr(colon + 1);
  if (type == "ip" || (type != "dns" && pki::IsIpAddress(san))) {
    auto ip = pki::CanonicalIp(type == "ip" ? rest : san);
    if (!ip) {
      return fail(ip.error());
    }
    return SanTarget{.entry = "ip:" + core::AsciiLower(*ip), .value = *ip};
  }
  if (type == "uri" || type == "email") {
    if (rest.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "san " + shown + ": empty value");
    }
    return SanTarget{.entry = core::AsciiLower(san), .value = rest};
  }
  auto dns = pki::CanonicalDnsName(type == "dns" ? rest : san);
  if (!dns) {
    return fail(dns.error());
  }
  return SanTarget{.entry = "dns:" + *dns, .value = *dns};
}

// True if the SANs JSON array of a record holds `target` (case-insensitive).
bool HasSan(const std::string& sans_json, const SanTarget& target) {
  nlohmann::json sans = nlohmann::json::parse(sans_json, nullptr, /*allow_exceptions=*/false);
  if (!sans.is_array()) {
    return false;
  }
  for (const auto& s : sans) {
    if (s.is_string() && core::AsciiLower(s.get<std::string>()) == target.entry) {
      return true;
    }
  }
  return false;
}

}  // namespace

struct Revocation::Impl {
  Impl(const ClusterCa& c, const RevocationOptions& o)
      : ca(c),
        options(o),
        issuing_serial(ca.issuing.certificate().serial_hex()),
        root_serial(ca.root.serial_hex()) {}

  ClusterCa ca;
  RevocationOptions options;
  std::string issuing_serial;
  std::string root_serial;

  // Checks the serial and reason and finds the record of this CA.
  core::Result<store::IssuedCert> Lookup(const std::string& serial) const;
  // Records the revocation of `record` with its audit entry (one transaction).
  core::Result<RevokeOutcome> Commit(const store::IssuedCert& record, const std::string& reason,
                                     const RevokeBy& by) const;
  // The "cert.revoke" audit entry of revoking `record` at `now`.
  static store::AuditInput RevokeAudit(const store::IssuedCert& record, const std::string& reason,
                                       const RevokeBy& by, core::TimePoint now);
  // After revocations: a new CRL (a failure is logged; the revocation stands and the
  // publisher's Refresh() retries) and an empty OCSP cache.
  void Publish(const std::string& what) const;
  // The serials a selector never picks, with their names: the cluster's own certificates in use
  // (the current version of every named certificate). The OCSP signer is skipped by its profile.
  core::Result<std::map<std::string, std::string>> ClusterOwnSerials() const;
};

core::Result<std::map<std::string, std::string>> Revocation::Impl::ClusterOwnSerials() const {
  CTLS_ASSIGN_OR_RETURN(std::vector<NamedLeaf> named, ListNamedLeaves(*options.store));
  std::map<std::string, std::string> serials;
  for (const NamedLeaf& n : named) {
    serials.emplace(n.leaf.serial_hex(), n.name);
  }
  return serials;
}

core::Result<store::IssuedCert> Revocation::Impl::Lookup(const std::string& serial) const {
  if (serial == issuing_serial) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "serial " + serial +
            " is the issuing CA's own certificate; this endpoint revokes leaf certificates");
  }
  if (serial == root_serial) {
    return Fail(ErrorCode::kInvalidArgument,
                "serial " + serial +
                    " is the root CA's own certificate; this endpoint revokes leaf certificates");
  }
  auto record = options.store->GetIssued(serial);
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound,
                  "no certificate with serial " + serial + " was issued by this cluster's CA");
    }
    return record.error();
  }
  if (record->issuer_id != ca.issuer_id) {
    return Fail(ErrorCode::kInvalidArgument,
                "serial " + serial + " was issued by CA '" + record->issuer_id +
                    "', not by this cluster's issuing CA '" + ca.issuer_id + "'");
  }
  return record;
}

store::AuditInput Revocation::Impl::RevokeAudit(const store::IssuedCert& record,
                                                const std::string& reason, const RevokeBy& by,
                                                core::TimePoint now) {
  nlohmann::ordered_json details = {{"reason", reason}, {"subject_cn", record.subject_cn}};
  return store::AuditInput{.time = now,
                           .actor = by.actor,
                           .action = "cert.revoke",
                           .target = record.serial_hex,
                           .source = by.source,
                           .details_json = details.dump()};
}

core::Result<RevokeOutcome> Revocation::Impl::Commit(const store::IssuedCert& record,
                                                     const std::string& reason,
                                                     const RevokeBy& by) const {
  const core::TimePoint now = options.clock->Now();
  const store::AuditInput audit = RevokeAudit(record, reason, by, now);
  auto revoked = options.store->RevokeAudited(record.serial_hex, now, reason, audit, AuditHash);
  if (!revoked) {
    if (revoked.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, "no certificate with serial " + record.serial_hex +
                                            " was issued by this cluster's CA");
    }
    return revoked.error().WithContext("revoking " + record.serial_hex);
  }
  return RevokeOutcome{.cert = std::move(revoked->cert), .newly_revoked = revoked->newly_revoked};
}

void Revocation::Impl::Publish(const std::string& what) const {
  if (options.crl != nullptr) {
    auto crl = options.crl->Regenerate();
    if (!crl) {
      Log("CRL regeneration after revoking " + what + " failed (the revocation stands; the " +
          "next refresh retries): " + crl.error().message);
    }
  }
  if (options.ocsp != nullptr) {
    options.ocsp->Invalidate();
  }
}

core::Result<std::unique_ptr<Revocation>> Revocation::Create(const ClusterCa& ca,
                                                             const RevocationOptions& options) {
  if (options.store == nullptr || options.clock == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "revocation: store and clock are required");
  }
  if (options.max_selected == 0) {
    return Fail(ErrorCode::kInvalidArgument, "revocation: max_selected must be at least 1");
  }
  return std::unique_ptr<Revocation>(new Revocation(std::make_unique<Impl>(ca, options)));
}

Revocation::Revocation(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Revocation::~Revocation() = default;

core::Result<RevokeOutcome> Revocation::Revoke(const std::string& serial_hex,
                                               const std::string& reason, const RevokeBy& by) {
  CTLS_ASSIGN_OR_RETURN(std::string serial, CanonicalSerial(serial_hex));
  CTLS_ASSIGN_OR_RETURN(std::string reason_name, CanonicalRevocationReason(reason));
  CTLS_ASSIGN_OR_RETURN(store::IssuedCert record, impl_->Lookup(serial));
  CTLS_ASSIGN_OR_RETURN(RevokeOutcome outcome, impl_->Commit(record, reason_name, by));
  if (outcome.newly_revoked) {
    impl_->Publish(serial);
  }
  // Only to warn the caller: the revocation stands whether or not this lookup works.
  if (auto own = impl_->ClusterOwnSerials(); own) {
    if (auto it = own->find(outcome.cert.serial_hex); it != own->end()) {
      outcome.named = it->second;
    }
  }
  return outcome;
}

core::Result<std::vector<store::IssuedCert>> Revocation::Select(
    const RevocationSelector& selector) {
  if (selector.name.empty() && selector.san.empty() && !selector.issued_before) {
    return Fail(ErrorCode::kInvalidArgument,
                "selector: give at least one of name, san, issued_before");
  }
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string&>{"name", selector.name}, {"san", selector.san}}) {
    if (value.size() > kMaxSelectorLength) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(field) + ": " + std::to_string(value.size()) +
                      " characters; at most " + std::to_string(kMaxSelectorLength));
    }
  }
  std::optional<SanTarget> san;
  if (!selector.san.empty()) {
    CTLS_ASSIGN_OR_RETURN(san, ParseSanSelector(selector.san));
  }
  const std::string name = core::AsciiLower(selector.name);
  // The store narrows by substring (CN or SANs JSON); the exact match is decided here.
  store::CertFilter filter{.name_contains = !selector.name.empty() ? selector.name
                                            : san                  ? san->value
                                                                   : std::string(),
                           .issuer_id = impl_->ca.issuer_id,
                           .issued_before = selector.issued_before,
                           .revoked = false};
  CTLS_ASSIGN_OR_RETURN(const auto own, impl_->ClusterOwnSerials());
  const core::TimePoint now = impl_->options.clock->Now();
  const std::size_t max = impl_->options.max_selected;
  std::vector<store::IssuedCert> selected;
  std::size_t matched = 0;
  store::PageRequest page{.limit = 1000};
  while (true) {
    CTLS_ASSIGN_OR_RETURN(store::CertPage p, impl_->options.store->ListIssued(filter, page));
    for (store::IssuedCert& c : p.certs) {
      if (c.not_after < now) {
        continue;  // expired: nothing left to revoke
      }
      if (c.profile == pki::ProfileName(pki::Profile::kOcspSigner) ||
          c.profile == pki::ProfileName(pki::Profile::kAuditSigner) || own.contains(c.serial_hex)) {
        continue;  // the cluster's own: revoked by serial only, never by a broad selector
      }
      if (!selector.name.empty() && core::AsciiLower(c.subject_cn) != name) {
        continue;
      }
      if (san && !HasSan(c.sans_json, *san)) {
        continue;
      }
      ++matched;
      if (selected.size() < max) {
        selected.push_back(std::move(c));
      }
    }
    if (p.next_cursor.empty()) {
      break;
    }
    page.cursor = std::move(p.next_cursor);
  }
  if (matched > max) {
    return Fail(ErrorCode::kInvalidArgument,
                "selector: matches " + std::to_string(matched) + " certificates, more than the " +
                    std::to_string(max) + " one request may revoke; narrow it");
  }
  return selected;
}

core::Result<std::vector<RevokeOutcome>> Revocation::RevokeSelected(
    const RevocationSelector& selector, const std::string& reason, const RevokeBy& by) {
  CTLS_ASSIGN_OR_RETURN(std::string reason_name, CanonicalRevocationReason(reason));
  CTLS_ASSIGN_OR_RETURN(std::vector<store::IssuedCert> selected, Select(selector));
  if (selected.empty()) {
    return std::vector<RevokeOutcome>();
  }
  const core::TimePoint now = impl_->options.clock->Now();
  std::vector<std::string> serials;
  std::vector<store::AuditInput> audits;
  serials.reserve(selected.size());
  audits.reserve(selected.size());
  for (const store::IssuedCert& record : selected) {
    serials.push_back(record.serial_hex);
    audits.push_back(impl_->RevokeAudit(record, reason_name, by, now));
  }
  auto revoked =
      impl_->options.store->RevokeAuditedBatch(serials, now, reason_name, audits, AuditHash);
  if (!revoked) {
    return revoked.error().WithContext("revoking the " + std::to_string(selected.size()) +
                                       " selected certificates failed; none was revoked");
  }
  std::vector<RevokeOutcome> outcomes;
  outcomes.reserve(revoked->size());
  std::size_t newly = 0;
  for (store::RevokeResult& r : *revoked) {
    newly += r.newly_revoked ? 1 : 0;
    outcomes.push_back(RevokeOutcome{.cert = std::move(r.cert), .newly_revoked = r.newly_revoked});
  }
  if (newly > 0) {
    impl_->Publish(std::to_string(newly) + " selected certificates");
  }
  return outcomes;
}

core::Result<void> Revocation::Refresh() {
  core::Result<void> result;
  if (impl_->options.crl != nullptr) {
    auto refreshed = impl_->options.crl->Refresh();
    if (!refreshed) {
      result = refreshed.error();
    }
  }
  if (impl_->options.ocsp != nullptr) {
    auto refreshed = impl_->options.ocsp->Refresh();
    if (!refreshed && result) {
      result = refreshed.error();
    }
  }
  return result;
}

}  // namespace clustertls::authority
