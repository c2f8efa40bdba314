#include "pki/chain.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace clustertls::pki {

namespace {

bool IsSelfSigned(const Certificate& cert) { return cert.IsSelfIssued() && cert.IsSignedBy(cert); }

// The longest issuer path from `node` through `issuers` (each certificate at most once),
// preferring one that ends in a self-signed certificate. Returns bag indices, `node` first.
std::vector<std::size_t> BestPath(std::size_t node,
                                  const std::vector<std::vector<std::size_t>>& issuers,
                                  const std::vector<bool>& self_signed,
                                  std::vector<bool>& on_path) {
  std::vector<std::size_t> best{node};
  bool best_rooted = self_signed[node];
  on_path[node] = true;
  for (std::size_t parent : issuers[node]) {
    if (on_path[parent]) {
      continue;  // A cycle of cross-signatures.
    }
    std::vector<std::size_t> tail = BestPath(parent, issuers, self_signed, on_path);
    bool rooted = self_signed[tail.back()];
    if ((rooted && !best_rooted) || (rooted == best_rooted && tail.size() + 1 > best.size())) {
      best.assign(1, node);
      best.insert(best.end(), tail.begin(), tail.end());
      best_rooted = rooted;
    }
  }
  on_path[node] = false;
  return best;
}

}  // namespace

ChainOrder OrderChain(const std::vector<Certificate>& bag) {
  ChainOrder out;
  if (bag.empty()) {
    out.problems.push_back("no certificates to order");
    return out;
  }

  // Drop exact duplicates first (keep the first copy).
  std::vector<Certificate> certs;
  for (const Certificate& cert : bag) {
    bool seen = false;
    for (const Certificate& kept : certs) {
      seen = seen || kept.Equals(cert);
    }
    if (seen) {
      out.unused.push_back(cert);
      out.problems.push_back("duplicate certificate: " + cert.subject());
    } else {
      certs.push_back(cert);
    }
  }

  // issuers[i]: the certificates of the bag whose name and key issued certs[i] (not itself).
  const std::size_t n = certs.size();
  std::vector<std::vector<std::size_t>> issuers(n);
  std::vector<bool> issued_another(n, false);
  std::vector<bool> self_signed(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    self_signed[i] = IsSelfSigned(certs[i]);
    for (std::size_t j = 0; j < n; ++j) {
      if (i != j && certs[i].IsSignedBy(certs[j])) {
        issuers[i].push_back(j);
        issued_another[j] = true;
      }
    }
  }

  // Leaf candidates issued no other certificate of the bag. End-entity certificates come
  // before CA certificates; among equals, the one with the longest path, then bag order.
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < n; ++i) {
    if (!issued_another[i]) {
      candidates.push_back(i);
    }
  }
  if (candidates.empty()) {
    out.problems.push_back("no leaf: the certificates issue each other in a cycle");
    candidates.push_back(0);
  }
  std::vector<bool> on_path(n, false);
  std::vector<std::size_t> best_path;
  std::size_t leaf = candidates.front();
  bool leaf_is_ca = true;
  for (std::size_t c : candidates) {
    bool is_ca = certs[c].is_ca();
    std::vector<std::size_t> path = BestPath(c, issuers, self_signed, on_path);
    bool better = best_path.empty() || (leaf_is_ca && !is_ca) ||
                  (leaf_is_ca == is_ca && path.size() > best_path.size());
    if (better) {
      leaf = c;
      leaf_is_ca = is_ca;
      best_path = std::move(path);
    }
  }

  std::vector<std::string> other_leaves;
  std::vector<bool> other_leaf(n, false);
  for (std::size_t c : candidates) {
    if (c != leaf && !certs[c].is_ca()) {
      other_leaves.push_back(certs[c].subject());
      other_leaf[c] = true;
    }
  }
  if (!other_leaves.empty()) {
    std::string message = "several leaves: ordered from " + certs[leaf].subject() + "; also";
    for (std::size_t i = 0; i < other_leaves.size(); ++i) {
      message += (i ? ", " : " ") + other_leaves[i];
    }
    out.problems.push_back(std::move(message));
  }

  std::vector<bool> used(n, false);
  for (std::size_t i : best_path) {
    out.ordered.push_back(certs[i]);
    used[i] = true;
  }
  const Certificate& last = out.ordered.back();
  out.ends_in_root = self_signed[best_path.back()];
  if (!out.ends_in_root) {
    out.missing_issuer = last.issuer();
    out.problems.push_back("missing link: no certificate of issuer " + out.missing_issuer +
                           " (issuer of " + last.subject() + ")");
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!used[i]) {
      out.unused.push_back(certs[i]);
      if (other_leaf[i]) {
        continue;  // Reported as one of several leaves.
      }
      out.problems.push_back("certificate not on the path: " + certs[i].subject());
    }
  }
  return out;
}

}  // namespace clustertls::pki
