#include "pki/verify_checks.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "core/encoding.h"
#include "pki/name_constraints.h"

namespace clustertls::pki::verify_checks {

namespace {

void Add(std::vector<VerifyProblem>& problems, std::string code, int depth, std::string message) {
  problems.push_back(
      VerifyProblem{.code = std::move(code), .message = std::move(message), .depth = depth});
}

std::string Subject(const X509* cert) {
  char buf[512];
  if (X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf) == nullptr) {
    return "?";
  }
  return buf;
}

std::string_view AsView(const ASN1_STRING* s) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
          static_cast<std::size_t>(ASN1_STRING_length(s))};
}

// A label of RFC 1034's preferred name syntax (letters, digits, hyphen; 1-63 octets; no hyphen
// at either end).
bool IsLdhLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::vector<std::string_view> Labels(std::string_view name) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = name.find('.', start);
    out.push_back(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) {
      return out;
    }
    start = dot + 1;
  }
}

bool IsValidDomain(std::string_view name, std::size_t min_labels) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  auto labels = Labels(name);
  return labels.size() >= min_labels && std::all_of(labels.begin(), labels.end(), IsLdhLabel);
}

// A dNSName name constraint: a domain (any number of labels), no wildcard, no leading period
// (RFC 5280 section 4.2.1.10 writes DNS subtrees as "host.example.com").
bool IsValidDnsConstraint(std::string_view name) { return name.empty() || IsValidDomain(name, 1); }

// Canonical text of an iPAddress SAN (4 or 16 octets), as inet_ntop prints it (RFC 5952 for
// IPv6); "" if the length is wrong.
std::string IpText(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  int len = ASN1_STRING_length(ip);
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  if (len == 4 && inet_ntop(AF_INET, data, buf, sizeof buf) != nullptr) {
    return buf;
  }
  if (len == 16 && inet_ntop(AF_INET6, data, buf, sizeof buf) != nullptr) {
    return buf;
  }
  return {};
}

bool HasExtension(const X509* cert, int nid) { return X509_get_ext_by_NID(cert, nid, -1) >= 0; }

// Criticality of the first extension `nid` of `cert`, or nullopt if absent.
std::optional<bool> ExtensionCritical(const X509* cert, int nid) {
  int idx = X509_get_ext_by_NID(cert, nid, -1);
  if (idx < 0) {
    return std::nullopt;
  }
  return X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

bool IsSelfIssued(const X509* cert) {
  return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;
}

// RFC 5280 section 4.1.2.2 (serial) and CA/B Forum BR 6.1.5 / 6.1.6 (keys) for one certificate.
void CheckKey(X509* cert, int depth, std::vector<VerifyProblem>& problems) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) {
    Add(problems, "weak_key", depth, "public key cannot be decoded (" + Subject(cert) + ")");
    return;
  }
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: {
      int bits = EVP_PKEY_get_bits(key);
      if (bits < 2048 || bits % 8 != 0) {
        Add(problems, "weak_key", depth,
            "RSA key of " + std::to_string(bits) +
                " bits (at least 2048 and a multiple of 8 required) (" + Subject(cert) + ")");
      }
      return;
    }
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1) {
        ERR_clear_error();
        Add(problems, "weak_key", depth,
            "EC key with explicit curve parameters (" + Subject(cert) + ")");
        return;
      }
      std::string_view g(group, len);
      if (g != "prime256v1" && g != "secp384r1" && g != "secp521r1") {
        Add(problems, "weak_key", depth,
            "EC key on unsupported curve " + std::string(g) + " (" + Subject(cert) + ")");
      }
      return;
    }
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
      return;
    default:
      Add(problems, "weak_key", depth,
          std::string("unsupported public key type ") + EVP_PKEY_get0_type_name(key) + " (" +
              Subject(cert) + ")");
  }
}

// RFC 5280 section 4.2.1.1 and CA/B Forum BR 7.1.2.1.3: a certificate issued by another one
// carries an AKI with a key identifier (a trust anchor is exempt: it is trusted as configured,
// RFC 5280 section 6.1.1 (d)); a self-issued root may carry one, but only a key identifier, equal
// to its own SKI.
void CheckAuthorityKeyId(X509* cert, int depth, bool is_anchor,
                         std::vector<VerifyProblem>& problems) {
  int crit = 0;
  auto* akid = static_cast<AUTHORITY_KEYID*>(
      X509_get_ext_d2i(cert, NID_authority_key_identifier, &crit, nullptr));
  ossl::Ptr<AUTHORITY_KEYID> owned(akid);
  bool self_issued = IsSelfIssued(cert);
  if (akid == nullptr) {
    if (crit >= 0) {
      Add(problems, "malformed_extension", depth,
          "malformed authorityKeyIdentifier (" + Subject(cert) + ")");
    } else if (!self_issued && !is_anchor) {
      Add(problems, "missing_aki", depth,
          "certificate issued by another lacks an authorityKeyIdentifier (RFC 5280 4.2.1.1) (" +
              Subject(cert) + ")");
    }
    return;
  }
  if (akid->keyid == nullptr) {
    Add(problems, "invalid_aki", depth,
        "authorityKeyIdentifier without keyIdentifier (" + Subject(cert) + ")");
    return;
  }
  if (self_issued && is_anchor) {
    if (akid->issuer != nullptr || akid->serial != nullptr) {
      Add(problems, "invalid_aki", depth,
          "root's authorityKeyIdentifier names an issuer or serial (" + Subject(cert) + ")");
    }
    const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(cert);
    if (skid != nullptr && ASN1_OCTET_STRING_cmp(skid, akid->keyid) != 0) {
      Add(problems, "invalid_aki", depth,
          "root's authorityKeyIdentifier differs from its "
          "subjectKeyIdentifier (" +
              Subject(cert) + ")");
    }
  }
}

// Extensions whose content OpenSSL does not validate while verifying.
void CheckExtensionSyntax(X509* cert, int depth, std::vector<VerifyProblem>& problems) {
  int crit = 0;
  auto aia = ossl::Own(
      static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(cert, NID_info_access, &crit, nullptr)));
  if (crit >= 0 && (!aia || sk_ACCESS_DESCRIPTION_num(aia.get()) == 0)) {
    // RFC 5280 section 4.2.2.1: one or more AccessDescriptions.
    Add(problems, "malformed_extension", depth,
        "malformed authorityInfoAccess (" + Subject(cert) + ")");
  }
  crit = 0;
  auto crldp = ossl::Own(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, &crit, nullptr)));
  if (crit >= 0 && (!crldp || sk_DIST_POINT_num(crldp.get()) == 0)) {
    Add(problems, "malformed_extension", depth,
        "malformed cRLDistributionPoints (" + Subject(cert) + ")");
  }
  if (auto pc = ExtensionCritical(cert, NID_policy_constraints); pc && !*pc) {
    // RFC 5280 section 4.2.1.11: conforming CAs MUST mark this extension as critical.
    Add(problems, "invalid_extension", depth,
        "policyConstraints not marked critical (" + Subject(cert) + ")");
  }
  ERR_clear_error();
}

struct DnsConstraints {
  std::vector<std::string> permitted;
  std::vector<std::string> excluded;
};

// RFC 5280 section 4.2.1.10 for a CA certificate's nameConstraints: not empty, DNS subtrees
// well formed. Collects the DNS subtrees into `out`.
void CheckNameConstraints(X509* cert, int depth, DnsConstraints& out,
                          std::vector<VerifyProblem>& problems) {
  int crit = 0;
  auto nc = ossl::Own(
      static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(cert, NID_name_constraints, &crit, nullptr)));
  if (crit < 0) {
    return;
  }
  if (!nc) {
    Add(problems, "name_constraints", depth, "malformed nameConstraints (" + Subject(cert) + ")");
    return;
  }
  if (sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) <= 0 &&
      sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) <= 0) {
    Add(problems, "name_constraints", depth,
        "nameConstraints with neither permitted nor excluded subtrees (" + Subject(cert) + ")");
  }
  auto collect = [&](STACK_OF(GENERAL_SUBTREE) * subtrees, std::vector<std::string> & into) {
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); ++i) {
      const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(subtrees, i)->base;
      if (base->type != GEN_DNS) {
        continue;
      }
      std::string_view name = AsView(base->d.dNSName);
      if (!IsValidDnsConstraint(name)) {
        Add(problems, "name_constraints", depth,
            "invalid DNS name constraint '" + std::string(name) + "' (" + Subject(cert) + ")");
      }
      into.emplace_back(name);
    }
  };
  collect(nc->permittedSubtrees, out.permitted);
  collect(nc->excludedSubtrees, out.excluded);
}

// CA/B Forum BR 7.1.4.3 for a server certificate's commonNames, as far as RFC 5280 (which ties
// the CN to nothing) lets us: a CN that denotes an IP address is written in canonical form and is
// one of the SAN addresses; a CN that names one of the SAN DNS names differently (letter case,
// U-label instead of A-label) is refused, since it must be a character-for-character copy.
// `names` holds the DNS SANs as written and the IP SANs in canonical text.
void CheckCommonNames(X509* leaf, const std::vector<std::string>& names,
                      std::vector<VerifyProblem>& problems) {
  const std::string who = " (" + Subject(leaf) + ")";
  const X509_NAME* subject = X509_get_subject_name(leaf);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, cn);
    if (len < 0) {
      ERR_clear_error();
      Add(problems, "cn_not_in_san", 0, "commonName cannot be decoded" + who);
      continue;
    }
    std::string text(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    if (std::find(names.begin(), names.end(), text) != names.end()) {
      continue;
    }
    std::string canonical_ip;
    unsigned char addr[16];
    char buf[INET6_ADDRSTRLEN] = {};
    in_addr v4{};
    if (inet_pton(AF_INET6, text.c_str(), addr) == 1 &&
        inet_ntop(AF_INET6, addr, buf, sizeof buf) != nullptr) {
      canonical_ip = buf;
    } else if (inet_aton(text.c_str(), &v4) != 0 &&
               inet_ntop(AF_INET, &v4, buf, sizeof buf) != nullptr) {
      canonical_ip = buf;  // inet_aton also reads hex, octal and short forms.
    }
    if (!canonical_ip.empty()) {
      Add(problems, "cn_not_in_san", 0,
          canonical_ip == text
              ? "commonName IP address " + text + " is not among the SAN addresses" + who
              : "commonName '" + text + "' is not an IP address in canonical form (" +
                    canonical_ip + ")" + who);
      continue;
    }
    bool non_ascii = std::any_of(text.begin(), text.end(),
                                 [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    bool other_case = std::any_of(names.begin(), names.end(), [&](const std::string& n) {
      return core::AsciiLower(n) == core::AsciiLower(text);
    });
    if (other_case || (non_ascii && text.find('.') != std::string::npos)) {
      Add(problems, "cn_not_in_san", 0,
          "commonName '" + text + "' is not a character-for-character copy of a DNS SAN" + who);
    }
  }
}

// CA/B Forum BR 7.1.2.7 for the end-entity certificate: not a CA, no name constraints, SAN
// well formed and non-critical unless the subject is empty, every CN among the SANs, and an EKU
// (not critical, without anyExtendedKeyUsage) when a purpose is asked.
void CheckLeaf(X509* leaf, const VerifyOptions& options, std::vector<VerifyProblem>& problems,
               std::vector<std::string>& wildcard_bases) {
  const std::string who = " (" + Subject(leaf) + ")";
  uint32_t flags = X509_get_extension_flags(leaf);
  if ((flags & EXFLAG_BCONS) && (flags & EXFLAG_CA)) {
    Add(problems, "ca_as_leaf", 0, "a CA certificate (basicConstraints cA) is not a leaf" + who);
  } else if ((flags & EXFLAG_KUSAGE) && (X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN)) {
    Add(problems, "ca_as_leaf", 0, "a leaf may not have the keyCertSign key usage" + who);
  }
  if (HasExtension(leaf, NID_name_constraints)) {
    Add(problems, "name_constraints", 0,
        "nameConstraints only belong in CA certificates (RFC 5280 4.2.1.10)" + who);
  }

  if (options.purpose != Purpose::kAny) {
    auto eku_critical = ExtensionCritical(leaf, NID_ext_key_usage);
    if (!eku_critical) {
      Add(problems, "purpose", 0, "no extendedKeyUsage in the leaf" + who);
    } else if (*eku_critical) {
      Add(problems, "purpose", 0, "extendedKeyUsage marked critical in the leaf" + who);
    } else if (X509_get_extended_key_usage(leaf) & XKU_ANYEKU) {
      Add(problems, "purpose", 0, "anyExtendedKeyUsage in the leaf" + who);
    }
  }

  const X509_NAME* subject = X509_get_subject_name(leaf);
  bool empty_subject = X509_NAME_entry_count(subject) == 0;
  int crit = 0;
  auto sans = ossl::Own(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, nullptr)));
  ERR_clear_error();
  if (crit < 0) {
    return;  // No SAN: the host/IP checks fail on their own when a name is asked.
  }
  if (!sans) {
    Add(problems, "invalid_san", 0, "malformed subjectAltName" + who);
    return;
  }
  if (crit == 1 && !empty_subject) {
    Add(problems, "invalid_san", 0,
        "subjectAltName is critical although the subject is not empty" + who);
  }
  std::vector<std::string> names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type == GEN_DNS) {
      std::string_view dns = AsView(gn->d.dNSName);
      if (!IsValidDnsSan(dns)) {
        Add(problems, "invalid_san", 0, "invalid DNS name '" + std::string(dns) + "' in SAN" + who);
      } else if (dns.starts_with("*.")) {
        wildcard_bases.push_back(core::AsciiLower(dns.substr(2)));
      }
      names.emplace_back(dns);
    } else if (gn->type == GEN_EMAIL) {
      std::string_view email = AsView(gn->d.rfc822Name);
      if (!IsValidEmailSan(email)) {
        Add(problems, "invalid_san", 0,
            "invalid e-mail address '" + std::string(email) + "' in SAN" + who);
      }
    } else if (gn->type == GEN_IPADD) {
      std::string ip = IpText(gn->d.iPAddress);
      if (ip.empty()) {
        Add(problems, "invalid_san", 0, "IP address of invalid length in SAN" + who);
      } else {
        names.push_back(std::move(ip));
      }
    }
  }
  if (options.purpose != Purpose::kClient) {
    CheckCommonNames(leaf, names, problems);
  }
}

// RFC 5280 section 5.2.3: a CRL carries a non-critical CRL number.
void CheckCrls(std::span<X509* const> path, const std::vector<Crl>& crls,
               std::vector<VerifyProblem>& problems) {
  for (const Crl& crl : crls) {
    X509_CRL* c = crl.get();
    int depth = -1;
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(c), X509_get_issuer_name(path[i])) == 0) {
        depth = static_cast<int>(i);
        break;
      }
    }
    if (depth < 0) {
      continue;  // Not about this path.
    }
    int idx = X509_CRL_get_ext_by_NID(c, NID_crl_number, -1);
    char issuer[512];
    X509_NAME_oneline(X509_CRL_get_issuer(c), issuer, sizeof issuer);
    if (idx < 0) {
      Add(problems, "crl_invalid", depth,
          std::string("CRL without a CRL number (RFC 5280 5.2.3) (issuer ") + issuer + ")");
    } else if (X509_EXTENSION_get_critical(X509_CRL_get_ext(c, idx)) == 1) {
      Add(problems, "crl_invalid", depth,
          std::string("CRL number marked critical (RFC 5280 5.2.3) (issuer ") + issuer + ")");
    }
  }
}

}  // namespace

std::optional<std::string> CheckSerial(const ASN1_INTEGER* serial) {
  if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER) {
    return "negative serial number";
  }
  const unsigned char* data = ASN1_STRING_get0_data(serial);
  int len = ASN1_STRING_length(serial);
  int first = 0;
  while (first < len && data[first] == 0) {
    ++first;
  }
  if (first == len) {
    return "serial number zero";
  }
  int octets = len - first + ((data[first] & 0x80) ? 1 : 0);
  if (octets > 20) {
    return "serial number of " + std::to_string(octets) + " octets (at most 20)";
  }
  return std::nullopt;
}

bool IsValidDnsSan(std::string_view name) {
  if (name.starts_with("*.")) {
    return IsValidDomain(name.substr(2), 2);
  }
  return IsValidDomain(name, 1);
}

bool IsValidEmailSan(std::string_view email) {
  std::size_t at = email.find('@');
  if (at == std::string_view::npos || at == 0 ||
      email.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  std::string_view local = email.substr(0, at);
  bool local_ok =
      std::all_of(local.begin(), local.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  return local_ok && IsValidDomain(email.substr(at + 1), 1);
}

int CountedIntermediates(std::span<X509* const> path, bool anchored) {
  std::size_t end = anchored ? path.size() - 1 : path.size();
  int count = 0;
  for (std::size_t i = 1; i < end; ++i) {
    if (!IsSelfIssued(path[i])) {
      ++count;
    }
  }
  return count;
}

void RunOwnChecks(const ChainView& chain, std::vector<VerifyProblem>& problems) {
  const VerifyOptions& options = chain.options;
  std::span<X509* const> path = chain.path;
  if (path.empty()) {
    return;
  }
  const std::size_t anchor = chain.anchored ? path.size() - 1 : path.size();

  std::vector<std::string> wildcard_bases;
  CheckLeaf(path[0], options, problems, wildcard_bases);

  DnsConstraints constraints;
  for (std::size_t i = 0; i < path.size(); ++i) {
    X509* cert = path[i];
    int depth = static_cast<int>(i);
    if (i == 0 || i < anchor) {
      if (auto why = CheckSerial(X509_get0_serialNumber(cert))) {
        Add(problems, "invalid_serial", depth,
            *why + " (RFC 5280 4.1.2.2) (" + Subject(cert) + ")");
      }
    }
    CheckKey(cert, depth, problems);
    CheckAuthorityKeyId(cert, depth, i == anchor, problems);
    CheckExtensionSyntax(cert, depth, problems);
    if (i > 0) {
      CheckNameConstraints(cert, depth, constraints, problems);
    }
    if (i > 0 && i == anchor && IsSelfIssued(cert) && HasExtension(cert, NID_ext_key_usage)) {
      // CA/B Forum BR 7.1.2.1.2: a root CA certificate has no extendedKeyUsage.
      Add(problems, "purpose", depth, "root carries an extendedKeyUsage (" + Subject(cert) + ")");
    }
  }

  for (const std::string& base : wildcard_bases) {
    if (WildcardEscapesConstraints(base, constraints.permitted, constraints.excluded)) {
      Add(problems, "name_constraints", 0,
          "wildcard '*." + base + "' may match names outside the issuers' name constraints");
    }
  }

  if (options.max_depth) {
    int n = CountedIntermediates(path, chain.anchored);
    if (n > *options.max_depth) {
      Add(problems, "chain_too_long", 0,
          "path has " + std::to_string(n) + " intermediates, more than the maximum of " +
              std::to_string(*options.max_depth));
    }
  }

  for (const std::string& email : options.emails) {
    if (X509_check_email(path[0], email.data(), email.size(),
                         X509_CHECK_FLAG_NEVER_CHECK_SUBJECT) != 1) {
      Add(problems, "email_mismatch", 0,
          "certificate does not cover e-mail address '" + email + "'");
    }
  }

  if (!options.crls.empty()) {
    CheckCrls(path, options.crls, problems);
  }
  ERR_clear_error();
}

}  // namespace clustertls::pki::verify_checks
