#include "authority/crl_publisher.h"

#include <openssl/pem.h>

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "ossl/bio.h"
#include "ossl/error.h"
#include "pki/crl_builder.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;

}  // namespace

struct CrlPublisher::Impl {
  Impl(const ClusterCa& c, const CrlPublisherOptions& o) : ca(c), options(o) {}

  ClusterCa ca;
  CrlPublisherOptions options;

  std::mutex generate_mu;  // serialises Generate()
  // Generations started (incremented under generate_mu before the store is read).
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::shared_ptr<const PublishedCrl>> current;
  // The last generation failed: Refresh() retries even if nothing else asks for a new CRL.
  std::atomic<bool> last_failed{false};

  core::Result<std::shared_ptr<const PublishedCrl>> Generate();
  core::Result<std::shared_ptr<const PublishedCrl>> GenerateLocked();
};

core::Result<std::shared_ptr<const PublishedCrl>> CrlPublisher::Impl::Generate() {
  const std::uint64_t ticket = started.load();
  std::lock_guard lock(generate_mu);
  // Coalescing: a generation that started after this call began (and, as this call now holds
  // the lock, has finished) read the store after everything this caller committed, so its CRL
  // is as new as one generated now. A burst of revocations costs two generations, not one each.
  if (started.load() != ticket && !last_failed.load()) {
    return current.load();
  }
  started.fetch_add(1);
  auto generated = GenerateLocked();
  if (!generated) {
    last_failed.store(true);
    return generated.error().WithContext("CRL of CA '" + ca.issuer_id + "'");
  }
  current.store(*generated);
  last_failed.store(false);
  return generated;
}

core::Result<std::shared_ptr<const PublishedCrl>> CrlPublisher::Impl::GenerateLocked() {
  store::Store& store = *options.store;
  const core::TimePoint now = options.clock->Now();
  // Read before listing: a revocation committed after this read but missed by the listing moves
  // the counter past this value, so the next Refresh() generates again.
  CTLS_ASSIGN_OR_RETURN(std::int64_t revocations, store.PeekCounter(store::kRevocationCounter));
  // The rows go straight from the store into the CRL's DER: no list of entries in between.
  // The previous CRL's size pre-sizes the buffer.
  std::shared_ptr<const PublishedCrl> previous = current.load();
  pki::CrlEntryEncoder entries(previous != nullptr ? previous->entries + previous->entries / 16
                                                   : 0);
  // The store keeps a handful of distinct reason names: parse each once, not once per row.
  std::vector<std::pair<std::string, pki::RevocationReason>> reasons;
  CTLS_RETURN_IF_ERROR(store.ForEachRevoked(
      ca.issuer_id, now, [&](const store::RevokedRow& row) -> core::Result<void> {
        auto known = reasons.begin();
        while (known != reasons.end() && known->first != row.reason) {
          ++known;
        }
        if (known == reasons.end()) {
          auto parsed = pki::ParseRevocationReason(row.reason);
          // A reason this version does not know still revokes: listed without a reasonCode.
          reasons.emplace_back(row.reason,
                               parsed ? *parsed : pki::RevocationReason::kUnspecified);
          known = reasons.end() - 1;
        }
        return entries.Add(row.serial_hex, row.revoked_at, known->second);
      }));
  // RFC 5280 section 5.2.3: the store's counter is shared by every instance and survives
  // restarts, so numbers strictly increase.
  CTLS_ASSIGN_OR_RETURN(std::int64_t number, store.NextCounter("crl:" + ca.issuer_id));
  auto crl = std::make_shared<PublishedCrl>();
  crl->this_update = now;
  crl->next_update = now + options.validity;
  crl->number = number;
  crl->entries = entries.size();
  crl->revocation_counter = revocations;
  CTLS_ASSIGN_OR_RETURN(crl->der,
                        pki::BuildEncodedCrl(ca.issuing.certificate(), ca.issuing.key(),
                                             std::move(entries),
                                             {.this_update = crl->this_update,
                                              .next_update = crl->next_update,
                                              .crl_number = number}));
  // PEM straight from the DER: decoding a CRL with a million entries through d2i_X509_CRL
  // would cost more than building it.
  crl->pem = ossl::PemEncode(PEM_STRING_X509_CRL, crl->der);
  return std::shared_ptr<const PublishedCrl>(std::move(crl));
}

core::Result<std::unique_ptr<CrlPublisher>> CrlPublisher::Create(
    const ClusterCa& ca, const CrlPublisherOptions& options) {
  if (options.store == nullptr || options.clock == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "CRL publisher: store and clock are required");
  }
  if (options.validity < std::chrono::hours(1)) {
    return Fail(ErrorCode::kInvalidArgument, "CRL validity: must be at least 1 hour (got " +
                                                 std::to_string(options.validity.count()) +
                                                 " seconds)");
  }
  auto impl = std::make_unique<Impl>(ca, options);
  CTLS_RETURN_IF_ERROR(impl->Generate());
  return std::unique_ptr<CrlPublisher>(new CrlPublisher(std::move(impl)));
}

CrlPublisher::CrlPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CrlPublisher::~CrlPublisher() = default;

std::shared_ptr<const PublishedCrl> CrlPublisher::Current() const { return impl_->current.load(); }

core::Result<std::shared_ptr<const PublishedCrl>> CrlPublisher::Regenerate() {
  return impl_->Generate();
}

core::Result<bool> CrlPublisher::Refresh() {
  std::shared_ptr<const PublishedCrl> current = impl_->current.load();
  bool due = impl_->last_failed.load();
  if (!due) {
    const core::TimePoint now = impl_->options.clock->Now();
    due = now >= current->this_update + (current->next_update - current->this_update) / 2;
  }
  if (!due) {
    CTLS_ASSIGN_OR_RETURN(std::int64_t revocations,
                          impl_->options.store->PeekCounter(store::kRevocationCounter));
    due = revocations != current->revocation_counter;
  }
  if (!due) {
    return false;
  }
  CTLS_RETURN_IF_ERROR(impl_->Generate());
  return true;
}

}  // namespace clustertls::authority
