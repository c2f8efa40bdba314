#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "pki/certificate.h"

namespace clustertls::cli {

// One entry of an `elasticsearch-certutil --in instances.yml` file.
struct Instance {
  std::string name;          // output name: "<name>/<name>.crt", "<name>/<name>.key"
  std::string common_name;   // `cn`, else `name`; canonical DNS name or IP
  pki::SubjectAltNames sans; // canonical `dns` and `ip` values
};

// Parses and validates a whole instances file before anything is issued:
//
//   instances:
//     - name: node1
//       dns: [node1.example.com, node1]   # a string or a list
//       ip: 10.0.0.1                       # a string or a list
//       cn: node1.example.com              # optional, defaults to name
//
// `name` must be a safe file name ([A-Za-z0-9._-], not starting with '.', not "ca"), unique;
// every DNS name and IP is canonicalised (pki/names.h). Unknown fields are refused. Fails with
// kParse (YAML syntax, wrong shape) or kInvalidName / kInvalidArgument, the message naming
// `source`, the instance index and name, and the field, e.g.
// `instances.yml: instances[2] (name "web"): dns[0]: ...`.
core::Result<std::vector<Instance>> ParseInstances(std::string_view yaml, std::string_view source);

// True if `name` can be used as a file/folder name in outputs ([A-Za-z0-9._-], no leading '.').
bool IsSafeFileName(std::string_view name);

}  // namespace clustertls::cli
