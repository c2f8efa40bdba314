#include "pki/name_constraints.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

#include "core/encoding.h"
#include "ossl/error.h"
#include "pki/extensions.h"
#include "pki/names.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;

constexpr const char* kEmail = "e-mail";
constexpr const char* kUri = "URI";
constexpr const char* kDirectoryName = "directoryName";

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && core::AsciiLower(a) == core::AsciiLower(b);
}

std::string Bytes(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

// "127.0.0.0/8" for an iPAddress subtree (address then mask); "address/mask" when the mask is
// not a prefix.
std::string IpSubtreeText(const std::string& subtree) {
  const std::size_t half = subtree.size() / 2;
  const int af = half == 4 ? AF_INET : AF_INET6;
  char address[INET6_ADDRSTRLEN] = {};
  char mask[INET6_ADDRSTRLEN] = {};
  if ((half != 4 && half != 16) ||
      inet_ntop(af, subtree.data(), address, sizeof address) == nullptr) {
    return "<" + std::to_string(subtree.size()) + "-byte subtree>";
  }
  int prefix = 0;
  bool contiguous = true;
  for (std::size_t i = half; i < subtree.size(); ++i) {
    for (int bit = 7; bit >= 0; --bit) {
      const bool one = (static_cast<unsigned char>(subtree[i]) >> bit) & 1;
      if (one && !contiguous) {
        inet_ntop(af, subtree.data() + half, mask, sizeof mask);
        return std::string(address) + "/" + mask;
      }
      if (one) {
        ++prefix;
      } else {
        contiguous = false;
      }
    }
  }
  return std::string(address) + "/" + std::to_string(prefix);
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

std::string JoinIp(const std::vector<std::string>& subtrees) {
  std::vector<std::string> text;
  text.reserve(subtrees.size());
  for (const std::string& s : subtrees) {
    text.push_back(IpSubtreeText(s));
  }
  return Join(text);
}

bool Has(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

void AddUnique(std::vector<std::string>& items, const char* item) {
  if (!Has(items, item)) {
    items.emplace_back(item);
  }
}

// What OpenSSL's cn2dnsid (crypto/x509/v3_ncons.c) takes for a host name in a CN: letters,
// digits, '_', '-' and '.', with '-' and '.' inside, no '.' next to a '.' or '-', and at least
// two labels. "10.0.0.1" is one.
bool LooksLikeHostName(std::string_view cn) {
  bool dotted = false;
  for (std::size_t i = 0; i < cn.size(); ++i) {
    const char c = cn[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
      continue;
    }
    const bool inside = i > 0 && i + 1 < cn.size();
    if (inside && c == '-') {
      continue;
    }
    if (inside && c == '.' && cn[i + 1] != '.' && cn[i - 1] != '-' && cn[i + 1] != '-') {
      dotted = true;
      continue;
    }
    return false;
  }
  return dotted;
}

// Adds the subtrees of one list (permitted or excluded) to `ca`.
void ReadSubtrees(const STACK_OF(GENERAL_SUBTREE) * subtrees, std::vector<std::string>& dns,
                  std::vector<std::string>& ip, CaNameConstraints& ca) {
  for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); ++i) {
    const GENERAL_SUBTREE* subtree = sk_GENERAL_SUBTREE_value(subtrees, i);
    const GENERAL_NAME* base = subtree->base;
    const bool min_max = subtree->minimum != nullptr || subtree->maximum != nullptr;
    switch (base->type) {
      case GEN_DNS:
        if (min_max) {
          AddUnique(ca.unchecked, "DNS");
        }
        dns.push_back(Bytes(base->d.dNSName));
        break;
      case GEN_IPADD:
        if (min_max) {
          AddUnique(ca.unchecked, "IP");
        }
        ip.push_back(Bytes(base->d.iPAddress));
        break;
      case GEN_EMAIL:
        AddUnique(ca.unchecked, kEmail);
        break;
      case GEN_URI:
        AddUnique(ca.unchecked, kUri);
        break;
      case GEN_DIRNAME:
        AddUnique(ca.unchecked, kDirectoryName);
        break;
      default:
        break;  // otherName, x400Address, ...: the issuer never writes such names
    }
  }
}

}  // namespace

bool DnsNameInSubtree(std::string_view name, std::string_view subtree) {
  if (subtree.empty()) {
    return true;
  }
  if (name.size() < subtree.size()) {
    return false;
  }
  // Zero or more labels may be added on the left: the name ends with the subtree, after a '.'
  // unless the subtree starts with one.
  std::string_view tail = name.substr(name.size() - subtree.size());
  if (name.size() > subtree.size() && subtree.front() != '.' &&
      name[name.size() - subtree.size() - 1] != '.') {
    return false;
  }
  return EqualsIgnoreCase(tail, subtree);
}

bool IpAddressInSubtree(std::string_view address, std::string_view subtree) {
  if ((address.size() != 4 && address.size() != 16) || subtree.size() != 2 * address.size()) {
    return false;
  }
  const std::string_view base = subtree.substr(0, address.size());
  const std::string_view mask = subtree.substr(address.size());
  for (std::size_t i = 0; i < address.size(); ++i) {
    if ((address[i] & mask[i]) != (base[i] & mask[i])) {
      return false;
    }
  }
  return true;
}

bool WildcardEscapesConstraints(std::string_view base, const std::vector<std::string>& permitted,
                                const std::vector<std::string>& excluded) {
  auto norm = [](std::string_view s) {
    std::string out = core::AsciiLower(s);
    while (!out.empty() && out.front() == '.') {
      out.erase(0, 1);
    }
    while (!out.empty() && out.back() == '.') {
      out.pop_back();
    }
    return out;
  };
  const std::string b = norm(base);
  for (const std::string& e : excluded) {
    std::string ex = norm(e);
    if (DnsNameInSubtree(b, ex)) {
      return true;  // Every name the wildcard matches is excluded.
    }
    // `ex` is `<label>.base`: one name the wildcard matches is excluded.
    if (DnsNameInSubtree(ex, b) && ex.size() > b.size() &&
        ex.substr(0, ex.size() - b.size() - 1).find('.') == std::string::npos) {
      return true;
    }
  }
  if (permitted.empty()) {
    return false;
  }
  return std::none_of(permitted.begin(), permitted.end(),
                      [&](const std::string& p) { return DnsNameInSubtree(b, norm(p)); });
}

core::Result<ChainNameConstraints> ChainNameConstraints::Read(const std::vector<const X509*>& cas) {
  ChainNameConstraints out;
  for (const X509* cert : cas) {
    int critical = 0;
    auto nc = ossl::Own(static_cast<NAME_CONSTRAINTS*>(
        X509_get_ext_d2i(cert, NID_name_constraints, &critical, nullptr)));
    if (!nc) {
      if (critical == -1) {
        continue;  // no nameConstraints
      }
      return ossl::Failure(ErrorCode::kParse,
                           "the nameConstraints of CA \"" +
                               internal::NameToString(X509_get_subject_name(cert)) +
                               "\" cannot be decoded");
    }
    CaNameConstraints ca;
    ca.subject = internal::NameToString(X509_get_subject_name(cert));
    ReadSubtrees(nc->permittedSubtrees, ca.permitted_dns, ca.permitted_ip, ca);
    ReadSubtrees(nc->excludedSubtrees, ca.excluded_dns, ca.excluded_ip, ca);
    out.cas_.push_back(std::move(ca));
  }
  return out;
}

core::Result<void> ChainNameConstraints::Check(const SubjectAltNames& sans,
                                               std::string_view leaf_common_name) const {
  for (const CaNameConstraints& ca : cas_) {
    const std::string of = " the name constraints of \"" + ca.subject + "\"";
    auto outside = [&](const std::string& name, const std::string& why) {
      return Fail(ErrorCode::kInvalidName, name + " is outside" + of + " (" + why + ")");
    };
    auto unchecked = [&](const std::string& name, const std::string& kind) {
      return Fail(ErrorCode::kInvalidName,
                  name + " falls under the " + kind + " subtrees of" + of +
                      ", which clustertls does not evaluate: refused rather than issued unchecked");
    };
    if (Has(ca.unchecked, kDirectoryName)) {
      return Fail(ErrorCode::kInvalidName,
                  "cannot issue under \"" + ca.subject +
                      "\": its name constraints have directoryName subtrees, which clustertls "
                      "does not evaluate");
    }
    // RFC 5280 4.2.1.10: within a permitted subtree of its type (if there are any) and within
    // no excluded one.
    auto check_dns = [&](std::string_view dns, const std::string& label,
                         const std::string& note) -> core::Result<void> {
      if (Has(ca.unchecked, "DNS")) {
        return unchecked(label, "DNS (with minimum/maximum)");
      }
      if (!ca.permitted_dns.empty() &&
          std::none_of(ca.permitted_dns.begin(), ca.permitted_dns.end(),
                       [&](const std::string& p) { return DnsNameInSubtree(dns, p); })) {
        return outside(label, "permitted DNS: " + Join(ca.permitted_dns) + note);
      }
      for (const std::string& e : ca.excluded_dns) {
        if (DnsNameInSubtree(dns, e)) {
          return outside(label, "excluded DNS: " + e + note);
        }
      }
      return {};
    };
    const bool dns_constrained = !ca.permitted_dns.empty() || !ca.excluded_dns.empty();
    if (dns_constrained) {
      for (const std::string& dns : sans.dns) {
        CTLS_RETURN_IF_ERROR(check_dns(dns, "DNS:" + dns, ""));
        if (dns.starts_with("*.") &&
            WildcardEscapesConstraints(std::string_view(dns).substr(2), ca.permitted_dns,
                                       ca.excluded_dns)) {
          std::string subtrees;
          if (!ca.permitted_dns.empty()) {
            subtrees = "permitted DNS: " + Join(ca.permitted_dns);
          }
          if (!ca.excluded_dns.empty()) {
            subtrees += (subtrees.empty() ? "" : "; ") + std::string("excluded DNS: ") +
                        Join(ca.excluded_dns);
          }
          return Fail(ErrorCode::kInvalidName,
                      "DNS:" + dns + " may match names outside" + of + " (" + subtrees + ")");
        }
      }
      // OpenSSL checks the CN of a leaf without DNS SANs as a DNS name when it looks like one.
      if (!leaf_common_name.empty() && sans.dns.empty() && LooksLikeHostName(leaf_common_name)) {
        CTLS_RETURN_IF_ERROR(check_dns(leaf_common_name, "CN " + std::string(leaf_common_name),
                                       "; with no DNS SAN, verifiers check a CN that looks like a "
                                       "host name against the DNS subtrees"));
      }
    }
    if (!ca.permitted_ip.empty() || !ca.excluded_ip.empty()) {
      for (const std::string& ip : sans.ips) {
        const std::string label = "IP:" + ip;
        if (Has(ca.unchecked, "IP")) {
          return unchecked(label, "IP (with minimum/maximum)");
        }
        CTLS_ASSIGN_OR_RETURN(std::string bytes, IpAddressBytes(ip));
        if (!ca.permitted_ip.empty() &&
            std::none_of(ca.permitted_ip.begin(), ca.permitted_ip.end(),
                         [&](const std::string& p) { return IpAddressInSubtree(bytes, p); })) {
          return outside(label, "permitted IP: " + JoinIp(ca.permitted_ip));
        }
        for (const std::string& e : ca.excluded_ip) {
          if (IpAddressInSubtree(bytes, e)) {
            return outside(label, "excluded IP: " + IpSubtreeText(e));
          }
        }
      }
    }
    if (Has(ca.unchecked, kEmail) && !sans.emails.empty()) {
      return unchecked("e-mail:" + sans.emails.front(), kEmail);
    }
    if (Has(ca.unchecked, kUri) && !sans.uris.empty()) {
      return unchecked("URI:" + sans.uris.front(), kUri);
    }
  }
  return {};
}

}  // namespace clustertls::pki
