#include "authority/ocsp_responder.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "authority/cert_summary.h"
#include "authority/delegated_signer.h"
#include "authority/secrets.h"
#include "pki/crl_builder.h"
#include "pki/issuer.h"
#include "pki/key.h"
#include "pki/ocsp.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;
using pki::OcspErrorStatus;

// Who issues and records the signer certificates (issued_by, audit actor).
constexpr const char* kActor = "clustertls";
constexpr const char* kSignerProfile = "ocsp-signer";

// The cache is split so that writers (fills, re-signs) block only a fraction of the readers.
constexpr std::size_t kShards = 16;
// Requests larger than this are answered but never cached (a bound on the memory per entry; a
// request for one CertID made by openssl or a browser is under 200 bytes).
constexpr std::size_t kMaxCachedRequestBytes = 8192;
// After a failed signer renewal attempted from Respond, wait this long before trying again
// there (Refresh always tries).
constexpr std::chrono::seconds kRenewRetry = std::chrono::minutes(1);

// Heterogeneous lookup: find(std::string_view) without building a std::string key.
struct BytesHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

// When a response may be served from the cache.
struct Freshness {
  core::TimePoint this_update;
  core::TimePoint fresh_until;  // served as is until then (half its lifetime)
  core::TimePoint valid_until;  // nextUpdate, or the signer's notAfter if that is sooner
};

// One pre-signed response for a nonce-less request.
struct CacheEntry {
  CacheEntry(std::string r, const Freshness& f) : response(std::move(r)), freshness(f) {}
  std::string response;
  Freshness freshness;
  // Set by the one thread that re-signs a stale entry; the others keep serving it meanwhile
  // (it is still valid until valid_until).
  std::atomic<bool> refreshing{false};
};

struct alignas(64) Shard {
  std::shared_mutex mu;
  std::unordered_map<std::string, CacheEntry, BytesHash, std::equal_to<>> map;  // guarded by mu
};

// The current delegated responder.
struct SignerState {
  pki::OcspSigner signer;
  std::string pem;
  core::TimePoint not_after{};
  core::TimePoint renew_at{};  // half of its lifetime
};

}  // namespace

struct OcspResponder::Impl {
  Impl(const ClusterCa& c, const OcspResponderOptions& o)
      : ca(c), options(o), hashes(pki::IssuerHashes(c.issuing.certificate())) {}

  const ClusterCa ca;
  const OcspResponderOptions options;
  const pki::OcspIssuerHashes hashes;
  std::string signer_cn;  // set by Create

  mutable std::mutex signer_mu;
  std::shared_ptr<const SignerState> signer;  // guarded by signer_mu; swapped whole

  std::mutex renew_mu;                                 // one renewal at a time
  std::optional<core::TimePoint> last_failed_renewal;  // guarded by renew_mu

  std::array<Shard, kShards> shards;
  std::atomic<std::uint64_t> generation{0};  // bumped by Invalidate
  std::atomic<std::size_t> entries{0};
  std::atomic<std::int64_t> revocation_counter{0};  // kRevocationCounter at the last look

  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> cache_hits{0};
  std::atomic<std::uint64_t> signed_responses{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> unauthorized{0};
  std::atomic<std::uint64_t> internal_errors{0};
  std::atomic<std::uint64_t> signer_renewals{0};

  std::shared_ptr<const SignerState> CurrentSigner() const {
    std::lock_guard lock(signer_mu);
    return signer;
  }

  Shard& ShardFor(std::string_view key) {
    return shards[std::hash<std::string_view>{}(key) % kShards];
  }

  core::Result<std::shared_ptr<const SignerState>> IssueSigner(core::TimePoint now);
  // Renews the signer if half of its lifetime has passed. `from_respond`: do not wait for a
  // renewal in progress, and do not retry within kRenewRetry of a failure.
  core::Result<void> MaybeRenew(core::TimePoint now, bool from_respond);
  void Invalidate();

  std::string Respond(std::string_view der);
  // The cached response for `der` if it may be served at `now`; empty if it must be signed.
  std::optional<std::string> Lookup(std::string_view der, core::TimePoint now, bool& claimed);
  void Insert(std::string_view der, const std::string& response, const Freshness& freshness,
              std::uint64_t generation_before);
  void Unclaim(std::string_view der);
  std::string Error(OcspErrorStatus status, std::atomic<std::uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
    return pki::OcspErrorResponse(status);
  }
};

core::Result<std::shared_ptr<const SignerState>> OcspResponder::Impl::IssueSigner(
    core::TimePoint now) {
  CTLS_ASSIGN_OR_RETURN(DelegatedSigner made,
                        IssueDelegatedSigner(*options.store, ca,
                                             {.profile = pki::Profile::kOcspSigner,
                                              .record_profile = kSignerProfile,
                                              .common_name = signer_cn,
                                              .validity = options.signer_validity,
                                              .actor = kActor,
                                              .what = "OCSP signer",
                                              .certificate_noun = "a responder certificate"},
                                             now, *options.rng));
  auto state = std::make_shared<SignerState>(SignerState{
      .signer =
          pki::OcspSigner{.certificate = std::move(made.certificate), .key = std::move(made.key)},
      .pem = CertificatePemFromDer(made.der),
      .not_after = made.not_after,
      .renew_at = made.renew_at});
  return std::shared_ptr<const SignerState>(std::move(state));
}

core::Result<void> OcspResponder::Impl::MaybeRenew(core::TimePoint now, bool from_respond) {
  std::unique_lock lock(renew_mu, std::defer_lock);
  if (from_respond) {
    if (!lock.try_lock()) {
      return {};  // another thread is renewing; the current signer answers meanwhile
    }
    if (last_failed_renewal && now < *last_failed_renewal + kRenewRetry &&
        now >= *last_failed_renewal) {
      return {};
    }
  } else {
    lock.lock();
  }
  if (now < CurrentSigner()->renew_at) {
    return {};
  }
  auto next = IssueSigner(now);
  if (!next) {
    last_failed_renewal = now;
    return next.error().WithContext("renewing the OCSP signer");
  }
  last_failed_renewal.reset();
  {
    std::lock_guard signer_lock(signer_mu);
    signer = *std::move(next);
  }
  signer_renewals.fetch_add(1, std::memory_order_relaxed);
  // Cached responses name the old signer: still valid, but re-sign with the new one.
  Invalidate();
  return {};
}

void OcspResponder::Impl::Invalidate() {
  // Bumped before any shard is cleared: an answer looked up before the bump is never inserted
  // after the clear (Insert compares generations under the shard lock).
  generation.fetch_add(1, std::memory_order_acq_rel);
  for (Shard& shard : shards) {
    std::unique_lock lock(shard.mu);
    entries.fetch_sub(shard.map.size(), std::memory_order_relaxed);
    shard.map.clear();
  }
}

std::optional<std::string> OcspResponder::Impl::Lookup(std::string_view der, core::TimePoint now,
                                                       bool& claimed) {
  Shard& shard = ShardFor(der);
  std::shared_lock lock(shard.mu);
  auto it = shard.map.find(der);
  if (it == shard.map.end()) {
    return std::nullopt;
  }
  CacheEntry& e = it->second;
  const Freshness& f = e.freshness;
  if (now >= f.this_update && now < f.fresh_until) {
    return e.response;
  }
  // Stale: one thread re-signs, the others serve the entry while it is still valid.
  if (now >= f.this_update && now < f.valid_until &&
      e.refreshing.exchange(true, std::memory_order_acq_rel)) {
    return e.response;
  }
  claimed = true;
  return std::nullopt;
}

void OcspResponder::Impl::Unclaim(std::string_view der) {
  Shard& shard = ShardFor(der);
  std::shared_lock lock(shard.mu);
  auto it = shard.map.find(der);
  if (it != shard.map.end()) {
    it->second.refreshing.store(false, std::memory_order_release);
  }
}

void OcspResponder::Impl::Insert(std::string_view der, const std::string& response,
                                 const Freshness& freshness, std::uint64_t generation_before) {
  Shard& shard = ShardFor(der);
  std::unique_lock lock(shard.mu);
  if (generation.load(std::memory_order_acquire) != generation_before) {
    return;  // invalidated while this answer was being made: it may be stale
  }
  auto it = shard.map.find(der);
  if (it != shard.map.end()) {
    it->second.response = response;
    it->second.freshness = freshness;
    it->second.refreshing.store(false, std::memory_order_release);
    return;
  }
  if (entries.fetch_add(1, std::memory_order_relaxed) >= options.max_cache_entries) {
    entries.fetch_sub(1, std::memory_order_relaxed);
    return;  // full: answered, not kept
  }
  shard.map.try_emplace(std::string(der), response, freshness);
}

std::string OcspResponder::Impl::Respond(std::string_view der) {
  requests.fetch_add(1, std::memory_order_relaxed);
  const core::TimePoint now = options.clock->Now();

  // Only nonce-less requests are ever cached, so a hit needs no parsing.
  const bool cacheable = der.size() <= kMaxCachedRequestBytes && options.max_cache_entries > 0;
  bool claimed = false;
  if (cacheable) {
    if (auto hit = Lookup(der, now, claimed)) {
      cache_hits.fetch_add(1, std::memory_order_relaxed);
      return *std::move(hit);
    }
  }
  // A claimed stale entry is released whatever happens below (Insert also releases it).
  struct Release {
    Impl* impl;
    std::string_view der;
    bool active;
    ~Release() {
      if (active) {
        impl->Unclaim(der);
      }
    }
  } release{this, der, claimed};

  auto request = pki::ParseOcspRequest(der);
  if (!request) {
    // RFC 6960 section 4.2.1: malformedRequest for what does not decode. A CertID hashed with
    // an algorithm other than SHA-1/SHA-256 decodes, but we cannot tell whether it names our
    // issuer, so we are not authorized to answer for it.
    if (request.error().code == ErrorCode::kUnsupported) {
      return Error(OcspErrorStatus::kUnauthorized, unauthorized);
    }
    return Error(OcspErrorStatus::kMalformedRequest, malformed);
  }
  for (const pki::OcspCertId& id : request->ids) {
    if (!hashes.Matches(id)) {
      return Error(OcspErrorStatus::kUnauthorized, unauthorized);
    }
  }

  // Before the store is read: an Invalidate from here on keeps this answer out of the cache.
  const std::uint64_t generation_before = generation.load(std::memory_order_acquire);
  const core::TimePoint next_update = now + options.response_validity;
  std::vector<pki::OcspSingleResponse> answers;
  answers.reserve(request->ids.size());
  for (const pki::OcspCertId& id : request->ids) {
    pki::OcspSingleResponse a{.id = &id,
                              .status = pki::OcspCertStatus::kUnknown,
                              .this_update = now,
                              .next_update = next_update};
    auto record = options.store->GetIssued(id.serial_hex);
    if (!record) {
      if (record.error().code != ErrorCode::kNotFound) {
        return Error(OcspErrorStatus::kInternalError, internal_errors);
      }
    } else if (record->issuer_id == ca.issuer_id) {
      if (record->revoked_at) {
        a.status = pki::OcspCertStatus::kRevoked;
        a.revoked_at = *record->revoked_at;
        auto reason = pki::ParseRevocationReason(record->revocation_reason);
        a.reason = reason ? *reason : pki::RevocationReason::kUnspecified;
      } else {
        a.status = pki::OcspCertStatus::kGood;
      }
    }
    answers.push_back(a);
  }

  std::shared_ptr<const SignerState> current = CurrentSigner();
  if (now >= current->renew_at) {
    // The poller's Refresh normally renews first; this keeps a responder without one signing
    // with a valid certificate. A failure leaves the current signer in place.
    (void)MaybeRenew(now, /*from_respond=*/true);
    current = CurrentSigner();
  }
  if (now >= current->not_after) {
    return Error(OcspErrorStatus::kInternalError, internal_errors);  // nothing valid signs
  }
  auto response = pki::BuildOcspResponse(current->signer, answers, request->nonce);
  if (!response) {
    return Error(OcspErrorStatus::kInternalError, internal_errors);
  }
  signed_responses.fetch_add(1, std::memory_order_relaxed);
  if (cacheable && !request->nonce.has_value()) {
    // Never served past the signer's notAfter (if its renewal keeps failing).
    const Freshness freshness{
        .this_update = now,
        .fresh_until = std::min(now + options.response_validity / 2, current->not_after),
        .valid_until = std::min(next_update, current->not_after)};
    Insert(der, *response, freshness, generation_before);
    release.active = false;
  }
  return *std::move(response);
}

OcspResponder::OcspResponder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OcspResponder::~OcspResponder() = default;

core::Result<std::unique_ptr<OcspResponder>> OcspResponder::Create(
    const ClusterCa& ca, const OcspResponderOptions& options) {
  if (options.store == nullptr || options.clock == nullptr || options.rng == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "OCSP responder: store, clock and rng must be set");
  }
  if (options.response_validity < std::chrono::minutes(1)) {
    return Fail(ErrorCode::kInvalidArgument,
                "response_validity: must be at least one minute (got " +
                    core::FormatDuration(options.response_validity) + ")");
  }
  if (options.signer_validity < std::chrono::minutes(1)) {
    return Fail(ErrorCode::kInvalidArgument, "signer_validity: must be at least one minute (got " +
                                                 core::FormatDuration(options.signer_validity) +
                                                 ")");
  }
  auto impl = std::make_unique<Impl>(ca, options);

  // The signer's CN must be a host name (the issuer makes a leaf's CN one of its SANs).
  auto fqdn = options.store->GetConfig(std::string(kConfigFqdn));
  if (fqdn) {
    impl->signer_cn = "ocsp." + *fqdn;
  } else if (fqdn.error().code == ErrorCode::kNotFound) {
    impl->signer_cn = "ocsp.clustertls.invalid";
  } else {
    return fqdn.error().WithContext("OCSP responder: reading the cluster FQDN");
  }
  // Remembered before the first answer: a revocation after this point moves the counter.
  auto counter = options.store->PeekCounter(store::kRevocationCounter);
  if (!counter) {
    return counter.error().WithContext("OCSP responder: reading the revocation counter");
  }
  impl->revocation_counter.store(*counter);
  auto signer = impl->IssueSigner(options.clock->Now());
  if (!signer) {
    return signer.error();
  }
  impl->signer = *std::move(signer);
  return std::unique_ptr<OcspResponder>(new OcspResponder(std::move(impl)));
}

std::string OcspResponder::Respond(std::string_view request_der) {
  try {
    return impl_->Respond(request_der);
  } catch (...) {
    impl_->internal_errors.fetch_add(1, std::memory_order_relaxed);
    try {
      return pki::OcspErrorResponse(OcspErrorStatus::kInternalError);
    } catch (...) {
      return std::string();  // out of memory for a few bytes: nothing sensible left to send
    }
  }
}

void OcspResponder::Invalidate() { impl_->Invalidate(); }

core::Result<void> OcspResponder::Refresh() {
  auto counter = impl_->options.store->PeekCounter(store::kRevocationCounter);
  if (counter) {
    if (impl_->revocation_counter.exchange(*counter) != *counter) {
      impl_->Invalidate();
    }
  }
  // A failed look keeps the cache; the next Refresh looks again.
  return impl_->MaybeRenew(impl_->options.clock->Now(), /*from_respond=*/false);
}

std::string OcspResponder::SignerCertificatePem() const { return impl_->CurrentSigner()->pem; }

core::TimePoint OcspResponder::SignerNotAfter() const { return impl_->CurrentSigner()->not_after; }

OcspStats OcspResponder::stats() const {
  const Impl& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return OcspStats{.requests = i.requests.load(r),
                   .cache_hits = i.cache_hits.load(r),
                   .signed_responses = i.signed_responses.load(r),
                   .malformed = i.malformed.load(r),
                   .unauthorized = i.unauthorized.load(r),
                   .internal_errors = i.internal_errors.load(r),
                   .signer_renewals = i.signer_renewals.load(r)};
}

}  // namespace clustertls::authority
