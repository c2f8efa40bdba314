#include "authority/test_cluster_testutil.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pki/csr.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::authority {
namespace {

using pki::Must;

std::string MakeTempDir(const char* what) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ctls-" + what + ".XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl;
  }
  return tmpl;
}

// The cluster every test copies: initialised once per process, removed at exit.
struct TemplateCluster {
  TemplateCluster() : dir(MakeTempDir("cluster-template")) {
    ossl::Csprng csprng;
    core::FixedClock clock(pki::kTestReferenceTime);
    auto store = Must(store::Store::Open(dir + "/clustertls.db"), "open template store");
    sealing.emplace(Must(SealingKey::Generate(csprng)));
    Must(InitializeCluster(*store, *sealing,
                           {.fqdn = "mycluster.example.com",
                            .root_passphrase = std::string(kTestRootPassphrase)},
                           clock, csprng),
         "init template cluster");
  }
  ~TemplateCluster() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string dir;
  std::optional<SealingKey> sealing;
};

const TemplateCluster& Template() {
  static const TemplateCluster cluster;
  return cluster;
}

}  // namespace

void ClusterCaTest::SetUp() {
  const TemplateCluster& t = Template();
  dir_ = MakeTempDir("cluster-test");
  db_path_ = dir_ + "/clustertls.db";
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string from = t.dir + "/clustertls.db" + suffix;
    if (std::filesystem::exists(from)) {
      std::filesystem::copy_file(from, db_path_ + suffix);
    }
  }
  clock_.Set(pki::kTestReferenceTime);
  sealing_ = *t.sealing;
  store_ = OpenStore();
  ca_.emplace(Must(LoadClusterCa(*store_, *sealing_), "load cluster CA"));
  authority_ =
      Must(Authority::Create(*ca_, {.store = store_.get(), .clock = &clock_, .rng = &rng_}),
           "authority");
}

void ClusterCaTest::TearDown() {
  authority_.reset();
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::unique_ptr<store::Store> ClusterCaTest::OpenStore(const store::OpenOptions& options) {
  return Must(store::Store::Open(db_path_, options), "open store");
}

SignedCert ClusterCaTest::Issue(const std::string& cn, const pki::SubjectAltNames& sans, int days,
                                const std::string& profile) {
  pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
  std::string csr = Must(pki::Csr::Create(key, {.common_name = cn, .sans = sans})).ToPem();
  return Must(authority_->Sign({.csr_pem = csr,
                                .profile = profile,
                                .days = days,
                                .actor = "alice",
                                .source = "192.0.2.7"}),
              "sign " + cn);
}

std::string ClusterCaTest::WriteFile(const std::string& name, const std::string& content) const {
  const std::string path = dir_ + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  EXPECT_TRUE(out.good()) << path;
  return path;
}

std::vector<store::AuditEntry> ClusterCaTest::AllAudit(store::Store& store) {
  std::vector<store::AuditEntry> all;
  while (true) {
    auto page = Must(store.ListAudit(all.empty() ? 0 : all.back().seq, 500));
    if (page.empty()) {
      return all;
    }
    all.insert(all.end(), page.begin(), page.end());
  }
}

}  // namespace clustertls::authority
