#include "pki/verify.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "ossl/error.h"
#include "ossl/ptr.h"
#include "pki/verify_checks.h"

namespace clustertls::pki {

namespace {

// Maps an X509_V_ERR_* code to the stable problem code of VerifyProblem.
const char* StableCode(int err) {
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "not_yet_valid";
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
      return "bad_validity";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
      return "untrusted_root";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return "missing_issuer";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH:
    case X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY:
      return "bad_signature";
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return "hostname_mismatch";
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "ip_mismatch";
    case X509_V_ERR_EMAIL_MISMATCH:
      return "email_mismatch";
    case X509_V_ERR_INVALID_PURPOSE:
      return "purpose";
    case X509_V_ERR_CERT_REVOKED:
      return "revoked";
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
      return "crl_missing";
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return "crl_expired";
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return "crl_not_yet_valid";
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
      return "crl_invalid";
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
      return "not_ca";
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED:
      return "path_length";
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
      return "chain_too_long";
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
      return "name_constraints";
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
      return "weak_key";
    case X509_V_ERR_CA_MD_TOO_WEAK:
      return "weak_signature";
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
      return "unknown_critical_extension";
    case X509_V_ERR_INVALID_POLICY_EXTENSION:
    case X509_V_ERR_NO_EXPLICIT_POLICY:
      return "policy";
    default:
      return "invalid_certificate";
  }
}

// What the verify callback writes into (attached to the X509_STORE_CTX as app data).
struct CallbackState {
  std::vector<VerifyProblem> problems;
  std::time_t at = 0;
  const VerifyOptions* options = nullptr;
};

std::string SubjectLine(const X509* cert) {
  if (cert == nullptr) {
    return {};
  }
  char buf[512];
  if (X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf) == nullptr) {
    return {};
  }
  return buf;
}

// True when `cert`'s only time problem at `at` is OpenSSL's exclusive notAfter: RFC 5280
// section 4.1.2.5 counts notAfter itself as inside the validity period.
bool ExpiresExactlyAt(const X509* cert, std::time_t at) {
  std::time_t before = at - 1;
  return cert != nullptr && X509_cmp_time(X509_get0_notAfter(cert), &before) > 0;
}

// Records every problem OpenSSL reports and tells it to carry on, so that the report lists them
// all instead of stopping at the first.
int RecordProblem(int ok, X509_STORE_CTX* ctx) {
  if (ok == 1) {
    return 1;
  }
  auto* state = static_cast<CallbackState*>(X509_STORE_CTX_get_app_data(ctx));
  int err = X509_STORE_CTX_get_error(ctx);
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  if (err == X509_V_ERR_CERT_HAS_EXPIRED && ExpiresExactlyAt(cert, state->at)) {
    return 1;
  }
  if (err == X509_V_ERR_CA_CERT_MISSING_KEY_USAGE) {
    // RFC 5280 section 6.3.3 (f) only checks a key usage that is present; X509_STRICT's demand
    // for one is an issuance rule (section 4.2.1.3), not a path validation rule.
    return 1;
  }
  int depth = X509_STORE_CTX_get_error_depth(ctx);
  for (const VerifyProblem& p : state->problems) {
    if (p.depth == depth && p.message.starts_with(X509_verify_cert_error_string(err))) {
      return 1;  // OpenSSL may report the same problem twice (e.g. per CRL).
    }
  }
  std::string message = X509_verify_cert_error_string(err);
  if (err == X509_V_ERR_HOSTNAME_MISMATCH && state->options->host) {
    message += ": no DNS SAN covers '" + *state->options->host + "' (no CN fallback)";
  } else if (err == X509_V_ERR_IP_ADDRESS_MISMATCH && state->options->ip) {
    message += ": no IP SAN is " + *state->options->ip;
  }
  std::string subject = SubjectLine(cert);
  if (!subject.empty()) {
    message += " (" + subject + ")";
  }
  state->problems.push_back(
      VerifyProblem{.code = StableCode(err), .message = std::move(message), .depth = depth});
  return 1;
}

VerifyProblem SetupProblem(std::string message) {
  return VerifyProblem{.code = "setup", .message = std::move(message), .depth = 0};
}

// One run of X509_verify_cert plus our checks, with `untrusted` as the intermediates offered.
VerifyReport VerifyAlong(const Certificate& leaf, const VerifyOptions& options,
                         const std::vector<Certificate>& intermediates) {
  VerifyReport report;
  CallbackState state;
  // Seconds since the epoch, without a detour through system_clock's nanoseconds (which would
  // overflow for times past the year 2262).
  state.at = static_cast<std::time_t>(options.at.time_since_epoch().count());
  state.options = &options;

  auto store = ossl::Own(X509_STORE_new());
  auto untrusted = ossl::X509Stack(sk_X509_new_null());
  auto crls = ossl::X509CrlStack(sk_X509_CRL_new_null());
  auto ctx = ossl::Own(X509_STORE_CTX_new());
  if (!store || !untrusted || !crls || !ctx) {
    report.problems.push_back(SetupProblem("out of memory: " + ossl::DrainErrors()));
    return report;
  }
  // With CRLs, revocation is checked for every CA of the path (CRL_CHECK_ALL), so the path must
  // reach the CA that issued each CRL: a trusted intermediate whose issuer is trusted too (a
  // chain file given as --ca) is offered as an intermediate instead. As an anchor it would end
  // the path (PARTIAL_CHAIN), and its own status, in its issuer's CRL, could not be checked
  // ("unable to get certificate CRL"). An intermediate trusted alone still ends the path.
  std::vector<Certificate> offered = intermediates;
  for (const Certificate& anchor : options.anchors) {
    const bool walk_up =
        !options.crls.empty() && !anchor.IsSelfIssued() &&
        std::any_of(options.anchors.begin(), options.anchors.end(), [&](const Certificate& other) {
          return other.get() != anchor.get() && anchor.IsSignedBy(other);
        });
    if (walk_up) {
      offered.push_back(anchor);
      continue;
    }
    if (X509_STORE_add_cert(store.get(), anchor.get()) != 1) {
      ossl::ClearErrors();  // A duplicate anchor is harmless.
    }
  }
  for (const Certificate& cert : offered) {
    if (!sk_X509_push(untrusted.get(), cert.get())) {
      report.problems.push_back(SetupProblem("out of memory"));
      return report;
    }
    X509_up_ref(cert.get());
  }
  for (const Crl& crl : options.crls) {
    if (!sk_X509_CRL_push(crls.get(), crl.get())) {
      report.problems.push_back(SetupProblem("out of memory"));
      return report;
    }
    X509_CRL_up_ref(crl.get());
  }

  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get()) != 1) {
    report.problems.push_back(SetupProblem("cannot start verification: " + ossl::DrainErrors()));
    return report;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  unsigned long flags = X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN;
  if (!options.crls.empty()) {
    X509_STORE_CTX_set0_crls(ctx.get(), crls.get());
    flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
  }
  X509_VERIFY_PARAM_set_flags(param, flags);
  X509_VERIFY_PARAM_set_time(param, state.at);
  X509_VERIFY_PARAM_set_auth_level(param, 2);
  // The depth limit of VerifyOptions counts intermediates the RFC 5280 way (self-issued ones
  // are free); it is applied by our own checks, so OpenSSL only gets a generous bound.
  X509_VERIFY_PARAM_set_depth(param, 64);
  if (options.purpose != Purpose::kAny) {
    int purpose =
        options.purpose == Purpose::kServer ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
    if (X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
      report.problems.push_back(SetupProblem("cannot set purpose: " + ossl::DrainErrors()));
      return report;
    }
  }
  // RFC 6125 section 6.4: SAN only (no CN fallback), wildcard only as a whole left-most label.
  X509_VERIFY_PARAM_set_hostflags(
      param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (options.host &&
      X509_VERIFY_PARAM_set1_host(param, options.host->data(), options.host->size()) != 1) {
    report.problems.push_back(VerifyProblem{
        .code = "hostname_mismatch", .message = "invalid host name '" + *options.host + "'"});
    ossl::ClearErrors();
  }
  if (options.ip && X509_VERIFY_PARAM_set1_ip_asc(param, options.ip->c_str()) != 1) {
    report.problems.push_back(VerifyProblem{.code = "ip_mismatch",
                                            .message = "invalid IP address '" + *options.ip + "'"});
    ossl::ClearErrors();
  }

  X509_STORE_CTX_set_app_data(ctx.get(), &state);
  X509_STORE_CTX_set_verify_cb(ctx.get(), RecordProblem);
  int rc = X509_verify_cert(ctx.get());
  if (rc < 0) {
    state.problems.push_back(VerifyProblem{.code = "invalid_certificate",
                                           .message = "verification failed: " + ossl::DrainErrors(),
                                           .depth = 0});
  }
  ossl::ClearErrors();

  // The path OpenSSL built (leaf first), and whether it ends in one of our anchors.
  std::vector<X509*> path;
  if (STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get())) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* cert = sk_X509_value(chain, i);
      path.push_back(cert);
      X509_up_ref(cert);
      report.path.push_back(Certificate::Adopt(ossl::Own(cert)));
    }
  }
  if (path.empty()) {
    path.push_back(leaf.get());
    report.path.push_back(leaf);
  }
  bool anchored = X509_STORE_CTX_get_num_untrusted(ctx.get()) < static_cast<int>(path.size());

  report.problems.insert(report.problems.end(), state.problems.begin(), state.problems.end());
  verify_checks::RunOwnChecks(
      verify_checks::ChainView{.path = path, .anchored = anchored, .options = options},
      report.problems);
  // Leaf first; within a certificate, in the order found.
  std::stable_sort(
      report.problems.begin(), report.problems.end(),
      [](const VerifyProblem& a, const VerifyProblem& b) { return a.depth < b.depth; });
  ossl::ClearErrors();
  return report;
}

// Bounds on the search for other paths, so that a hostile bag of intermediates (RFC 4158
// section 5 calls them path-building loops and bridges) costs little.
constexpr int kMaxPathLength = 12;
constexpr int kMaxIssuerChecks = 512;
constexpr std::size_t kMaxAlternatives = 16;

// Searches other issuer paths from `leaf` to one of the anchors through `options.untrusted`
// (depth first, each certificate used at most once per path): OpenSSL builds only one path and
// does not backtrack when it fails (for instance on a name constraint of one issuer while
// another issuer of the same name and key would do). Returns the intermediates of each path
// found, leaf side first.
std::vector<std::vector<Certificate>> AlternativePaths(const Certificate& leaf,
                                                       const VerifyOptions& options) {
  const std::vector<Certificate>& pool = options.untrusted;
  std::vector<std::vector<Certificate>> found;
  int checks = 0;
  // issued[i][j]: pool[j] issued pool[i] (i == pool.size() stands for the leaf).
  std::vector<std::vector<signed char>> issued(pool.size() + 1,
                                               std::vector<signed char>(pool.size(), -1));
  auto issued_by = [&](const Certificate& child, const Certificate& parent) {
    if (X509_check_issued(parent.get(), child.get()) != X509_V_OK) {
      return false;
    }
    ++checks;
    return child.IsSignedBy(parent);
  };
  auto anchored = [&](const Certificate& cert) {
    return std::any_of(options.anchors.begin(), options.anchors.end(), [&](const Certificate& a) {
      return a.Equals(cert) || (checks < kMaxIssuerChecks && issued_by(cert, a));
    });
  };
  std::vector<std::size_t> stack;
  std::vector<bool> used(pool.size(), false);
  auto dfs = [&](auto&& self, std::size_t node) -> void {
    if (found.size() >= kMaxAlternatives || checks >= kMaxIssuerChecks ||
        static_cast<int>(stack.size()) >= kMaxPathLength) {
      return;
    }
    const Certificate& child = node == pool.size() ? leaf : pool[node];
    for (std::size_t j = 0; j < pool.size(); ++j) {
      if (used[j] || checks >= kMaxIssuerChecks) {
        continue;
      }
      signed char& memo = issued[node][j];
      if (memo < 0) {
        memo = issued_by(child, pool[j]) ? 1 : 0;
      }
      if (memo == 0) {
        continue;
      }
      used[j] = true;
      stack.push_back(j);
      if (anchored(pool[j])) {
        std::vector<Certificate> path;
        for (std::size_t k : stack) {
          path.push_back(pool[k]);
        }
        found.push_back(std::move(path));
      }
      self(self, j);
      stack.pop_back();
      used[j] = false;
    }
  };
  dfs(dfs, pool.size());
  ossl::ClearErrors();
  return found;
}

bool SameIntermediates(const std::vector<Certificate>& path, const std::vector<Certificate>& a) {
  // `path` is a report path: leaf, intermediates, anchor.
  if (path.size() != a.size() + 2) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!path[i + 1].Equals(a[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

VerifyReport Verify(const Certificate& leaf, const VerifyOptions& options) {
  VerifyReport report = VerifyAlong(leaf, options, options.untrusted);
  if (report.ok() || options.untrusted.empty()) {
    return report;
  }
  // OpenSSL's one path failed: another path through the same bag may be valid (RFC 4158).
  for (const std::vector<Certificate>& alternative : AlternativePaths(leaf, options)) {
    if (SameIntermediates(report.path, alternative)) {
      continue;
    }
    VerifyReport other = VerifyAlong(leaf, options, alternative);
    if (other.ok()) {
      return other;
    }
  }
  return report;
}

}  // namespace clustertls::pki
