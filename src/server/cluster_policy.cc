#include "server/cluster_policy.h"

#include <string>
#include <utility>

#include "net/tls_context.h"
#include "pki/certificate.h"

namespace clustertls::server {

core::Result<DefaultClientCheckOptions> ClientCheckOptionsFor(store::Store& store,
                                                              core::TimePoint now, core::Rng* rng) {
  DefaultClientCheckOptions options{.now = now, .rng = rng};
  for (auto [name, slot] :
       {std::pair{"api", &options.control_key}, std::pair{"proxy", &options.data_key}}) {
    auto named = store.GetNamedCert(name);
    if (!named) {
      if (named.error().code == core::ErrorCode::kNotFound && slot == &options.data_key) {
        *slot = pki::KeyType::kEcP256;  // no data-path certificate yet: the default key type
        continue;
      }
      return named.error().WithContext(std::string("certificate \"") + name + "\"");
    }
    CTLS_ASSIGN_OR_RETURN(pki::Certificate leaf, pki::Certificate::FromPem(named->chain_pem));
    auto type = net::IdentityKeyTypeFor(leaf.public_key());
    if (!type) {
      return type.error().WithContext(std::string("certificate \"") + name + "\"");
    }
    *slot = *type;
  }
  return options;
}

}  // namespace clustertls::server
