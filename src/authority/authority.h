#pragma once

// The CA's issuing pipeline for the API (smallstep's model): validate the request -> apply the
// profile -> sign -> record -> return. A certificate is returned only after its record
// committed. Records are group-committed: one recorder thread takes every record waiting and
// writes them with their "cert.sign" audit entries in one Store::RecordIssuedAudited
// transaction (one fsync), so concurrent requests share the cost of durability.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "authority/cluster.h"
#include "authority/name_policy.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/issuer.h"
#include "store/store.h"

namespace clustertls::authority {

struct AuthorityOptions {
  store::Store* store = nullptr;  // not owned; outlives the Authority
  const core::Clock* clock = nullptr;
  core::Rng* rng = nullptr;
  int default_days = 365;
  int max_days = 825;
  std::vector<std::string> crl_urls{};  // put into every issued certificate (issue 4)
  std::vector<std::string> ocsp_urls{};
  std::size_t max_batch = 512;  // records per transaction at most
  // Names only the named certificates may carry (name_policy.h); a request needs allow_reserved
  // for them.
  ReservedNames reserved{};
};

// POST /v1/ca/sign.
struct SignRequest {
  std::string csr_pem{};           // one PEM "CERTIFICATE REQUEST" (or "NEW CERTIFICATE REQUEST")
  std::string profile = "server";  // server | client | peer
  int days = 0;                    // 0: default_days
  std::string actor{};             // who asked (recorded as issued_by and in the audit log)
  std::string source{};            // where from (the client address), for the audit log
  // The name policies of the requesting user and token (both must allow every name).
  std::vector<OwnedPolicy> name_policies{};
  bool allow_reserved = false;  // the caller (an admin) asked for reserved names explicitly
};

struct SignedCert {
  std::string certificate_pem{};  // the leaf
  std::string chain_pem{};        // issuing CA, root
  std::string serial_hex{};       // upper-case, as openssl x509 -serial prints it
  core::TimePoint not_after{};
};

struct AuthorityStats {
  std::uint64_t issued = 0;   // recorded and returned
  std::uint64_t refused = 0;  // bad requests
  std::uint64_t record_failures = 0;
  std::uint64_t batches = 0;  // RecordIssued transactions
  std::uint64_t largest_batch = 0;
  std::uint64_t collision_retries = 0;  // batches recorded one by one after a serial collision
};

class Authority {
 public:
  // Starts the recorder thread. kInvalidArgument if a pointer is null or days are out of range.
  static core::Result<std::unique_ptr<Authority>> Create(ClusterCa ca,
                                                         const AuthorityOptions& options);
  // Records everything still waiting, then stops the recorder.
  ~Authority();
  Authority(const Authority&) = delete;
  Authority& operator=(const Authority&) = delete;

  // Validates the request (profile server|client|peer, days 1..max_days: kInvalidArgument
  // naming the field; CSR: kParse / kBadSignature / kWeakKey / kInvalidName; names reserved or
  // refused by a name policy: kPermissionDenied naming each), issues on the
  // calling thread (pki::IssueFromCsrDer), then hands the record to the recorder. `done` runs
  // exactly once: inline for a refused request, on the recorder thread after the commit
  // (success) or the failed commit (kIo: the certificate is not returned, and neither its
  // record nor its audit entry was stored).
  void SignAsync(const SignRequest& request, std::function<void(core::Result<SignedCert>)> done);

  // SignAsync and wait. Not from inside a `done` callback (that runs on the recorder thread,
  // which would wait for itself).
  core::Result<SignedCert> Sign(const SignRequest& request);

  const ClusterCa& ca() const;
  // The options it was created with (URLs written into certificates, validity limits).
  const AuthorityOptions& options() const;
  AuthorityStats stats() const;

 private:
  struct Impl;
  explicit Authority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::authority
