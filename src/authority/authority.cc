#include "authority/authority.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "authority/cert_summary.h"
#include "authority/secrets.h"
#include "core/encoding.h"
#include "core/time.h"
#include "ossl/bio.h"
#include "pki/csr_fast.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;

core::Result<pki::Profile> ParseSignProfile(std::string_view name) {
  if (name == "server") {
    return pki::Profile::kServer;
  }
  if (name == "client") {
    return pki::Profile::kClient;
  }
  if (name == "peer") {
    return pki::Profile::kPeer;
  }
  std::string shown(name.substr(0, 64));
  return Fail(ErrorCode::kInvalidArgument,
              "profile: must be server, client or peer (got \"" + core::JsonEscape(shown) + "\")");
}

// The CSR's DER from its PEM: exactly one "CERTIFICATE REQUEST" (or the older "NEW CERTIFICATE
// REQUEST") block.
core::Result<std::string> CsrDer(std::string_view pem) {
  auto blocks = ossl::ReadPemBlocks(pem, {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}, 2);
  if (!blocks) {
    return blocks.error().WithContext("csr");
  }
  if (blocks->empty()) {
    return Fail(ErrorCode::kParse, "csr: no PEM \"CERTIFICATE REQUEST\" block found");
  }
  if (blocks->size() > 1) {
    return Fail(ErrorCode::kParse, "csr: more than one certificate request (send one per call)");
  }
  return std::move(blocks->front().der);
}

}  // namespace

struct Authority::Impl {
  Impl(ClusterCa c, const AuthorityOptions& o) : ca(std::move(c)), options(o) {}

  // A signed certificate waiting for its record to commit.
  struct Pending {
    store::IssuedCert record;  // moved out by Commit
    store::AuditInput audit;
    SignedCert result;
    std::function<void(core::Result<SignedCert>)> done;
  };

  ClusterCa ca;
  AuthorityOptions options;

  std::mutex mu;
  std::condition_variable wake;
  std::deque<Pending> queue;  // guarded by mu
  bool stopping = false;      // guarded by mu
  std::thread recorder;

  std::atomic<std::uint64_t> issued{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> record_failures{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> largest_batch{0};
  std::atomic<std::uint64_t> collision_retries{0};

  void Run();
  void Commit(std::vector<Pending>& batch);
  // Completes `p` with kIo (kUnavailable for a busy store): its certificate is not returned
  // because of `error`.
  void FailRecord(Pending& p, const core::Error& error);
};

void Authority::Impl::Run() {
  std::vector<Pending> batch;
  while (true) {
    {
      std::unique_lock lock(mu);
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) {
        return;  // stopping, and everything is recorded
      }
      const std::size_t n = std::min(queue.size(), options.max_batch);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    Commit(batch);
    batch.clear();
  }
}

void Authority::Impl::FailRecord(Pending& p, const core::Error& error) {
  record_failures.fetch_add(1, std::memory_order_relaxed);
  // A busy store stays kUnavailable (503, try again); any other failure is kIo.
  p.done(Fail(error.code == ErrorCode::kUnavailable ? ErrorCode::kUnavailable : ErrorCode::kIo,
              "certificate " + p.result.serial_hex + " is not returned: " + error.message,
              error.detail));
}

void Authority::Impl::Commit(std::vector<Pending>& batch) {
  std::vector<store::IssuedCert> records;
  records.reserve(batch.size());
  for (Pending& p : batch) {
    records.push_back(std::move(p.record));  // p.result keeps the serial for messages
  }
  batches.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t size = batch.size();
  std::uint64_t largest = largest_batch.load(std::memory_order_relaxed);
  while (size > largest && !largest_batch.compare_exchange_weak(largest, size)) {
  }

  // ok[i]: batch[i]'s record committed.
  std::vector<bool> ok(batch.size(), false);
  std::vector<std::optional<core::Error>> errors(batch.size());
  auto not_recorded = [](const core::Error& e) {
    return e.WithContext("it was not recorded (record and audit entry are written together)");
  };
  // The records and their "cert.sign" audit entries commit in one transaction (one fsync):
  // a certificate is returned only if both are stored, and never one without the other.
  std::vector<store::AuditInput> audits;
  audits.reserve(batch.size());
  for (Pending& p : batch) {
    audits.push_back(std::move(p.audit));
  }
  auto recorded = options.store->RecordIssuedAudited(records, audits, AuditHash);
  if (recorded) {
    std::fill(ok.begin(), ok.end(), true);
  } else if (recorded.error().code == ErrorCode::kAlreadyExists && batch.size() > 1) {
    // A serial collision (two random 159-bit serials equal: practically impossible, but the
    // database refuses it) fails the whole transaction: record one by one so that only the
    // colliding certificate is refused.
    collision_retries.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto one = options.store->RecordIssuedAudited(
          std::span<const store::IssuedCert>(&records[i], 1),
          std::span<const store::AuditInput>(&audits[i], 1), AuditHash);
      if (one) {
        ok[i] = true;
      } else {
        errors[i] = not_recorded(one.error());
      }
      batches.fetch_add(1, std::memory_order_relaxed);
    }
  } else {
    for (auto& e : errors) {
      e = not_recorded(recorded.error());
    }
  }

  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (ok[i]) {
      issued.fetch_add(1, std::memory_order_relaxed);
      batch[i].done(std::move(batch[i].result));
    } else {
      FailRecord(batch[i], *errors[i]);
    }
  }
}

Authority::Authority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

core::Result<std::unique_ptr<Authority>> Authority::Create(ClusterCa ca,
                                                           const AuthorityOptions& options) {
  if (options.store == nullptr || options.clock == nullptr || options.rng == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "authority: store, clock and rng must be set");
  }
  if (options.max_days < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "max_days: must be at least 1 (got " + std::to_string(options.max_days) + ")");
  }
  if (options.default_days < 1 || options.default_days > options.max_days) {
    return Fail(ErrorCode::kInvalidArgument, "default_days: must be 1.." +
                                                 std::to_string(options.max_days) + " (got " +
                                                 std::to_string(options.default_days) + ")");
  }
  if (options.max_batch < 1) {
    return Fail(ErrorCode::kInvalidArgument, "max_batch: must be at least 1");
  }
  auto impl = std::make_unique<Impl>(std::move(ca), options);
  Impl* raw = impl.get();
  impl->recorder = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<Authority>(new Authority(std::move(impl)));
}

Authority::~Authority() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->recorder.join();
}

void Authority::SignAsync(const SignRequest& request,
                          std::function<void(core::Result<SignedCert>)> done) {
  Impl& impl = *impl_;
  auto refuse = [&](const core::Error& error) {
    impl.refused.fetch_add(1, std::memory_order_relaxed);
    done(error);
  };

  auto profile = ParseSignProfile(request.profile);
  if (!profile) {
    return refuse(profile.error());
  }
  const int days = request.days == 0 ? impl.options.default_days : request.days;
  if (days < 1 || days > impl.options.max_days) {
    return refuse(Fail(ErrorCode::kInvalidArgument,
                       "days: must be 1.." + std::to_string(impl.options.max_days) + " (got " +
                           std::to_string(request.days) + ")"));
  }
  auto der = CsrDer(request.csr_pem);
  if (!der) {
    return refuse(der.error());
  }
  const NameCheck name_check{.reserved = &impl.options.reserved,
                             .allow_reserved = request.allow_reserved,
                             .policies = request.name_policies};
  const pki::IssueRequest issue{.profile = *profile,
                                .validity = std::chrono::days(days),
                                .crl_urls = impl.options.crl_urls,
                                .ocsp_urls = impl.options.ocsp_urls,
                                .check_names = [&name_check](const pki::SubjectAltNames& names) {
                                  return CheckRequestedNames(names, name_check);
                                }};
  const core::TimePoint now = impl.options.clock->Now();
  // The record is made from what the issuer wrote (IssuedFacts), not by parsing the DER again.
  pki::IssuedFacts facts;
  auto cert_der =
      pki::IssueFromCsrDer(impl.ca.issuing, *der, issue, now, *impl.options.rng, &facts);
  if (!cert_der) {
    return refuse(cert_der.error());
  }

  Impl::Pending p;
  p.record = store::IssuedCert{.serial_hex = std::move(facts.serial_hex),
                               .issuer_id = impl.ca.issuer_id,
                               .profile = request.profile,
                               .subject_cn = std::move(facts.common_name),
                               .sans_json = SansJson(facts.sans),
                               .not_before = facts.not_before,
                               .not_after = facts.not_after,
                               .der = store::Blob(cert_der->begin(), cert_der->end()),
                               .issued_at = now,
                               .issued_by = request.actor};
  // A signing that used the admin's exception for reserved names says so in its entry.
  p.audit = request.allow_reserved ? CertSignAudit(p.record, request.actor, request.source,
                                                   nlohmann::ordered_json{{"allow_reserved", true}})
                                   : CertSignAudit(p.record, request.actor, request.source);
  p.result = SignedCert{.certificate_pem = CertificatePemFromDer(*cert_der),
                        .chain_pem = impl.ca.chain_pem,
                        .serial_hex = p.record.serial_hex,
                        .not_after = p.record.not_after};
  p.done = std::move(done);
  {
    std::lock_guard lock(impl.mu);
    impl.queue.push_back(std::move(p));
  }
  impl.wake.notify_one();
}

core::Result<SignedCert> Authority::Sign(const SignRequest& request) {
  std::promise<core::Result<SignedCert>> promise;
  auto future = promise.get_future();
  SignAsync(request,
            [&promise](core::Result<SignedCert> result) { promise.set_value(std::move(result)); });
  return future.get();
}

const ClusterCa& Authority::ca() const { return impl_->ca; }

const AuthorityOptions& Authority::options() const { return impl_->options; }

AuthorityStats Authority::stats() const {
  return AuthorityStats{.issued = impl_->issued.load(),
                        .refused = impl_->refused.load(),
                        .record_failures = impl_->record_failures.load(),
                        .batches = impl_->batches.load(),
                        .largest_batch = impl_->largest_batch.load(),
                        .collision_retries = impl_->collision_retries.load()};
}

}  // namespace clustertls::authority
