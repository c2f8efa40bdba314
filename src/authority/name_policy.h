#pragma once

// Which names a certificate signed through the API may carry (POST /v1/ca/sign), as step-ca's
// x509 name policies and Vault's role `allowed_domains` decide it:
// - the cluster's own names (its FQDN and the `*.`/`internal.` forms, the listen and public
//   addresses, localhost, 127.0.0.1, ::1) are reserved for the named certificates, so that no one
//   below admin can obtain a certificate that presents itself as the control plane;
// - a user and a token may each carry a name policy: allowed and denied DNS suffixes, IP ranges
//   and URI prefixes. A request must satisfy both the user's and the token's.
//
// Names are compared in their canonical form (pki::CanonicalSans: lower case, A-labels,
// canonical IP text), the certificate's CN included (the issuer always adds it to the SANs).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "pki/certificate.h"
#include "pki/names.h"

namespace clustertls::authority {

// A DNS entry of a policy: "db.example.com" covers that name and every name under it;
// "*.db.example.com" (or ".db.example.com") covers only the names under it.
struct DnsSuffix {
  std::string base;  // canonical, no wildcard
  bool subdomains_only = false;
  std::string text;  // as shown: "db.example.com" or "*.db.example.com"
  bool operator==(const DnsSuffix& o) const { return text == o.text; }
};

// A name policy. With any `allowed_*` list set it is an allow-list: every name must match an
// allowed entry of its own type (a type without allowed entries allows none of its names, and
// e-mail names are then refused). Denied entries always win. An empty policy allows everything.
struct NamePolicy {
  std::vector<DnsSuffix> allowed_dns{};
  std::vector<DnsSuffix> denied_dns{};
  std::vector<pki::IpNetwork> allowed_ips{};  // CIDR; a bare address is a /32 or /128
  std::vector<pki::IpNetwork> denied_ips{};
  std::vector<std::string> allowed_uris{};  // prefixes of the canonical URI
  std::vector<std::string> denied_uris{};

  bool empty() const;
  bool has_allow_list() const;
  bool operator==(const NamePolicy& o) const;
};

// Entries per list at most, and characters per entry.
inline constexpr std::size_t kMaxPolicyEntries = 100;
inline constexpr std::size_t kMaxPolicyEntryLength = 1024;

// Parses a policy from its JSON text: an object with the optional arrays of strings
// "allowed_dns", "denied_dns", "allowed_ips", "denied_ips", "allowed_uris", "denied_uris".
// Entries are canonicalised (DNS names as pki::CanonicalDnsName, IPs as pki::ParseCidr, URIs as
// pki::CanonicalUri). "" and "null" give an empty policy. kInvalidArgument naming
// `where` + the field and entry (unknown field, not an array, bad entry, too many entries).
core::Result<NamePolicy> ParseNamePolicy(std::string_view json_text, std::string_view where);

// The canonical JSON text of a policy (only the non-empty lists, in the order above); "" for an
// empty policy, which is how the store keeps "no policy".
std::string NamePolicyToJson(const NamePolicy& policy);

// One line for people: "allowed DNS: db.example.com; denied IP: 10.9.0.0/16" ("none" if empty).
std::string DescribeNamePolicy(const NamePolicy& policy);

// The identity of the cluster's control plane: a URI SAN that the `api` certificate `init` and
// renew make carries (a UUID URN, RFC 4122, fixed for every cluster: the pinned CA tells clusters
// apart). POST /v1/ca/sign never issues it (a reserved name), so an API client that finds it in a
// certificate chaining to the pinned CA knows it talks to the control plane, not to another
// holder of a certificate from the same CA. A SAN rather than a private key purpose: GnuTLS
// refuses extendedKeyUsage OIDs with arcs over 64 bits, such as a 2.25 UUID OID.
inline constexpr std::string_view kControlPlaneUri =
    "urn:uuid:6449b34e-5fdd-4eb6-b921-3d6c90300bed";

// The names reserved for the cluster's own certificates (canonical forms).
struct ReservedNames {
  std::vector<std::string> dns{};  // exact names; "*.x" entries are reserved wildcards
  std::vector<std::string> ips{};
  std::vector<std::string> uris{};  // exact
};

// The reserved names of a cluster: `fqdn`, `*.fqdn`, `internal.fqdn`, `*.internal.fqdn` (Redis'
// layout, as `init` writes them into the named certificates), each of `hosts` (the listen and
// public addresses' hosts: a DNS name or an IP; unspecified addresses such as 0.0.0.0 and empty
// strings are skipped), `localhost`, `127.0.0.1`, `::1` and the URI kControlPlaneUri. Names that
// do not canonicalise are skipped.
ReservedNames ClusterReservedNames(std::string_view fqdn, const std::vector<std::string>& hosts);

// A policy and whose it is, for the message ("user \"op\"", "token abc").
struct OwnedPolicy {
  std::string owner;
  NamePolicy policy;
};

// What CheckRequestedNames checks against.
struct NameCheck {
  const ReservedNames* reserved = nullptr;  // nullptr: nothing reserved
  bool allow_reserved = false;              // an admin asked for reserved names explicitly
  std::vector<OwnedPolicy> policies{};
};

// Checks the canonical names of a certificate about to be signed. A requested wildcard "*.w"
// counts as every name "<label>.w": it is refused if one of them is reserved or denied, and
// allowed only if all of them are allowed. Fails with kPermissionDenied listing every refused
// name with its reason in one line.
core::Result<void> CheckRequestedNames(const pki::SubjectAltNames& names, const NameCheck& check);

}  // namespace clustertls::authority
