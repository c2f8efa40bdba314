#include "authority/root_crl.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "authority/cluster.h"
#include "authority/secrets.h"
#include "ossl/bio.h"
#include "pki/crl.h"
#include "pki/crl_builder.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;

// The published form of a checked CRL.
RootCrl Describe(const pki::Crl& crl) {
  RootCrl out{.der = crl.ToDer(), .pem = "", .this_update = crl.this_update()};
  out.pem = ossl::PemEncode(PEM_STRING_X509_CRL, out.der);
  if (auto number = crl.crl_number()) {
    try {
      out.number = std::stoll(*number);
    } catch (const std::exception&) {
      out.number = 0;  // over 63 bits: not one of ours; shown as 0
    }
  }
  out.next_update = crl.next_update().value_or(core::TimePoint{});
  return out;
}

// Parses and checks a stored value (kParse / kVerifyFailed name the config key).
core::Result<RootCrl> CheckStored(std::string_view pem, const pki::Certificate& root) {
  const std::string where = "stored root CA CRL (config " + std::string(kConfigRootCrl) + ")";
  auto crl = pki::Crl::Parse(pem);
  if (!crl) {
    return Fail(ErrorCode::kParse, where + ": not a PEM CRL");
  }
  if (!crl->IsSignedBy(root)) {
    return Fail(ErrorCode::kVerifyFailed, where + ": not signed by the cluster's root CA");
  }
  return Describe(*crl);
}

}  // namespace

core::Result<RootCrl> SignRootCrl(store::Store& store, const pki::Certificate& root,
                                  const pki::PrivateKey& root_key, const RootCrlOptions& options,
                                  const core::Clock& clock) {
  const core::TimePoint now = clock.Now();
  const core::TimePoint next = options.next_update.value_or(root.not_after());
  if (next <= now) {
    return Fail(ErrorCode::kInvalidArgument,
                "root CRL nextUpdate: must be after now (" + core::FormatTime(now) + ")");
  }
  if (next > root.not_after()) {
    return Fail(ErrorCode::kInvalidArgument,
                "root CRL nextUpdate: must not be after the root CA's notAfter (" +
                    core::FormatTime(root.not_after()) + ")");
  }
  if (!root_key.Matches(root.public_key())) {
    return Fail(ErrorCode::kKeyMismatch, "root CRL: the key is not the root CA's key");
  }
  CTLS_ASSIGN_OR_RETURN(std::int64_t number, store.NextCounter(std::string(kRootCrlCounter)));
  auto der = pki::BuildCrl(root, root_key, std::span<const pki::CrlEntry>(),
                           {.this_update = now, .next_update = next, .crl_number = number});
  if (!der) {
    return der.error().WithContext("root CRL");
  }
  RootCrl crl{.der = *std::move(der),
              .pem = "",
              .number = number,
              .this_update = now,
              .next_update = next};
  crl.pem = ossl::PemEncode(PEM_STRING_X509_CRL, crl.der);
  if (auto stored = store.SetConfig(std::string(kConfigRootCrl), crl.pem); !stored) {
    return stored.error().WithContext("storing the root CRL");
  }
  if (!options.audit) {
    return crl;
  }
  nlohmann::ordered_json details = {
      {"crl_number", number},
      {"this_update", core::FormatTime(now)},
      {"next_update", core::FormatTime(next)},
  };
  auto audit = store.AppendAudit(store::AuditInput{.time = now,
                                                   .actor = options.actor,
                                                   .action = "crl.root.sign",
                                                   .target = std::string(kRootCaId),
                                                   .source = options.source,
                                                   .details_json = details.dump()},
                                 AuditHash);
  if (!audit) {
    return audit.error().WithContext("appending the audit entry of the root CRL");
  }
  return crl;
}

core::Result<OpenedRoot> OpenRootCa(store::Store& store, std::string_view passphrase) {
  auto record = store.GetCa(std::string(kRootCaId));
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound,
                  "the store holds no cluster root CA: run clustertls init first");
    }
    return record.error().WithContext("reading the root CA");
  }
  auto root = pki::Certificate::FromPem(record->chain_pem);
  if (!root) {
    return root.error().WithContext("stored root CA certificate");
  }
  std::string pem(record->encrypted_key.begin(), record->encrypted_key.end());
  auto key = pki::PrivateKey::Parse(pem, passphrase);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    if (key.error().code == ErrorCode::kWrongPassphrase) {
      return Fail(ErrorCode::kWrongPassphrase,
                  "the root CA passphrase does not open the root CA key (the one `clustertls "
                  "init` showed or was given)");
    }
    return key.error().WithContext("stored root CA key");
  }
  if (!key->Matches(root->public_key())) {
    return Fail(ErrorCode::kKeyMismatch, "the stored root CA key is not the root certificate's");
  }
  return OpenedRoot{.root = *std::move(root), .key = *std::move(key)};
}

core::Result<std::optional<RootCrl>> LoadRootCrl(store::Store& store,
                                                 const pki::Certificate& root) {
  auto pem = store.GetConfig(std::string(kConfigRootCrl));
  if (!pem) {
    if (pem.error().code == ErrorCode::kNotFound) {
      return std::optional<RootCrl>();
    }
    return pem.error().WithContext("reading the root CRL");
  }
  CTLS_ASSIGN_OR_RETURN(RootCrl crl, CheckStored(*pem, root));
  return std::optional<RootCrl>(std::move(crl));
}

struct RootCrlCache::Impl {
  Impl(store::Store* s, pki::Certificate r) : store(s), root(std::move(r)) {}
  store::Store* store;
  pki::Certificate root;
  std::mutex reload_mu;     // serialises Reload()
  std::string stored_pem;   // the stored value `current` was made from (under reload_mu)
  std::atomic<std::shared_ptr<const RootCrl>> current;
};

RootCrlCache::RootCrlCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RootCrlCache::~RootCrlCache() = default;

core::Result<std::unique_ptr<RootCrlCache>> RootCrlCache::Create(store::Store* store,
                                                                 pki::Certificate root) {
  if (store == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "root CRL cache: store is required");
  }
  auto impl = std::make_unique<Impl>(store, std::move(root));
  std::unique_ptr<RootCrlCache> cache(new RootCrlCache(std::move(impl)));
  CTLS_RETURN_IF_ERROR(cache->Reload());
  return cache;
}

std::shared_ptr<const RootCrl> RootCrlCache::Current() const { return impl_->current.load(); }

core::Result<bool> RootCrlCache::Reload() {
  std::lock_guard lock(impl_->reload_mu);
  auto pem = impl_->store->GetConfig(std::string(kConfigRootCrl));
  if (!pem) {
    if (pem.error().code != ErrorCode::kNotFound) {
      return pem.error().WithContext("reading the root CRL");
    }
    // Removed from the store (by hand): keep serving the last good one; it is still valid.
    return false;
  }
  if (*pem == impl_->stored_pem) {
    return false;
  }
  CTLS_ASSIGN_OR_RETURN(RootCrl crl, CheckStored(*pem, impl_->root));
  impl_->current.store(std::make_shared<const RootCrl>(std::move(crl)));
  impl_->stored_pem = *std::move(pem);
  return true;
}

}  // namespace clustertls::authority
