#pragma once

// The root CA's CRL (RFC 5280 section 5).
//
// A client that checks revocation for the whole chain (nginx `ssl_crl`, which sets OpenSSL's
// X509_V_FLAG_CRL_CHECK_ALL; `openssl verify -crl_check_all`) needs a CRL from every CA of the
// chain, the root's included: with only the issuing CA's CRL it refuses every certificate
// ("unable to get certificate CRL"). The root key is offline (encrypted under the root
// passphrase, which `serve` never has), so `serve` cannot sign the root's CRL:
//   - `init` signs it while it holds the root key (SignRootCrl), and stores it in the store's
//     config (kConfigRootCrl), where every `serve` instance reads it;
//   - `clustertls crl sign-root` re-signs it offline with the root passphrase (a new CRL number);
//   - it revokes nothing (the issuing CA is replaced, not revoked, in this version) and its
//     nextUpdate is the root's notAfter by default, so it cannot lapse while the root is valid:
//     the expired-CRL outage that easy-rsa users know cannot come from it;
//   - `serve` publishes it at GET /v1/crl/root(.pem) and appends it to GET /v1/crl.pem, so one
//     downloaded PEM file holds a CRL for every CA of the chain (RootCrlCache, reloaded by the
//     poller when another instance or `crl sign-root` changed it).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "store/store.h"

namespace clustertls::authority {

// The store config key holding the root CA's current CRL (PEM).
inline constexpr std::string_view kConfigRootCrl = "ca.root_crl";
// The counter its CRL numbers come from ("crl:<ca id>", as CrlPublisher's "crl:issuing").
inline constexpr std::string_view kRootCrlCounter = "crl:root";

// One signed root CRL.
struct RootCrl {
  std::string der;
  std::string pem;
  std::int64_t number = 0;  // cRLNumber
  core::TimePoint this_update{};
  core::TimePoint next_update{};
};

struct RootCrlOptions {
  // nextUpdate; default (nullopt) the root's notAfter. Must be after now and not after the
  // root's notAfter (kInvalidArgument).
  std::optional<core::TimePoint> next_update{};
  std::string actor = "init";   // the audit entry's actor
  std::string source = "local";  // the audit entry's source
  bool audit = true;  // false: no audit entry (init records the CRL in its own entry)
};

// Signs an empty CRL with the root key (thisUpdate = clock.Now(), cRLNumber from
// kRootCrlCounter), stores it as kConfigRootCrl (replacing the previous one) and appends the
// audit entry "crl.root.sign" (unless options.audit is false). `root_key` must be `root`'s key
// (kKeyMismatch).
core::Result<RootCrl> SignRootCrl(store::Store& store, const pki::Certificate& root,
                                  const pki::PrivateKey& root_key, const RootCrlOptions& options,
                                  const core::Clock& clock);

// Opens the stored root CA key with the root passphrase: kWrongPassphrase for a wrong one,
// kNotFound ("run clustertls init first") for a store without a cluster. Also returns the root
// certificate.
struct OpenedRoot {
  pki::Certificate root;
  pki::PrivateKey key;
};
core::Result<OpenedRoot> OpenRootCa(store::Store& store, std::string_view passphrase);

// The stored root CRL, checked: nullopt when there is none (a cluster initialised before root
// CRLs existed: `clustertls crl sign-root` makes one); kParse when the stored value is not a
// CRL, kVerifyFailed when it is not signed by `root`.
core::Result<std::optional<RootCrl>> LoadRootCrl(store::Store& store,
                                                 const pki::Certificate& root);

// The root CRL as `serve` publishes it: loaded at Create, reloaded by Reload() (the poller)
// when the stored value changed. Readers get an immutable snapshot.
class RootCrlCache {
 public:
  // Loads the stored root CRL (none is not an error; a bad one is: see LoadRootCrl).
  static core::Result<std::unique_ptr<RootCrlCache>> Create(store::Store* store,
                                                            pki::Certificate root);
  ~RootCrlCache();
  RootCrlCache(const RootCrlCache&) = delete;
  RootCrlCache& operator=(const RootCrlCache&) = delete;

  // The current root CRL, or null when the store holds none. Thread-safe.
  std::shared_ptr<const RootCrl> Current() const;

  // Reads the stored value; when it differs from the current one, checks and publishes it.
  // Returns true if it changed. A bad stored value keeps the current CRL and is an error.
  core::Result<bool> Reload();

 private:
  struct Impl;
  explicit RootCrlCache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::authority
