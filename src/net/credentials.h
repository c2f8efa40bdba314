#pragma once

// A hot-swappable server TLS context (Envoy's model): a reload builds a complete new SSL_CTX
// and swaps it in only if the build succeeded; every connection takes a snapshot when it
// starts and keeps it, so a swap applies to new connections while open ones continue.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/result.h"
#include "net/tls_context.h"
#include "net/tls_policy.h"
#include "ossl/ssl_ptr.h"

namespace clustertls::net {

// Thread-safe holder of the current server SSL_CTX.
class CredentialStore {
 public:
  // Holds `initial` (a complete context from BuildServerContext; must not be null).
  explicit CredentialStore(ossl::SharedSslCtx initial) : current_(std::move(initial)) {}

  // Builds the first context; fails like BuildServerContext.
  static core::Result<std::shared_ptr<CredentialStore>> Create(const TlsPolicy& policy,
                                                               const TlsCredentials& credentials) {
    CTLS_ASSIGN_OR_RETURN(ossl::SharedSslCtx ctx, BuildServerContext(policy, credentials));
    return std::make_shared<CredentialStore>(std::move(ctx));
  }

  // The current context; the caller (a new connection) keeps it for its whole life.
  ossl::SharedSslCtx Snapshot() const {
    std::lock_guard lock(mu_);
    return current_;
  }

  // Builds a new context from `policy` and `credentials` and swaps it in. On failure the
  // current context stays, failed_reloads() grows, and the build error is returned.
  core::Result<void> Reload(const TlsPolicy& policy, const TlsCredentials& credentials) {
    auto built = BuildServerContext(policy, credentials);
    if (!built) {
      failed_reloads_.fetch_add(1, std::memory_order_relaxed);
      return built.error();
    }
    Swap(std::move(built).value());
    return {};
  }

  // Replaces the current context with `ctx` (complete, not null).
  void Swap(ossl::SharedSslCtx ctx) {
    std::lock_guard lock(mu_);
    current_ = std::move(ctx);
    reloads_.fetch_add(1, std::memory_order_relaxed);
  }

  // Successful swaps so far.
  std::uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }
  // Reloads whose build failed (the old context was kept).
  std::uint64_t failed_reloads() const { return failed_reloads_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  ossl::SharedSslCtx current_;
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> failed_reloads_{0};
};

}  // namespace clustertls::net
