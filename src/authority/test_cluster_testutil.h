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
