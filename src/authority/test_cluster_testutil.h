#pragma once

// A test fixture for authority/ tests that need a real cluster CA in a real SQLite file: one
// cluster is initialised per test binary (init costs a scrypt hash and a PBKDF2-encrypted root
// key) and every test starts from a copy of its database file in a fresh temporary directory.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "authority/authority.h"
#include "authority/cluster.h"
#include "authority/secrets.h"
#include "core/time.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "store/store.h"

namespace clustertls::authority {

// A Store that forwards every call to `inner` (not owned): tests override a method to inject a
// failure.
class ForwardingStore : public store::Store {
 public:
  explicit ForwardingStore(store::Store* inner) : inner_(inner) {}

  core::Result<int> SchemaVersion() override { return inner_->SchemaVersion(); }
  core::Result<void> RecordIssued(std::span<const store::IssuedCert> certs) override {
    return inner_->RecordIssued(certs);
  }
  core::Result<std::vector<store::AuditEntry>> RecordIssuedAudited(
      std::span<const store::IssuedCert> certs, std::span<const store::AuditInput> audit,
      const store::AuditHasher& hasher) override {
    return inner_->RecordIssuedAudited(certs, audit, hasher);
  }
  core::Result<store::IssuedCert> GetIssued(const std::string& serial_hex) override {
    return inner_->GetIssued(serial_hex);
  }
  core::Result<std::optional<store::ExpiringCert>> SoonestExpiring(core::TimePoint now) override {
    return inner_->SoonestExpiring(now);
  }
  core::Result<store::CertPage> ListIssued(const store::CertFilter& filter,
                                           const store::PageRequest& page) override {
    return inner_->ListIssued(filter, page);
  }
  core::Result<store::RevokeResult> Revoke(const std::string& serial_hex, core::TimePoint at,
                                           const std::string& reason) override {
    return inner_->Revoke(serial_hex, at, reason);
  }
  core::Result<store::RevokeResult> RevokeAudited(const std::string& serial_hex, core::TimePoint at,
                                                  const std::string& reason,
                                                  const store::AuditInput& audit,
                                                  const store::AuditHasher& hasher) override {
    return inner_->RevokeAudited(serial_hex, at, reason, audit, hasher);
  }
  core::Result<std::vector<store::RevokeResult>> RevokeAuditedBatch(
      std::span<const std::string> serials, core::TimePoint at, const std::string& reason,
      std::span<const store::AuditInput> audit, const store::AuditHasher& hasher) override {
    return inner_->RevokeAuditedBatch(serials, at, reason, audit, hasher);
  }
  core::Result<std::vector<store::RevokedEntry>> ListRevoked(const std::string& issuer_id,
                                                             core::TimePoint now) override {
    return inner_->ListRevoked(issuer_id, now);
  }
  core::Result<std::int64_t> PutNamedCert(const store::NamedCert& cert) override {
    return inner_->PutNamedCert(cert);
  }
  core::Result<store::NamedCert> GetNamedCert(const std::string& name,
                                              std::optional<std::int64_t> version) override {
    return inner_->GetNamedCert(name, version);
  }
  core::Result<std::vector<store::NamedCert>> ListNamedCerts() override {
    return inner_->ListNamedCerts();
  }
  core::Result<std::vector<store::NamedCert>> NamedCertHistory(const std::string& name) override {
    return inner_->NamedCertHistory(name);
  }
  core::Result<void> DeleteNamedCert(const std::string& name) override {
    return inner_->DeleteNamedCert(name);
  }
  core::Result<store::PolicyDoc> GetPolicy() override { return inner_->GetPolicy(); }
  core::Result<std::int64_t> PutPolicy(const store::PolicyDoc& policy,
                                       std::optional<std::int64_t> expected_version) override {
    return inner_->PutPolicy(policy, expected_version);
  }
  core::Result<void> CreateUser(const store::User& user) override {
    return inner_->CreateUser(user);
  }
  core::Result<store::User> GetUser(const std::string& name) override {
    return inner_->GetUser(name);
  }
  core::Result<std::vector<store::User>> ListUsers() override { return inner_->ListUsers(); }
  core::Result<void> UpdateUser(const store::User& user) override {
    return inner_->UpdateUser(user);
  }
  core::Result<void> DeleteUser(const std::string& name) override {
    return inner_->DeleteUser(name);
  }
  core::Result<void> CreateToken(const store::ApiToken& token) override {
    return inner_->CreateToken(token);
  }
  core::Result<store::ApiToken> GetToken(const std::string& id) override {
    return inner_->GetToken(id);
  }
  core::Result<std::vector<store::ApiToken>> ListTokens(const std::string& user) override {
    return inner_->ListTokens(user);
  }
  core::Result<void> DeleteToken(const std::string& id) override { return inner_->DeleteToken(id); }
  core::Result<std::vector<std::string>> DeleteTokensOf(const std::string& user) override {
    return inner_->DeleteTokensOf(user);
  }
  core::Result<void> TouchToken(const std::string& id, core::TimePoint at) override {
    return inner_->TouchToken(id, at);
  }
  core::Result<store::AuditEntry> AppendAudit(const store::AuditInput& input,
                                              const store::AuditHasher& hasher) override {
    return inner_->AppendAudit(input, hasher);
  }
  core::Result<std::vector<store::AuditEntry>> AppendAuditBatch(
      std::span<const store::AuditInput> inputs, const store::AuditHasher& hasher) override {
    return inner_->AppendAuditBatch(inputs, hasher);
  }
  core::Result<std::vector<store::AuditEntry>> ListAudit(std::int64_t after_seq,
                                                         int limit) override {
    return inner_->ListAudit(after_seq, limit);
  }
  core::Result<std::optional<store::AuditEntry>> LastAudit() override {
    return inner_->LastAudit();
  }
  core::Result<void> Transact(const store::TransactionFn& fn) override {
    return inner_->Transact(fn);
  }
  core::Result<void> PutCa(const store::CaRecord& ca) override { return inner_->PutCa(ca); }
  core::Result<store::CaRecord> GetCa(const std::string& id) override { return inner_->GetCa(id); }
  core::Result<std::vector<store::CaRecord>> ListCas() override { return inner_->ListCas(); }
  core::Result<std::int64_t> NextCounter(const std::string& name) override {
    return inner_->NextCounter(name);
  }
  core::Result<std::int64_t> PeekCounter(const std::string& name) override {
    return inner_->PeekCounter(name);
  }
  core::Result<std::string> GetConfig(const std::string& key) override {
    return inner_->GetConfig(key);
  }
  core::Result<void> SetConfig(const std::string& key, const std::string& value) override {
    return inner_->SetConfig(key, value);
  }
  core::Result<std::vector<std::pair<std::string, std::string>>> ListConfig() override {
    return inner_->ListConfig();
  }
  core::Result<void> CreateNodeToken(const store::NodeToken& token,
                                     std::span<const store::AuditInput> audit,
                                     const store::AuditHasher& hasher) override {
    return inner_->CreateNodeToken(token, audit, hasher);
  }
  core::Result<store::NodeToken> GetNodeTokenByHash(const std::string& hash) override {
    return inner_->GetNodeTokenByHash(hash);
  }
  core::Result<std::vector<store::NodeToken>> ListNodeTokens(core::TimePoint now) override {
    return inner_->ListNodeTokens(now);
  }
  core::Result<void> EnrollNode(const std::string& token_hash, core::TimePoint now,
                                const store::Node& node, const store::IssuedCert& cert,
                                std::span<const store::AuditInput> audit,
                                const store::AuditHasher& hasher) override {
    return inner_->EnrollNode(token_hash, now, node, cert, audit, hasher);
  }
  core::Result<void> RenewNodeCert(const std::string& name, const store::IssuedCert& cert,
                                   std::span<const store::AuditInput> audit,
                                   const store::AuditHasher& hasher) override {
    return inner_->RenewNodeCert(name, cert, audit, hasher);
  }
  core::Result<store::Node> GetNode(const std::string& name) override {
    return inner_->GetNode(name);
  }
  core::Result<std::vector<store::Node>> ListNodes() override { return inner_->ListNodes(); }
  core::Result<void> AssignNode(const std::string& name, const std::string& assign_json,
                                std::span<const store::AuditInput> audit,
                                const store::AuditHasher& hasher) override {
    return inner_->AssignNode(name, assign_json, audit, hasher);
  }
  core::Result<std::vector<std::string>> RemoveNode(const std::string& name,
                                                    const std::string& issued_by,
                                                    core::TimePoint at, const std::string& reason,
                                                    std::span<const store::AuditInput> audit,
                                                    const store::AuditHasher& hasher) override {
    return inner_->RemoveNode(name, issued_by, at, reason, audit, hasher);
  }
  core::Result<void> ReportNode(const std::string& name, const store::NodeReport& report) override {
    return inner_->ReportNode(name, report);
  }
  core::Result<void> RecordNodesSeen(
      std::span<const std::pair<std::string, core::TimePoint>> seen) override {
    return inner_->RecordNodesSeen(seen);
  }

 protected:
  store::Store* inner_;
};

// A Transaction that forwards every call to `inner` (not owned): tests override a method to
// inject a failure inside a Store::Transact (ForwardingStore::Transact can wrap the inner one).
class ForwardingTransaction : public store::Transaction {
 public:
  explicit ForwardingTransaction(store::Transaction* inner) : inner_(inner) {}

  core::Result<std::vector<store::User>> LockUsers() override { return inner_->LockUsers(); }
  core::Result<void> CreateUser(const store::User& user) override {
    return inner_->CreateUser(user);
  }
  core::Result<void> UpdateUser(const store::User& user) override {
    return inner_->UpdateUser(user);
  }
  core::Result<void> DeleteUser(const std::string& name) override {
    return inner_->DeleteUser(name);
  }
  core::Result<void> CreateToken(const store::ApiToken& token) override {
    return inner_->CreateToken(token);
  }
  core::Result<store::ApiToken> GetToken(const std::string& id) override {
    return inner_->GetToken(id);
  }
  core::Result<void> DeleteToken(const std::string& id) override { return inner_->DeleteToken(id); }
  core::Result<std::vector<std::string>> DeleteTokensOf(const std::string& user) override {
    return inner_->DeleteTokensOf(user);
  }
  core::Result<std::int64_t> PutNamedCert(const store::NamedCert& cert) override {
    return inner_->PutNamedCert(cert);
  }
  core::Result<void> DeleteNamedCert(const std::string& name) override {
    return inner_->DeleteNamedCert(name);
  }
  core::Result<std::int64_t> PutPolicy(const store::PolicyDoc& policy,
                                       std::optional<std::int64_t> expected_version) override {
    return inner_->PutPolicy(policy, expected_version);
  }
  core::Result<store::AuditEntry> AppendAudit(const store::AuditInput& input,
                                              const store::AuditHasher& hasher) override {
    return inner_->AppendAudit(input, hasher);
  }

 protected:
  store::Transaction* inner_;
};

// A store whose transactions (Store::Transact) fail every audit append with kIo: the change
// that came with it must roll back.
class FailingAuditStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  core::Result<void> Transact(const store::TransactionFn& fn) override {
    return inner_->Transact([&](store::Transaction& tx) {
      FailingAudit failing(&tx);
      return fn(failing);
    });
  }

 private:
  class FailingAudit : public ForwardingTransaction {
   public:
    using ForwardingTransaction::ForwardingTransaction;
    core::Result<store::AuditEntry> AppendAudit(const store::AuditInput&,
                                                const store::AuditHasher&) override {
      return core::Fail(core::ErrorCode::kIo, "audit log: injected failure");
    }
  };
};

// The root CA passphrase of ClusterCaTest's cluster.
inline constexpr std::string_view kTestRootPassphrase = "test-root-passphrase";

class ClusterCaTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Another Store on the same database file: a second `serve` instance.
  std::unique_ptr<store::Store> OpenStore(const store::OpenOptions& options = {});

  // Signs a CSR for `cn` with `sans` through the Authority (so its record and cert.sign audit
  // entry exist), valid `days` from clock_'s now.
  SignedCert Issue(const std::string& cn, const pki::SubjectAltNames& sans = {}, int days = 30,
                   const std::string& profile = "server");

  // Writes `content` to dir_/name and returns the path.
  std::string WriteFile(const std::string& name, const std::string& content) const;

  // Every audit entry of `store`, in order.
  static std::vector<store::AuditEntry> AllAudit(store::Store& store);

  std::string dir_;
  std::string db_path_;
  core::FixedClock clock_{core::TimePoint{}};
  ossl::Csprng rng_;
  std::optional<SealingKey> sealing_;
  std::optional<ClusterCa> ca_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Authority> authority_;
};

}  // namespace clustertls::authority
