#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "pki/certificate.h"
#include "pki/csr.h"

namespace clustertls::cli {

// One entry of an `elasticsearch-certutil cert --in instances.yml` file, with certutil's meaning
// of each field (its CertificateTool parses name, filename, ip, dns and cn).
struct Instance {
  std::string name;                         // as written: a host name or a distinguished name
  std::string filename;                     // `filename`, else `name`: "<filename>/<filename>.crt"
  pki::SubjectAttributes subject_extra;     // a DN name's attributes other than CN, X.500 order
  std::string common_name;                  // canonical DNS name or IP: `name`, or the DN's CN
  pki::SubjectAltNames sans;                // canonical `dns` and `ip` values
  std::vector<std::string> other_name_cns;  // `cn`: otherName SANs (id-at-commonName)
};

// Parses and validates a whole instances file before anything is issued:
//
//   instances:
//     - name: node1                        # the subject: CN=node1
//       dns: [node1.example.com, node1]    # a string or a list
//       ip: 10.0.0.1                       # a string or a list
//     - name: "CN=node5,OU=IT,DC=mydomain,DC=com"  # a full subject DN (RFC 4514 string)
//       filename: node5                    # file and folder names (default: name)
//       cn: [node5]                        # otherName SANs, as certutil writes them
//
// `name` is required; containing '=' it is a distinguished name, which must start with its one
// CN (the issuer puts the CN last in the subject) and may hold C, ST, L, O, OU and DC (the
// attributes clustertls keeps: pki::CanonicalSubjectAttributes); no multi-valued RDNs ('+') or
// '#' hex values. The CN must be a
// valid host name or IP: the issuer adds it to the SANs. `filename` (or `name` without one) must
// be a safe file name (IsSafeFileName), not "ca", and unique. Every DNS name and IP is
// canonicalised (pki/names.h), every `cn` checked by pki::CheckOtherNameCommonName. Unknown
// fields are refused. Fails with kParse (YAML syntax, wrong shape) or kInvalidName /
// kInvalidArgument, the message naming `source`, the instance index and name, and the field,
// e.g. `instances.yml: instances[2] (name "web"): dns[0]: ...`.
core::Result<std::vector<Instance>> ParseInstances(std::string_view yaml, std::string_view source);

// True if `name` can be used as a file/folder name in outputs ([A-Za-z0-9._-], no leading '.',
// at most 200 characters): never a path ('/'), "." or "..", and no NUL.
bool IsSafeFileName(std::string_view name);

}  // namespace clustertls::cli
