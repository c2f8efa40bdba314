// One Store suite, run against SQLite (a temp file; always) and PostgreSQL (the throwaway
// server of tests/pg/start_pg.sh, whose URL ctest passes in CTLS_TEST_PG_URL; the ctest entry
// `store_postgres` runs the Postgres/* instances and fails if there is no server).

#include "store/store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>

namespace clustertls::store {
namespace {

using core::ErrorCode;
using core::TimePoint;
using namespace std::chrono_literals;

const TimePoint kT0 = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};

std::string TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ctls-store-test.XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr);
  return tmpl;
}

// FNV-1a over every field: the test's stand-in for the caller's SHA-256 chain hash.
std::string TestHash(const AuditEntry& e) {
  std::string s = std::to_string(e.seq) + "|" + std::to_string(e.time.time_since_epoch().count()) +
                  "|" + e.actor + "|" + e.action + "|" + e.target + "|" + e.source + "|" +
                  e.details_json + "|" + e.prev_hash;
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h = (h ^ c) * 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

IssuedCert MakeCert(int i, const std::string& cn, const std::string& profile = "server") {
  char serial[32];
  std::snprintf(serial, sizeof serial, "%02X%08X", 0x40 + (i % 32), i);
  return IssuedCert{.serial_hex = serial,
                    .issuer_id = "issuing",
                    .profile = profile,
                    .subject_cn = cn,
                    .sans_json = "[\"DNS:" + cn + "\"]",
                    .not_before = kT0,
                    .not_after = kT0 + std::chrono::days(10 + i),
                    .der = {0x30, 0x00, 0xff, static_cast<std::uint8_t>(i), 0x00},
                    .issued_at = kT0 + std::chrono::seconds(i),
                    .issued_by = "admin"};
}

// Empties the PostgreSQL database so that every test starts from a fresh schema.
void ResetPostgres(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* r = PQexec(conn,
                       "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
                       "CREATE SCHEMA public");
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conn);
  PQclear(r);
  PQfinish(conn);
}

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = TempDir();
      url_ = "sqlite://" + dir_ + "/store.db";
    } else {
      const char* url = std::getenv("CTLS_TEST_PG_URL");
      ASSERT_TRUE(url != nullptr && *url != '\0')
          << "CTLS_TEST_PG_URL is not set: run through ctest (store_postgres)";
      url_ = url;
      ASSERT_NO_FATAL_FAILURE(ResetPostgres(url_));
    }
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) {
      std::filesystem::remove_all(dir_);
    }
  }

  // Another instance on the same database (as a second `serve` process would be).
  std::unique_ptr<Store> OpenStore() {
    auto s = Store::Open(url_);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(s).value() : nullptr;
  }

  std::string dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, MigrationsAppliedAndIdempotentOnReopen) {
  auto v = store_->SchemaVersion();
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_GE(*v, 1);
  ASSERT_TRUE(store_->SetConfig("k", "v"));
  store_.reset();
  for (int i = 0; i < 2; ++i) {
    auto again = OpenStore();
    ASSERT_NE(again, nullptr);
    auto v2 = again->SchemaVersion();
    ASSERT_TRUE(v2);
    EXPECT_EQ(*v2, *v);
    auto k = again->GetConfig("k");
    ASSERT_TRUE(k);
    EXPECT_EQ(*k, "v");
  }
}

TEST_P(StoreTest, RecordAndGetIssuedRoundTrip) {
  std::vector<IssuedCert> batch = {MakeCert(1, "a.example.com"), MakeCert(2, "b.example.com")};
  batch[1].serial_hex = "00abcdef0123456789";
  ASSERT_TRUE(store_->RecordIssued(batch));
  auto got = store_->GetIssued("00ABCDEF0123456789");  // lookups ignore case
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->serial_hex, "00ABCDEF0123456789");
  EXPECT_EQ(got->issuer_id, "issuing");
  EXPECT_EQ(got->profile, "server");
  EXPECT_EQ(got->subject_cn, "b.example.com");
  EXPECT_EQ(got->sans_json, "[\"DNS:b.example.com\"]");
  EXPECT_EQ(got->not_before, kT0);
  EXPECT_EQ(got->not_after, kT0 + std::chrono::days(12));
  EXPECT_EQ(got->der, (Blob{0x30, 0x00, 0xff, 2, 0x00}));
  EXPECT_EQ(got->issued_at, kT0 + 2s);
  EXPECT_EQ(got->issued_by, "admin");
  EXPECT_FALSE(got->revoked_at.has_value());
  EXPECT_EQ(got->revocation_reason, "");

  auto missing = store_->GetIssued("DEADBEEF");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("DEADBEEF"), std::string::npos);
  ASSERT_TRUE(store_->RecordIssued({}));  // an empty batch is a no-op
}

TEST_P(StoreTest, DuplicateSerialIsAlreadyExistsAndBatchIsAtomic) {
  IssuedCert first = MakeCert(1, "a.example.com");
  ASSERT_TRUE(store_->RecordIssued(std::span(&first, 1)));
  IssuedCert fresh = MakeCert(2, "b.example.com");
  IssuedCert dup = MakeCert(3, "c.example.com");
  dup.serial_hex = first.serial_hex;
  std::transform(dup.serial_hex.begin(), dup.serial_hex.end(), dup.serial_hex.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<IssuedCert> batch = {fresh, dup};
  auto r = store_->RecordIssued(batch);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(r.error().message.find(first.serial_hex), std::string::npos) << r.error().message;
  // Nothing of the failed batch was recorded.
  auto fresh_got = store_->GetIssued(fresh.serial_hex);
  ASSERT_FALSE(fresh_got);
  EXPECT_EQ(fresh_got.error().code, ErrorCode::kNotFound);
  auto first_got = store_->GetIssued(first.serial_hex);
  ASSERT_TRUE(first_got);
  EXPECT_EQ(first_got->subject_cn, "a.example.com");
}

TEST_P(StoreTest, InvalidSerialRefused) {
  IssuedCert bad = MakeCert(1, "a.example.com");
  bad.serial_hex = "12:34";
  auto r = store_->RecordIssued(std::span(&bad, 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->GetIssued("").error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreTest, ListIssuedPagesWithoutGapsOrDuplicates) {
  std::vector<IssuedCert> batch;
  for (int i = 0; i < 25; ++i) {
    batch.push_back(MakeCert(i, "host" + std::to_string(i) + ".example.com"));
  }
  ASSERT_TRUE(store_->RecordIssued(batch));
  std::vector<std::string> seen;
  PageRequest page{.limit = 10};
  std::vector<size_t> sizes;
  while (true) {
    auto p = store_->ListIssued({}, page);
    ASSERT_TRUE(p) << p.error().message;
    sizes.push_back(p->certs.size());
    for (const auto& c : p->certs) {
      seen.push_back(c.serial_hex);
    }
    if (p->next_cursor.empty()) {
      break;
    }
    page.cursor = p->next_cursor;
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{10, 10, 5}));
  ASSERT_EQ(seen.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(seen[i], batch[i].serial_hex);  // issuance order
  }
  auto bad = store_->ListIssued({}, {.limit = 10, .cursor = "x1"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->ListIssued({}, {.limit = 0}).error().code, ErrorCode::kInvalidArgument);
}

std::set<std::string> Cns(Store& s, const CertFilter& f) {
  auto p = s.ListIssued(f, {.limit = 1000});
  EXPECT_TRUE(p) << p.error().message;
  std::set<std::string> out;
  if (p) {
    for (const auto& c : p->certs) {
      out.insert(c.subject_cn);
    }
  }
  return out;
}

TEST_P(StoreTest, ListIssuedFilters) {
  std::vector<IssuedCert> batch = {
      MakeCert(1, "web1.example.com"), MakeCert(2, "Web2.Example.com", "peer"),
      MakeCert(3, "db.internal", "client"), MakeCert(4, "100%_odd.example.com")};
  batch[2].sans_json = "[\"DNS:db.internal\",\"DNS:replica.web.example.org\"]";
  batch[3].issuer_id = "other";
  ASSERT_TRUE(store_->RecordIssued(batch));
  ASSERT_TRUE(store_->Revoke(batch[0].serial_hex, kT0 + 1h, "keyCompromise"));

  using S = std::set<std::string>;
  // Substring of the CN or a SAN, case-insensitive.
  EXPECT_EQ(Cns(*store_, {.name_contains = "web"}),
            (S{"web1.example.com", "Web2.Example.com", "db.internal"}));
  EXPECT_EQ(Cns(*store_, {.name_contains = "EXAMPLE.COM"}),
            (S{"web1.example.com", "Web2.Example.com", "100%_odd.example.com"}));
  // LIKE wildcards in the search text are literal.
  EXPECT_EQ(Cns(*store_, {.name_contains = "%_"}), (S{"100%_odd.example.com"}));
  EXPECT_EQ(Cns(*store_, {.name_contains = "_"}), (S{"100%_odd.example.com"}));
  EXPECT_EQ(Cns(*store_, {.profile = "peer"}), (S{"Web2.Example.com"}));
  EXPECT_EQ(Cns(*store_, {.issuer_id = "other"}), (S{"100%_odd.example.com"}));
  // not_after = kT0 + 10 + i days.
  EXPECT_EQ(Cns(*store_, {.expiring_before = kT0 + std::chrono::days(13)}),
            (S{"web1.example.com", "Web2.Example.com"}));
  EXPECT_EQ(Cns(*store_, {.issued_before = kT0 + 2s}), (S{"web1.example.com"}));
  EXPECT_EQ(Cns(*store_, {.revoked = true}), (S{"web1.example.com"}));
  EXPECT_EQ(Cns(*store_, {.revoked = false}),
            (S{"Web2.Example.com", "db.internal", "100%_odd.example.com"}));
  EXPECT_EQ(Cns(*store_, {.name_contains = "web", .profile = "client", .revoked = false}),
            (S{"db.internal"}));
  // Paging with a filter.
  auto p1 = store_->ListIssued({.revoked = false}, {.limit = 2});
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1->certs.size(), 2u);
  ASSERT_FALSE(p1->next_cursor.empty());
  auto p2 = store_->ListIssued({.revoked = false}, {.limit = 2, .cursor = p1->next_cursor});
  ASSERT_TRUE(p2);
  ASSERT_EQ(p2->certs.size(), 1u);
  EXPECT_EQ(p2->certs[0].subject_cn, "100%_odd.example.com");
  EXPECT_TRUE(p2->next_cursor.empty());
}

// /metrics' soonest expiry: the first not_after among records neither revoked nor expired.
TEST_P(StoreTest, SoonestExpiringSkipsRevokedAndExpired) {
  auto none = store_->SoonestExpiring(kT0);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());

  // not_after = kT0 + 10 + i days; 7 and 8 are made to expire together.
  std::vector<IssuedCert> batch = {MakeCert(5, "e"), MakeCert(1, "a"), MakeCert(2, "b"),
                                   MakeCert(3, "c"), MakeCert(8, "h"), MakeCert(7, "g")};
  batch[4].not_after = batch[5].not_after;
  ASSERT_TRUE(store_->RecordIssued(batch));
  auto soonest = [&](TimePoint now) -> std::string {
    auto r = store_->SoonestExpiring(now);
    EXPECT_TRUE(r) << r.error().message;
    if (!r || !r->has_value()) {
      return "none";
    }
    auto cert = store_->GetIssued((*r)->serial_hex);
    EXPECT_TRUE(cert);
    EXPECT_EQ((*r)->not_after, cert->not_after);
    return cert->subject_cn;
  };
  EXPECT_EQ(soonest(kT0), "a");
  ASSERT_TRUE(store_->Revoke(batch[1].serial_hex, kT0 + 1h, "superseded"));
  EXPECT_EQ(soonest(kT0), "b");
  // At its not_after a certificate is still valid (RFC 5280 4.1.2.5); a second later it is not.
  EXPECT_EQ(soonest(kT0 + std::chrono::days(12)), "b");
  EXPECT_EQ(soonest(kT0 + std::chrono::days(12) + 1s), "c");
  ASSERT_TRUE(store_->Revoke(batch[3].serial_hex, kT0 + 1h, "superseded"));
  EXPECT_EQ(soonest(kT0 + std::chrono::days(12) + 1s), "e");
  // Equal not_after: the lower serial ("47..." before "48...").
  EXPECT_EQ(soonest(kT0 + std::chrono::days(16)), "g");
  EXPECT_EQ(soonest(kT0 + std::chrono::days(18) + 1s), "none");

  if (GetParam() == "sqlite") {
    // One probe of the partial index, never a scan of the table or a sort.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open_v2((dir_ + "/store.db").c_str(), &raw, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db.get(),
                                 "EXPLAIN QUERY PLAN SELECT serial, not_after FROM issued_certs "
                                 "WHERE revoked_at IS NULL AND not_after >= 1 ORDER BY not_after, "
                                 "serial LIMIT 1",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    std::string plan;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      plan += "\n";
    }
    sqlite3_finalize(stmt);
    // "SEARCH issued_certs USING INDEX issued_certs_valid_not_after (not_after>?)": the first
    // entry of the range is the answer (one row read for the WHERE's revoked_at), no sort.
    EXPECT_NE(plan.find("SEARCH issued_certs USING "), std::string::npos) << plan;
    EXPECT_NE(plan.find("INDEX issued_certs_valid_not_after (not_after>?)"), std::string::npos)
        << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  }
}

TEST_P(StoreTest, RevokeIsIdempotentAndListRevokedSkipsExpired) {
  std::vector<IssuedCert> batch = {MakeCert(1, "a"), MakeCert(2, "b"), MakeCert(30, "c")};
  ASSERT_TRUE(store_->RecordIssued(batch));
  auto r1 = store_->Revoke(batch[0].serial_hex, kT0 + 1h, "keyCompromise");
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_TRUE(r1->newly_revoked);
  EXPECT_EQ(r1->cert.revoked_at, kT0 + 1h);
  EXPECT_EQ(r1->cert.revocation_reason, "keyCompromise");
  auto r2 = store_->Revoke(batch[0].serial_hex, kT0 + 2h, "superseded");
  ASSERT_TRUE(r2);
  EXPECT_FALSE(r2->newly_revoked);
  EXPECT_EQ(r2->cert.revoked_at, kT0 + 1h);  // the first revocation stands
  EXPECT_EQ(r2->cert.revocation_reason, "keyCompromise");
  ASSERT_TRUE(store_->Revoke(batch[2].serial_hex, kT0 + 3h, "cessationOfOperation"));

  auto unknown = store_->Revoke("ABCDEF", kT0, "keyCompromise");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  auto all = store_->ListRevoked("issuing", kT0);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  std::map<std::string, RevokedEntry> by_serial;
  for (const auto& e : *all) {
    by_serial[e.serial_hex] = e;
  }
  ASSERT_EQ(by_serial.count(batch[2].serial_hex), 1u);
  EXPECT_EQ(by_serial[batch[2].serial_hex].revoked_at, kT0 + 3h);
  EXPECT_EQ(by_serial[batch[2].serial_hex].reason, "cessationOfOperation");
  // batch[0] expires at kT0 + 11 days (inclusive); after that only batch[2] remains.
  auto at_expiry = store_->ListRevoked("issuing", kT0 + std::chrono::days(11));
  ASSERT_TRUE(at_expiry);
  EXPECT_EQ(at_expiry->size(), 2u);
  auto later = store_->ListRevoked("issuing", kT0 + std::chrono::days(11) + 1s);
  ASSERT_TRUE(later);
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ(later->front().serial_hex, batch[2].serial_hex);
  auto other = store_->ListRevoked("other", kT0);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty());
}

TEST_P(StoreTest, ForEachRevokedStreamsListRevokedsRowsInSerialOrder) {
  const char* reasons[] = {"keyCompromise", "superseded", "unspecified", "someFutureReason"};
  std::vector<IssuedCert> batch;
  for (int i = 0; i < 300; ++i) {
    IssuedCert c = MakeCert(i, "n" + std::to_string(i));
    if (i % 3 != 0) {  // two in three revoked
      c.revoked_at = kT0 + std::chrono::seconds(7 * i);
      c.revocation_reason = reasons[i % 4];
    }
    batch.push_back(std::move(c));
  }
  IssuedCert foreign = MakeCert(1000, "foreign");
  foreign.issuer_id = "other";
  foreign.revoked_at = kT0;
  foreign.revocation_reason = "keyCompromise";
  batch.push_back(foreign);
  ASSERT_TRUE(store_->RecordIssued(batch));

  // At kT0 + 100 days the certificates i < 90 have expired (not_after = kT0 + 10 + i days).
  const auto now = kT0 + std::chrono::days(100);
  auto listed = store_->ListRevoked("issuing", now);
  ASSERT_TRUE(listed) << listed.error().message;
  std::vector<RevokedEntry> streamed;
  auto count = store_->ForEachRevoked("issuing", now, [&](const RevokedRow& r) {
    streamed.push_back({.serial_hex = std::string(r.serial_hex),
                        .revoked_at = r.revoked_at,
                        .reason = std::string(r.reason)});
    return core::Result<void>();
  });
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(*count, streamed.size());
  // i in [90, 300) not divisible by 3: 140 rows.
  ASSERT_EQ(streamed.size(), 140u);
  ASSERT_EQ(listed->size(), streamed.size());
  std::map<std::string, const IssuedCert*> by_serial;
  for (const IssuedCert& c : batch) {
    by_serial[c.serial_hex] = &c;
  }
  for (std::size_t i = 0; i < streamed.size(); ++i) {
    SCOPED_TRACE(streamed[i].serial_hex);
    EXPECT_EQ(streamed[i].serial_hex, (*listed)[i].serial_hex);
    EXPECT_EQ(streamed[i].revoked_at, (*listed)[i].revoked_at);
    EXPECT_EQ(streamed[i].reason, (*listed)[i].reason);
    if (i > 0) {
      EXPECT_LT(streamed[i - 1].serial_hex, streamed[i].serial_hex);
    }
    const IssuedCert* c = by_serial.at(streamed[i].serial_hex);
    EXPECT_EQ(c->issuer_id, "issuing");
    EXPECT_EQ(streamed[i].revoked_at, *c->revoked_at);
    EXPECT_EQ(streamed[i].reason, c->revocation_reason);
  }

  // The visitor's error stops the listing and comes back unchanged.
  int seen = 0;
  auto stopped = store_->ForEachRevoked("issuing", now, [&](const RevokedRow&) {
    return ++seen == 3 ? core::Result<void>(core::Fail(ErrorCode::kInvalidArgument, "stop here"))
                       : core::Result<void>();
  });
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().message, "stop here");
  EXPECT_EQ(seen, 3);
  // The store is still usable afterwards (the statement was reset).
  auto again = store_->ForEachRevoked("issuing", now,
                                      [](const RevokedRow&) { return core::Result<void>(); });
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 140u);

  auto none = store_->ForEachRevoked("nobody", now, [](const RevokedRow&) {
    ADD_FAILURE() << "no row expected";
    return core::Result<void>();
  });
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
}

TEST_P(StoreTest, NamedCertVersions) {
  auto missing = store_->GetNamedCert("api");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  for (int i = 1; i <= 3; ++i) {
    auto v = store_->PutNamedCert({.name = "api",
                                   .chain_pem = "chain" + std::to_string(i),
                                   .encrypted_key = {0x01, 0x00, static_cast<std::uint8_t>(i)},
                                   .created_at = kT0 + std::chrono::minutes(i),
                                   .created_by = "admin"});
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(*v, i);
  }
  ASSERT_TRUE(store_->PutNamedCert({.name = "cm", .chain_pem = "cm1", .encrypted_key = {9}}));
  auto cur = store_->GetNamedCert("api");
  ASSERT_TRUE(cur);
  EXPECT_EQ(cur->version, 3);
  EXPECT_EQ(cur->chain_pem, "chain3");
  EXPECT_EQ(cur->encrypted_key, (Blob{0x01, 0x00, 3}));
  EXPECT_EQ(cur->created_at, kT0 + 3min);
  EXPECT_EQ(cur->created_by, "admin");
  auto v2 = store_->GetNamedCert("api", 2);
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->chain_pem, "chain2");
  EXPECT_EQ(store_->GetNamedCert("api", 7).error().code, ErrorCode::kNotFound);

  auto list = store_->ListNamedCerts();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "api");
  EXPECT_EQ((*list)[0].version, 3);
  EXPECT_EQ((*list)[1].name, "cm");
  EXPECT_EQ((*list)[1].version, 1);
  auto history = store_->NamedCertHistory("api");
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].version, 1);
  EXPECT_EQ((*history)[2].version, 3);

  ASSERT_TRUE(store_->DeleteNamedCert("api"));
  EXPECT_EQ(store_->GetNamedCert("api").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->DeleteNamedCert("api").error().code, ErrorCode::kNotFound);
  // Versions never repeat, even after a delete (agents compare them).
  auto after = store_->PutNamedCert({.name = "api", .chain_pem = "chain4", .encrypted_key = {4}});
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, 4);
  EXPECT_EQ(store_->PutNamedCert({.name = ""}).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreTest, PolicyVersions) {
  EXPECT_EQ(store_->GetPolicy().error().code, ErrorCode::kNotFound);
  auto v1 = store_->PutPolicy({.json = "{\"a\":1}", .updated_at = kT0, .updated_by = "u1"}, 0);
  ASSERT_TRUE(v1) << v1.error().message;
  EXPECT_EQ(*v1, 1);
  auto again0 = store_->PutPolicy({.json = "{}", .updated_at = kT0}, 0);
  ASSERT_FALSE(again0);
  EXPECT_EQ(again0.error().code, ErrorCode::kAlreadyExists);
  auto v2 = store_->PutPolicy({.json = "{\"a\":2}", .updated_at = kT0 + 1s, .updated_by = "u2"});
  ASSERT_TRUE(v2);
  EXPECT_EQ(*v2, 2);
  auto stale = store_->PutPolicy({.json = "{\"a\":3}", .updated_at = kT0 + 2s}, 1);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kAlreadyExists);
  auto v3 = store_->PutPolicy({.json = "{\"a\":3}", .updated_at = kT0 + 3s, .updated_by = "u3"}, 2);
  ASSERT_TRUE(v3);
  EXPECT_EQ(*v3, 3);
  auto got = store_->GetPolicy();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->json, "{\"a\":3}");
  EXPECT_EQ(got->version, 3);
  EXPECT_EQ(got->updated_at, kT0 + 3s);
  EXPECT_EQ(got->updated_by, "u3");
}

TEST_P(StoreTest, UsersAndTokens) {
  User alice{.name = "alice", .role = "admin", .password_hash = "$argon2id$x", .created_at = kT0};
  ASSERT_TRUE(store_->CreateUser(alice));
  ASSERT_TRUE(store_->CreateUser({.name = "bob", .role = "reader", .password_hash = "h"}));
  auto dup = store_->CreateUser(alice);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto got = store_->GetUser("alice");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->role, "admin");
  EXPECT_EQ(got->password_hash, "$argon2id$x");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_FALSE(got->disabled);
  alice.role = "operator";
  alice.disabled = true;
  ASSERT_TRUE(store_->UpdateUser(alice));
  got = store_->GetUser("alice");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->role, "operator");
  EXPECT_TRUE(got->disabled);
  EXPECT_EQ(store_->UpdateUser({.name = "nobody"}).error().code, ErrorCode::kNotFound);
  // The name policy is kept as given, and "" (none) by default.
  EXPECT_EQ(got->name_policy, "");
  alice.name_policy = R"({"allowed_dns":["db.example.com"]})";
  ASSERT_TRUE(store_->UpdateUser(alice));
  EXPECT_EQ(store_->GetUser("alice")->name_policy, alice.name_policy);
  auto users = store_->ListUsers();
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].name, "alice");

  ApiToken t1{.id = "tok1",
              .user = "alice",
              .hash = "h1",
              .created_at = kT0,
              .expires_at = kT0 + std::chrono::days(30)};
  ASSERT_TRUE(store_->CreateToken(t1));
  ASSERT_TRUE(store_->CreateToken({.id = "tok2",
                                   .user = "bob",
                                   .hash = "h2",
                                   .name_policy = R"({"denied_ips":["10.0.0.0/8"]})"}));
  EXPECT_EQ(store_->CreateToken(t1).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateToken({.id = "tok3", .user = "ghost"}).error().code,
            ErrorCode::kNotFound);
  ASSERT_TRUE(store_->TouchToken("tok1", kT0 + 5min));
  auto tok = store_->GetToken("tok1");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->user, "alice");
  EXPECT_EQ(tok->hash, "h1");
  EXPECT_EQ(tok->expires_at, kT0 + std::chrono::days(30));
  EXPECT_EQ(tok->last_used, kT0 + 5min);
  auto tok2 = store_->GetToken("tok2");
  ASSERT_TRUE(tok2);
  EXPECT_FALSE(tok2->expires_at.has_value());
  EXPECT_FALSE(tok2->last_used.has_value());
  EXPECT_EQ(tok2->name_policy, R"({"denied_ips":["10.0.0.0/8"]})");
  EXPECT_EQ(tok->name_policy, "");
  EXPECT_EQ(store_->TouchToken("nope", kT0).error().code, ErrorCode::kNotFound);
  auto alice_tokens = store_->ListTokens("alice");
  ASSERT_TRUE(alice_tokens);
  ASSERT_EQ(alice_tokens->size(), 1u);
  auto all_tokens = store_->ListTokens();
  ASSERT_TRUE(all_tokens);
  EXPECT_EQ(all_tokens->size(), 2u);

  ASSERT_TRUE(store_->DeleteToken("tok2"));
  EXPECT_EQ(store_->DeleteToken("tok2").error().code, ErrorCode::kNotFound);
  // Every token of one user at once (a password change that revokes them), others kept.
  ASSERT_TRUE(store_->CreateToken({.id = "tok5", .user = "bob", .hash = "h5"}));
  ASSERT_TRUE(store_->CreateToken({.id = "tok4", .user = "bob", .hash = "h4"}));
  auto deleted = store_->DeleteTokensOf("bob");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(*deleted, (std::vector<std::string>{"tok4", "tok5"}));
  EXPECT_TRUE(store_->DeleteTokensOf("bob")->empty());
  EXPECT_TRUE(store_->GetToken("tok1"));
  // Deleting a user deletes its tokens.
  ASSERT_TRUE(store_->DeleteUser("alice"));
  EXPECT_EQ(store_->GetToken("tok1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetUser("alice").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->DeleteUser("alice").error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, CaRecords) {
  CaRecord root{
      .id = "root", .chain_pem = "ROOT PEM", .encrypted_key = {0, 1, 2, 0xfe}, .created_at = kT0};
  ASSERT_TRUE(store_->PutCa(root));
  ASSERT_TRUE(store_->PutCa({.id = "issuing", .chain_pem = "INT\nROOT", .encrypted_key = {7}}));
  EXPECT_EQ(store_->PutCa(root).error().code, ErrorCode::kAlreadyExists);
  auto got = store_->GetCa("root");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->chain_pem, "ROOT PEM");
  EXPECT_EQ(got->encrypted_key, (Blob{0, 1, 2, 0xfe}));
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(store_->GetCa("nope").error().code, ErrorCode::kNotFound);
  auto all = store_->ListCas();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "issuing");
}

TEST_P(StoreTest, Config) {
  EXPECT_EQ(store_->GetConfig("fqdn").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store_->SetConfig("fqdn", "a.example.com"));
  ASSERT_TRUE(store_->SetConfig("fqdn", "b.example.com"));
  ASSERT_TRUE(store_->SetConfig("base_url", "http://x"));
  auto v = store_->GetConfig("fqdn");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "b.example.com");
  auto all = store_->ListConfig();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].first, "base_url");
}

// Several instances (connections) and threads: every value is handed out once, each caller
// sees its values strictly increase, and a reopened store continues after the last value.
TEST_P(StoreTest, CountersStrictlyIncreasingAcrossThreadsAndInstances) {
  auto second = OpenStore();
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::vector<std::int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    Store* s = t % 2 == 0 ? store_.get() : second.get();
    threads.emplace_back([s, &got, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto v = s->NextCounter("crl:issuing");
        if (!v) {
          ADD_FAILURE() << v.error().message;
          return;
        }
        got[t].push_back(*v);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::set<std::int64_t> all;
  for (const auto& g : got) {
    ASSERT_EQ(g.size(), static_cast<size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));
    EXPECT_EQ(std::adjacent_find(g.begin(), g.end()), g.end());
    all.insert(g.begin(), g.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);
  auto other = store_->NextCounter("crl:other");
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, 1);
  second.reset();
  store_.reset();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  auto next = store_->NextCounter("crl:issuing");
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, kThreads * kPerThread + 1);
}

// Records and their audit entries commit together, or neither does.
TEST_P(StoreTest, RecordIssuedAuditedIsOneTransaction) {
  std::vector<IssuedCert> certs = {MakeCert(1, "a.example.com"), MakeCert(2, "b.example.com")};
  std::vector<AuditInput> audit = {{.time = kT0, .actor = "op", .action = "cert.sign"},
                                   {.time = kT0, .actor = "op", .action = "cert.sign"}};
  auto entries = store_->RecordIssuedAudited(certs, audit, TestHash);
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[1].prev_hash, (*entries)[0].hash);
  EXPECT_TRUE(store_->GetIssued(certs[1].serial_hex));

  // A duplicate serial refuses the batch: the fresh record and both audit entries are dropped.
  std::vector<IssuedCert> again = {MakeCert(3, "c.example.com"), MakeCert(1, "a.example.com")};
  auto refused = store_->RecordIssuedAudited(again, audit, TestHash);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(store_->GetIssued(again[0].serial_hex));
  auto all = store_->ListAudit(0, 10);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
}

// A batch is appended in order, linked to the entry before it and to each other.
TEST_P(StoreTest, RevokeAuditedAppendsOneEntryAndStepsTheCounterOnlyWhenItRevokes) {
  std::vector<IssuedCert> batch = {MakeCert(1, "a"), MakeCert(2, "b")};
  ASSERT_TRUE(store_->RecordIssued(batch));
  auto before = store_->PeekCounter(kRevocationCounter);
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(*before, 0);
  AuditInput audit{
      .time = kT0 + 1h, .actor = "alice", .action = "cert.revoke", .target = batch[0].serial_hex};
  auto r1 = store_->RevokeAudited(batch[0].serial_hex, kT0 + 1h, "keyCompromise", audit, TestHash);
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_TRUE(r1->newly_revoked);
  EXPECT_EQ(*store_->PeekCounter(kRevocationCounter), 1);
  // Revoking again changes nothing: no second entry, no counter step.
  auto r2 = store_->RevokeAudited(batch[0].serial_hex, kT0 + 2h, "superseded", audit, TestHash);
  ASSERT_TRUE(r2);
  EXPECT_FALSE(r2->newly_revoked);
  EXPECT_EQ(r2->cert.revocation_reason, "keyCompromise");
  EXPECT_EQ(*store_->PeekCounter(kRevocationCounter), 1);
  auto entries = store_->ListAudit(0, 100);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].action, "cert.revoke");
  EXPECT_EQ((*entries)[0].target, batch[0].serial_hex);
  // An unknown serial: kNotFound, nothing appended.
  auto unknown = store_->RevokeAudited("ABCDEF", kT0, "keyCompromise", audit, TestHash);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListAudit(0, 100)->size(), 1u);
  // A plain Revoke steps the counter too.
  ASSERT_TRUE(store_->Revoke(batch[1].serial_hex, kT0 + 3h, "superseded"));
  EXPECT_EQ(*store_->PeekCounter(kRevocationCounter), 2);
  EXPECT_EQ(*store_->PeekCounter("never-used"), 0);
}

// A selector's revocations: all in one transaction, or none.
TEST_P(StoreTest, RevokeAuditedBatchRevokesAllOrNone) {
  std::vector<IssuedCert> certs = {MakeCert(1, "a"), MakeCert(2, "b"), MakeCert(3, "c")};
  ASSERT_TRUE(store_->RecordIssued(certs));
  auto audit_for = [](const std::string& serial) {
    return AuditInput{
        .time = kT0 + 1h, .actor = "alice", .action = "cert.revoke", .target = serial};
  };
  // "b" is already revoked: left as it is, no entry for it.
  ASSERT_TRUE(store_->Revoke(certs[1].serial_hex, kT0, "superseded"));
  const std::int64_t counter = *store_->PeekCounter(kRevocationCounter);

  // One unknown serial among them: nothing changes.
  std::vector<std::string> with_unknown = {certs[0].serial_hex, "ABCDEF", certs[2].serial_hex};
  std::vector<AuditInput> audits = {audit_for(with_unknown[0]), audit_for(with_unknown[1]),
                                    audit_for(with_unknown[2])};
  auto failed =
      store_->RevokeAuditedBatch(with_unknown, kT0 + 1h, "keyCompromise", audits, TestHash);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kNotFound);
  EXPECT_NE(failed.error().message.find("ABCDEF"), std::string::npos) << failed.error().message;
  EXPECT_FALSE(store_->GetIssued(certs[0].serial_hex)->revoked_at.has_value());
  EXPECT_FALSE(store_->GetIssued(certs[2].serial_hex)->revoked_at.has_value());
  EXPECT_TRUE(store_->ListAudit(0, 100)->empty());
  EXPECT_EQ(*store_->PeekCounter(kRevocationCounter), counter);

  // Sizes must agree.
  auto mismatched = store_->RevokeAuditedBatch(
      with_unknown, kT0, "keyCompromise", std::span<const AuditInput>(audits.data(), 1), TestHash);
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error().code, ErrorCode::kInvalidArgument);

  std::vector<std::string> serials = {certs[0].serial_hex, certs[1].serial_hex,
                                      certs[2].serial_hex};
  audits = {audit_for(serials[0]), audit_for(serials[1]), audit_for(serials[2])};
  auto done = store_->RevokeAuditedBatch(serials, kT0 + 1h, "keyCompromise", audits, TestHash);
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_EQ(done->size(), 3u);
  EXPECT_TRUE((*done)[0].newly_revoked);
  EXPECT_FALSE((*done)[1].newly_revoked);
  EXPECT_EQ((*done)[1].cert.revocation_reason, "superseded");
  EXPECT_TRUE((*done)[2].newly_revoked);
  EXPECT_EQ((*done)[2].cert.revocation_reason, "keyCompromise");
  EXPECT_EQ((*done)[2].cert.revoked_at, kT0 + 1h);
  auto entries = store_->ListAudit(0, 100);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].target, serials[0]);
  EXPECT_EQ((*entries)[1].target, serials[2]);
  EXPECT_EQ((*entries)[1].prev_hash, (*entries)[0].hash);
  // One counter step for the whole batch.
  EXPECT_EQ(*store_->PeekCounter(kRevocationCounter), counter + 1);
}

TEST_P(StoreTest, AuditBatchAppendsLinkedEntriesInOrder) {
  ASSERT_TRUE(store_->AppendAudit({.time = kT0, .actor = "a", .action = "first"}, TestHash));
  std::vector<AuditInput> inputs;
  for (int i = 0; i < 3; ++i) {
    inputs.push_back(
        {.time = kT0, .actor = "b", .action = "cert.sign", .target = std::to_string(i)});
  }
  auto batch = store_->AppendAuditBatch(inputs, TestHash);
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_EQ(batch->size(), 3u);
  auto all = store_->ListAudit(0, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  for (size_t i = 1; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ((*all)[i].prev_hash, (*all)[i - 1].hash);
    EXPECT_EQ((*all)[i].target, std::to_string(i - 1));
  }
  auto empty = store_->AppendAuditBatch({}, TestHash);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// The entry with the highest seq, read whole; none for an empty log (what `serve` signs as the
// log's head).
TEST_P(StoreTest, LastAuditIsTheEntryWithTheHighestSeq) {
  auto none = store_->LastAudit();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());
  std::vector<AuditInput> inputs;
  for (int i = 0; i < 12; ++i) {
    inputs.push_back({.time = kT0 + std::chrono::seconds(i),
                      .actor = "a",
                      .action = "cert.sign",
                      .target = std::to_string(i),
                      .details_json = "{}"});
  }
  auto batch = store_->AppendAuditBatch(inputs, TestHash);
  ASSERT_TRUE(batch) << batch.error().message;
  auto last = store_->LastAudit();
  ASSERT_TRUE(last) << last.error().message;
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->seq, 12);
  EXPECT_EQ((*last)->hash, batch->back().hash);
  EXPECT_EQ((*last)->prev_hash, (*batch)[10].hash);
  EXPECT_EQ((*last)->target, "11");
  EXPECT_EQ((*last)->time, kT0 + std::chrono::seconds(11));
  EXPECT_EQ((*last)->details_json, "{}");
}

// Two instances appending from several threads: one linear chain, seq 1..N without gaps,
// each prev_hash the previous entry's hash, nothing lost.
TEST_P(StoreTest, AuditChainFromConcurrentInstancesHasNoForkOrGap) {
  auto second = OpenStore();
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    Store* s = t % 2 == 0 ? store_.get() : second.get();
    threads.emplace_back([s, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto e = s->AppendAudit({.time = kT0 + std::chrono::seconds(i),
                                 .actor = "user" + std::to_string(t),
                                 .action = "cert.issue",
                                 .target = std::to_string(i),
                                 .source = "127.0.0.1",
                                 .details_json = "{\"t\":" + std::to_string(t) + "}"},
                                TestHash);
        if (!e) {
          ADD_FAILURE() << e.error().message;
          return;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::vector<AuditEntry> entries;
  std::int64_t after = 0;
  while (true) {
    auto page = store_->ListAudit(after, 30);
    ASSERT_TRUE(page) << page.error().message;
    if (page->empty()) {
      break;
    }
    entries.insert(entries.end(), page->begin(), page->end());
    after = page->back().seq;
  }
  ASSERT_EQ(entries.size(), static_cast<size_t>(kThreads * kPerThread));
  std::map<std::string, int> per_actor;
  std::string prev;
  for (size_t i = 0; i < entries.size(); ++i) {
    const AuditEntry& e = entries[i];
    EXPECT_EQ(e.seq, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(e.prev_hash, prev) << "fork at seq " << e.seq;
    EXPECT_EQ(e.hash, TestHash(e)) << "seq " << e.seq;
    EXPECT_EQ(e.action, "cert.issue");
    EXPECT_EQ(e.source, "127.0.0.1");
    ++per_actor[e.actor];
    prev = e.hash;
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(per_actor["user" + std::to_string(t)], kPerThread);
  }
  EXPECT_EQ(entries.front().prev_hash, "");
}

// Two instances recording batches concurrently (two `serve` processes issuing): nothing lost.
TEST_P(StoreTest, ConcurrentBatchesFromTwoInstancesLoseNothing) {
  auto second = OpenStore();
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4;
  constexpr int kBatches = 5;
  constexpr int kBatchSize = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    Store* s = t % 2 == 0 ? store_.get() : second.get();
    threads.emplace_back([s, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<IssuedCert> batch;
        for (int i = 0; i < kBatchSize; ++i) {
          int n = (t * kBatches + b) * kBatchSize + i;
          batch.push_back(MakeCert(n, "n" + std::to_string(n)));
        }
        auto r = s->RecordIssued(batch);
        if (!r) {
          ADD_FAILURE() << r.error().message;
          return;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::set<std::string> serials;
  PageRequest page{.limit = 1000};
  auto p = store_->ListIssued({}, page);
  ASSERT_TRUE(p);
  for (const auto& c : p->certs) {
    serials.insert(c.serial_hex);
  }
  EXPECT_EQ(serials.size(), static_cast<size_t>(kThreads * kBatches * kBatchSize));
}

TEST_P(StoreTest, TransactCommitsEverythingOrNothing) {
  ASSERT_TRUE(store_->CreateUser({.name = "a", .role = "admin", .created_at = kT0}));
  auto before = store_->ListAudit(0, 100);
  ASSERT_TRUE(before);
  // A failure after writes (here, the audit entry's own failure stand-in) leaves none of them.
  auto failed = store_->Transact([&](Transaction& tx) -> core::Result<void> {
    CTLS_RETURN_IF_ERROR(tx.CreateUser({.name = "b", .role = "reader", .created_at = kT0}));
    CTLS_RETURN_IF_ERROR(tx.DeleteUser("a"));
    CTLS_RETURN_IF_ERROR(tx.AppendAudit({.time = kT0, .actor = "t", .action = "x"}, TestHash));
    return core::Fail(ErrorCode::kIo, "injected");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "injected");
  EXPECT_TRUE(store_->GetUser("a"));
  EXPECT_EQ(store_->GetUser("b").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListAudit(0, 100)->size(), before->size());
  // Success commits the writes and the entry together.
  auto done = store_->Transact([&](Transaction& tx) -> core::Result<void> {
    CTLS_RETURN_IF_ERROR(tx.CreateUser({.name = "b", .role = "reader", .created_at = kT0}));
    return tx.AppendAudit({.time = kT0, .actor = "t", .action = "user.create"}, TestHash)
               ? core::Result<void>()
               : core::Fail(ErrorCode::kIo, "audit");
  });
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_TRUE(store_->GetUser("b"));
  EXPECT_EQ(store_->ListAudit(0, 100)->size(), before->size() + 1);
}

// Two instances (store handles) each demote one of two admins when LockUsers shows another
// enabled admin: the lock serialises them, so the second sees the first's change and refuses.
TEST_P(StoreTest, LockUsersSerialisesRulesOverAllUsersAcrossInstances) {
  ASSERT_TRUE(store_->CreateUser({.name = "a", .role = "admin", .created_at = kT0}));
  ASSERT_TRUE(store_->CreateUser({.name = "b", .role = "admin", .created_at = kT0}));
  std::unique_ptr<Store> first = OpenStore();
  std::unique_ptr<Store> second = OpenStore();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  auto demote = [](Store& store, const std::string& name) {
    return store.Transact([&](Transaction& tx) -> core::Result<void> {
      CTLS_ASSIGN_OR_RETURN(std::vector<User> users, tx.LockUsers());
      int others = 0;
      User self;
      for (const User& u : users) {
        if (u.name == name) {
          self = u;
        } else if (u.role == "admin" && !u.disabled) {
          ++others;
        }
      }
      // Both read before either writes, unless the lock keeps the second out.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (others == 0) {
        return core::Fail(ErrorCode::kConflict, name + " is the last admin");
      }
      self.role = "reader";
      return tx.UpdateUser(self);
    });
  };
  core::Result<void> ra;
  core::Result<void> rb;
  std::atomic<int> ready{0};
  std::thread ta([&] {
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    ra = demote(*first, "a");
  });
  std::thread tb([&] {
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    rb = demote(*second, "b");
  });
  ta.join();
  tb.join();
  ASSERT_NE(static_cast<bool>(ra), static_cast<bool>(rb));
  EXPECT_EQ((ra ? rb : ra).error().code, ErrorCode::kConflict);
  auto users = store_->ListUsers();
  ASSERT_TRUE(users);
  EXPECT_EQ(
      std::count_if(users->begin(), users->end(), [](const User& u) { return u.role == "admin"; }),
      1);
}

std::vector<std::string> PostgresBackends() {
  // Present only when ctest's store_postgres passes a server; an empty value still
  // instantiates the suite, so that its SetUp fails loudly instead of silently running nothing.
  if (std::getenv("CTLS_TEST_PG_URL") != nullptr) {
    return {"postgres"};
  }
  return {};
}

// --- nodes (issue 14) ---

NodeToken MakeNodeToken(const std::string& id, const std::string& node) {
  return NodeToken{.id = id,
                   .hash = "hash-" + id,
                   .node = node,
                   .dns_json = "[\"" + node + ".example.com\"]",
                   .ips_json = "[\"10.0.0.1\"]",
                   .assign_json = "[\"proxy\"]",
                   .created_at = kT0,
                   .expires_at = kT0 + 1h,
                   .created_by = "admin"};
}

Node MakeNode(const NodeToken& t, const IssuedCert& cert) {
  return Node{.name = t.node,
              .dns_json = t.dns_json,
              .ips_json = t.ips_json,
              .assign_json = t.assign_json,
              .cert_serial = cert.serial_hex,
              .cert_not_after = cert.not_after,
              .enrolled_at = kT0 + 1min};
}

TEST_P(StoreTest, NodeTokenIsSingleUseAcrossConcurrentEnrollmentsOnTwoHandles) {
  NodeToken token = MakeNodeToken("t1", "node-a");
  AuditInput create{.time = kT0, .actor = "admin", .action = "node.token.create", .target = "t1"};
  ASSERT_TRUE(store_->CreateNodeToken(token, std::span(&create, 1), TestHash));
  auto listed = store_->ListNodeTokens(kT0);
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].node, "node-a");
  auto before = store_->PeekCounter(kClusterStateCounter);
  ASSERT_TRUE(before);

  // Twenty enrollments with the one token, on two handles (two `serve` instances): one wins.
  auto second = OpenStore();
  ASSERT_NE(second, nullptr);
  std::atomic<int> ok{0};
  std::atomic<int> denied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      Store* s = i % 2 == 0 ? store_.get() : second.get();
      IssuedCert cert = MakeCert(100 + i, "node-a", "peer");
      cert.issued_by = "node:node-a";
      AuditInput audit{
          .time = kT0, .actor = "node:node-a", .action = "node.enroll", .target = "node-a"};
      auto r = s->EnrollNode(token.hash, kT0 + 1min, MakeNode(token, cert), cert,
                             std::span(&audit, 1), TestHash);
      if (r) {
        ++ok;
      } else if (r.error().code == ErrorCode::kPermissionDenied) {
        ++denied;
      } else {
        ADD_FAILURE() << r.error().message;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(denied.load(), 19);
  auto nodes = store_->ListNodes();
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].name, "node-a");
  EXPECT_EQ((*nodes)[0].assign_json, "[\"proxy\"]");
  // Exactly one certificate recorded, one enrollment audited, the state version advanced once.
  auto certs = store_->ListIssued(CertFilter{.profile = "peer"}, PageRequest{.limit = 100});
  ASSERT_TRUE(certs);
  EXPECT_EQ(certs->certs.size(), 1u);
  auto after = store_->PeekCounter(kClusterStateCounter);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, *before + 1);
  auto audit = store_->ListAudit(0, 100);
  ASSERT_TRUE(audit);
  EXPECT_EQ(audit->size(), 2u);
  EXPECT_TRUE(store_->ListNodeTokens(kT0)->empty());
}

TEST_P(StoreTest, NodeTokenUnknownOrExpiredIsRefusedAndNothingIsWritten) {
  NodeToken token = MakeNodeToken("t2", "node-b");
  ASSERT_TRUE(store_->CreateNodeToken(token, {}, TestHash));
  IssuedCert cert = MakeCert(7, "node-b", "peer");
  auto unknown = store_->EnrollNode("no-such-hash", kT0, MakeNode(token, cert), cert, {}, TestHash);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto expired =
      store_->EnrollNode(token.hash, kT0 + 2h, MakeNode(token, cert), cert, {}, TestHash);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kExpired);
  EXPECT_NE(expired.error().message.find("t2"), std::string::npos) << expired.error().message;
  EXPECT_FALSE(store_->GetIssued(cert.serial_hex));
  EXPECT_TRUE(store_->ListNodes()->empty());
  // A duplicate serial rolls the enrollment back: the token stays unused.
  ASSERT_TRUE(store_->RecordIssued(std::span(&cert, 1)));
  auto dup = store_->EnrollNode(token.hash, kT0, MakeNode(token, cert), cert, {}, TestHash);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto still = store_->GetNodeTokenByHash(token.hash);
  ASSERT_TRUE(still);
  EXPECT_FALSE(still->used_at.has_value());
}

TEST_P(StoreTest, NodeRenewAssignReportAndRemove) {
  NodeToken token = MakeNodeToken("t3", "node-c");
  ASSERT_TRUE(store_->CreateNodeToken(token, {}, TestHash));
  IssuedCert first = MakeCert(11, "node-c", "peer");
  first.issued_by = "node:node-c";
  ASSERT_TRUE(store_->EnrollNode(token.hash, kT0, MakeNode(token, first), first, {}, TestHash));

  IssuedCert renewed = MakeCert(12, "node-c", "peer");
  renewed.issued_by = "node:node-c";
  ASSERT_TRUE(store_->RenewNodeCert("node-c", renewed, {}, TestHash));
  auto node = store_->GetNode("node-c");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->cert_serial, renewed.serial_hex);
  EXPECT_EQ(node->cert_not_after, renewed.not_after);
  EXPECT_EQ(store_->RenewNodeCert("nobody", MakeCert(13, "x", "peer"), {}, TestHash).error().code,
            ErrorCode::kNotFound);

  auto v0 = store_->PeekCounter(kClusterStateCounter);
  ASSERT_TRUE(store_->AssignNode("node-c", "[\"proxy\",\"syncer\"]", {}, TestHash));
  EXPECT_EQ(*store_->PeekCounter(kClusterStateCounter), *v0 + 1);
  EXPECT_EQ(store_->GetNode("node-c")->assign_json, "[\"proxy\",\"syncer\"]");

  ASSERT_TRUE(store_->ReportNode(
      "node-c", NodeReport{.seen = kT0 + 5min, .applied_version = 42, .agent_version = "1.2"}));
  ASSERT_TRUE(store_->ReportNode(
      "node-c", NodeReport{.seen = kT0 + 6min, .last_hook_json = "{\"exit_code\":0}"}));
  node = store_->GetNode("node-c");
  EXPECT_EQ(node->applied_version, 42);
  EXPECT_EQ(node->agent_version, "1.2");
  EXPECT_EQ(node->last_hook_json, "{\"exit_code\":0}");
  ASSERT_TRUE(node->last_seen.has_value());
  EXPECT_EQ(*node->last_seen, kT0 + 6min);

  // Batched last-seen times: forward only, a name that is not a node is skipped.
  const std::pair<std::string, TimePoint> seen[] = {{"node-c", kT0 + 5min}, {"gone", kT0}};
  ASSERT_TRUE(store_->RecordNodesSeen(seen));
  EXPECT_EQ(*store_->GetNode("node-c")->last_seen, kT0 + 6min);
  const std::pair<std::string, TimePoint> later[] = {{"node-c", kT0 + 8min}};
  ASSERT_TRUE(store_->RecordNodesSeen(later));
  EXPECT_EQ(*store_->GetNode("node-c")->last_seen, kT0 + 8min);
  EXPECT_EQ(store_->GetNode("node-c")->applied_version, 42);
  ASSERT_TRUE(store_->RecordNodesSeen({}));

  auto revocations = store_->PeekCounter(kRevocationCounter);
  auto removed =
      store_->RemoveNode("node-c", "node:node-c", kT0 + 7min, "cessationOfOperation", {}, TestHash);
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->size(), 2u);
  EXPECT_TRUE(store_->GetIssued(first.serial_hex)->revoked_at.has_value());
  EXPECT_TRUE(store_->GetIssued(renewed.serial_hex)->revoked_at.has_value());
  EXPECT_EQ(*store_->PeekCounter(kRevocationCounter), *revocations + 1);
  EXPECT_EQ(store_->GetNode("node-c").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->RemoveNode("node-c", "node:node-c", kT0, "x", {}, TestHash).error().code,
            ErrorCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Postgres, StoreTest, ::testing::ValuesIn(PostgresBackends()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreTest);

// PostgreSQL only: pooled connections that the server closed (a restart, a failover, an idle
// timeout) are replaced, not returned as errors. Instantiated only under store_postgres.
class PostgresLiveTest : public StoreTest {};

TEST_P(PostgresLiveTest, ReplacesConnectionsTheServerClosed) {
  ASSERT_TRUE(store_->SetConfig("k", "v"));
  ASSERT_TRUE(store_->NextCounter("c"));
  PGconn* admin = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(admin), CONNECTION_OK) << PQerrorMessage(admin);
  PGresult* r = PQexec(admin,
                       "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                       "WHERE application_name = 'clustertls' AND pid <> pg_backend_pid()");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(admin);
  EXPECT_GE(PQntuples(r), 1);
  PQclear(r);
  PQfinish(admin);
  auto v = store_->GetConfig("k");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, "v");
  auto c = store_->NextCounter("c");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*c, 2);
}

// Ends every connection of the stores under test (application_name clustertls) from another
// session, as a restart of PostgreSQL (pg_ctl restart -m fast) does.
void TerminateStoreBackends(const std::string& url) {
  PGconn* admin = PQconnectdb(url.c_str());
  ASSERT_EQ(PQstatus(admin), CONNECTION_OK) << PQerrorMessage(admin);
  PGresult* r = PQexec(admin,
                       "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                       "WHERE application_name = 'clustertls' AND pid <> pg_backend_pid()");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(admin);
  EXPECT_GE(PQntuples(r), 1);
  PQclear(r);
  PQfinish(admin);
}

// Nothing of a transaction whose connection the server ended was committed: it runs again on a
// fresh connection, once, and the caller never sees the loss.
TEST_P(PostgresLiveTest, TransactionWhoseConnectionEndsRunsAgainOnAFreshOne) {
  int calls = 0;
  auto r = store_->Transact([&](Transaction& tx) -> core::Result<void> {
    if (++calls == 1) {
      TerminateStoreBackends(url_);
    }
    return tx.CreateUser(User{.name = "carol", .role = "reader", .created_at = kT0});
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(calls, 2);
  auto users = store_->ListUsers();
  ASSERT_TRUE(users);
  EXPECT_EQ(
      std::count_if(users->begin(), users->end(), [](const User& u) { return u.name == "carol"; }),
      1);
}

// A single write on a connection the server ended may or may not have been applied, so it is
// not sent again: kUnavailable (a 503 for an API client, never a 500), and the next write gets
// a fresh connection.
TEST_P(PostgresLiveTest, WriteOnAnEndedConnectionIsUnavailable) {
  ASSERT_TRUE(store_->SetConfig("k", "v"));
  ASSERT_NO_FATAL_FAILURE(TerminateStoreBackends(url_));
  auto r = store_->CreateUser(User{.name = "dave", .role = "reader", .created_at = kT0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
  auto again = store_->CreateUser(User{.name = "erin", .role = "reader", .created_at = kT0});
  ASSERT_TRUE(again) << again.error().message;
}

INSTANTIATE_TEST_SUITE_P(Postgres, PostgresLiveTest, ::testing::ValuesIn(PostgresBackends()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PostgresLiveTest);

// --- errors that name their cause ---

TEST(SqliteErrors, NotADatabaseIsIoErrorNamingFileAndRecovery) {
  std::string dir = TempDir();
  std::string path = dir + "/garbage.db";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'x') << "this is not a database";
  }
  auto s = Store::Open(path);
  ASSERT_FALSE(s);
  // kIo, not kParse: a store failure, never the client's input (a 500 from the API).
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("not a SQLite database"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find(".recover"), std::string::npos) << s.error().message;
  std::filesystem::remove_all(dir);
}

// --- a damaged SQLite file ---

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The page size from the database header (RFC-less: sqlite.org/fileformat.html, offset 16,
// big-endian; 1 means 65536).
std::size_t PageSize(const std::string& path) {
  std::string header = ReadFile(path).substr(0, 100);
  EXPECT_EQ(header.size(), 100u);
  const std::size_t v =
      (static_cast<unsigned char>(header[16]) << 8) | static_cast<unsigned char>(header[17]);
  return v == 1 ? 65536 : v;
}

// Writes `count` pages of pseudo-random bytes (fixed seed: the same bytes every run) over the
// pages of `path` starting at page `first` (1-based), as an attacker or a failing disk would.
void DamagePages(const std::string& path, std::size_t first, std::size_t count) {
  const std::size_t page = PageSize(path);
  std::mt19937 rng(20260101);
  std::string bytes(page * count, '\0');
  for (char& c : bytes) {
    c = static_cast<char>(rng() & 0xff);
  }
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  ASSERT_TRUE(f.is_open()) << path;
  f.seekp(static_cast<std::streamoff>((first - 1) * page));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good());
}

// A store with enough rows to span many pages: 300 certificates of 800-byte DERs and their
// audit entries.
void FillStore(Store& store) {
  std::vector<IssuedCert> certs;
  std::vector<AuditInput> audit;
  for (int i = 0; i < 300; ++i) {
    IssuedCert c = MakeCert(i, "host" + std::to_string(i) + ".example.com");
    c.der.assign(800, static_cast<std::uint8_t>(i));
    certs.push_back(std::move(c));
    audit.push_back({.time = kT0,
                     .actor = "admin",
                     .action = "cert.sign",
                     .target = certs.back().serial_hex,
                     .source = "local",
                     .details_json = "{\"i\":" + std::to_string(i) + "}"});
  }
  ASSERT_TRUE(store.RecordIssuedAudited(certs, audit, TestHash));
}

TEST(SqliteDamage, OpenRefusesADamagedFileWithQuickChecksFindingAndTheRecoverySteps) {
  std::string dir = TempDir();
  std::string path = dir + "/clustertls.db";
  {
    auto s = Store::Open(path);
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_NO_FATAL_FAILURE(FillStore(**s));
  }  // the last connection closed: the WAL is checkpointed into the file and removed
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));
  const std::size_t pages = std::filesystem::file_size(path) / PageSize(path);
  ASSERT_GE(pages, 60u);
  // Two whole pages in the middle of the file, as the attack's 2,000 bytes landed there.
  ASSERT_NO_FATAL_FAILURE(DamagePages(path, pages / 2, 2));
  const std::string damaged = ReadFile(path);

  auto s = Store::Open(path);
  ASSERT_FALSE(s) << "a damaged file was opened";
  const std::string& m = s.error().message;
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("damaged"), std::string::npos) << m;
  EXPECT_NE(m.find("PRAGMA quick_check: "), std::string::npos) << m;
  // quick_check's own words for what it found: "Page 53: btreeInitPage() returns error code 11"
  // for each of the two pages (SQLITE_CORRUPT is 11).
  for (std::size_t page : {pages / 2, pages / 2 + 1}) {
    EXPECT_NE(m.find("Page " + std::to_string(page) + ": btreeInitPage() returns error code 11"),
              std::string::npos)
        << m;
  }
  for (const char* step : {"stop every clustertls serve", "keep a copy", "backup", ".recover",
                           "clustertls audit verify --data-dir", "A damaged SQLite store"}) {
    EXPECT_NE(m.find(step), std::string::npos) << "no '" << step << "' in: " << m;
  }
  EXPECT_EQ(m.find('\n'), std::string::npos) << "not one line: " << m;
  // Refused before anything was written to it (a migration, an audit entry).
  EXPECT_EQ(ReadFile(path), damaged);
  std::filesystem::remove_all(dir);
}

TEST(SqliteDamage, DamageSeenAtRunTimeIsAnIoErrorAndTheRestOfTheStoreStillAnswers) {
  std::string dir = TempDir();
  std::string path = dir + "/clustertls.db";
  auto opened = Store::Open(path);
  ASSERT_TRUE(opened) << opened.error().message;
  Store& store = **opened;
  ASSERT_NO_FATAL_FAILURE(FillStore(store));
  ASSERT_TRUE(store.SetConfig("k", "v"));
  // Another process (sqlite3) moves the WAL into the file, then the audit table's first page is
  // overwritten while the store is open: quick_check at Open could not have seen it.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  ASSERT_EQ(sqlite3_exec(db.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db.get(), "SELECT rootpage FROM sqlite_master WHERE name = 'audit_log'",
                         -1, &stmt, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const auto root = static_cast<std::size_t>(sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  db.reset();
  ASSERT_NO_FATAL_FAILURE(DamagePages(path, root, 1));

  auto audit = store.ListAudit(0, 1000);
  ASSERT_FALSE(audit) << "read " << audit->size() << " entries from a damaged table";
  // kIo (a 500 whose message stays in the server log), not kParse (a 400 that showed it).
  EXPECT_EQ(audit.error().code, ErrorCode::kIo) << audit.error().message;
  EXPECT_NE(audit.error().message.find("damaged"), std::string::npos) << audit.error().message;
  auto append = store.AppendAudit({.time = kT0,
                                   .actor = "a",
                                   .action = "x",
                                   .target = "t",
                                   .source = "local",
                                   .details_json = "{}"},
                                  TestHash);
  ASSERT_FALSE(append);
  EXPECT_EQ(append.error().code, ErrorCode::kIo);
  // The undamaged tables still answer.
  auto config = store.GetConfig("k");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(*config, "v");
  auto page = store.ListIssued({}, {.limit = 10});
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->certs.size(), 10u);
  opened->reset();
  // And the next Open refuses the file.
  auto again = Store::Open(path);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("PRAGMA quick_check"), std::string::npos)
      << again.error().message;
  std::filesystem::remove_all(dir);
}

TEST(SqliteErrors, BusyBeyondEveryRetryIsUnavailable) {
  // Another process holds the write lock for longer than the busy timeout and every retry:
  // kUnavailable (a 503 with Retry-After), neither kUnsupported (a 415 that blamed the client)
  // nor kIo (a 500 that looked like a broken store).
  std::string dir = TempDir();
  std::string path = dir + "/s.db";
  auto opened = Store::Open(path, {.busy_timeout_ms = 20});
  ASSERT_TRUE(opened) << opened.error().message;
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  ASSERT_EQ(sqlite3_exec(db.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = (*opened)->SetConfig("k", "v");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
  auto tx = (*opened)->Transact([](Transaction& t) { return t.DeleteUser("nobody"); });
  ASSERT_FALSE(tx);
  EXPECT_EQ(tx.error().code, ErrorCode::kUnavailable) << tx.error().message;
  sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  EXPECT_TRUE((*opened)->SetConfig("k", "v"));
  std::filesystem::remove_all(dir);
}

TEST(SqliteErrors, UnopenablePathIsIoErrorNamingFile) {
  std::string dir = TempDir();
  std::string path = dir + "/no/such/dir/store.db";
  auto s = Store::Open("sqlite://" + path);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
  std::filesystem::remove_all(dir);
}

TEST(SqliteFile, CreatedOwnerOnlyAndSurvivesReopenOfPlainPath) {
  std::string dir = TempDir();
  {
    auto s = Store::Open(dir + "/s.db");
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE((*s)->SetConfig("a", "b"));
  }
  EXPECT_EQ(std::filesystem::status(dir + "/s.db").permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto s = Store::Open("sqlite://" + dir + "/s.db");
  ASSERT_TRUE(s);
  auto v = (*s)->GetConfig("a");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "b");
  std::filesystem::remove_all(dir);
}

// Another process (the sqlite3 CLI) opening and closing the file while Stores are open must
// find their locks and leave the -wal and -shm files alone. Opening a connection used to
// open() and close() the file first, and closing any descriptor drops every POSIX lock the
// process holds on that file: the CLI then took the exclusive lock, checkpointed and deleted the
// WAL under the open store, whose later commits went to a deleted file (invisible to other
// processes, lost on a crash; found by test_serve_audit_head.sh's burst of 32 signers).
TEST(SqliteFile, AnotherProcessLeavesTheWalOfOpenStores) {
  const std::string dir = TempDir();
  const std::string path = dir + "/s.db";
  // `sqlite3 FILE SQL`, as an operator would run it: its output.
  auto cli = [&](const std::string& sql) {
    std::string out;
    FILE* p = ::popen(("timeout 20 sqlite3 '" + path + "' \"" + sql + "\" 2>&1").c_str(), "r");
    if (p == nullptr) {
      ADD_FAILURE() << "cannot run the sqlite3 CLI";
      return out;
    }
    char buf[256];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
      out += buf;
    }
    EXPECT_EQ(::pclose(p), 0) << out;
    return out;
  };
  auto a = Store::Open(path);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE((*a)->SetConfig("k", "1"));
  // More connections on the same file while the first ones hold their locks: a second store
  // (a pool growing under load opens them the same way).
  auto b = Store::Open(path);
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_TRUE((*b)->SetConfig("k", "2"));
  ASSERT_TRUE(std::filesystem::exists(path + "-wal"));
  EXPECT_EQ(cli("SELECT value FROM config WHERE key = 'k'"), "2\n");
  EXPECT_TRUE(std::filesystem::exists(path + "-wal")) << "the CLI deleted the open store's WAL";
  EXPECT_TRUE(std::filesystem::exists(path + "-shm")) << "the CLI deleted the open store's shm";
  // A commit made after the CLI's visit is visible to the next one.
  ASSERT_TRUE((*a)->SetConfig("k", "3"));
  EXPECT_EQ(cli("SELECT value FROM config WHERE key = 'k'"), "3\n");
  a->reset();
  b->reset();
  std::filesystem::remove_all(dir);
}

// A server that cannot be reached (down, restarting, unreachable) is kUnavailable: a 503 with
// Retry-After for an API client whose request meets it, not a 500.
TEST(PostgresErrors, UnreachableUrlIsUnavailableWithoutPassword) {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  auto s = Store::Open("postgres://ctls:S3cretPw@127.0.0.1:1/db", {.connect_timeout_s = 2});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s.error().message.find("S3cretPw"), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().detail.find("S3cretPw"), std::string::npos);
  EXPECT_NE(s.error().message.find("postgres://ctls:***@127.0.0.1:1/db"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("cannot connect"), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find('\n'), std::string::npos);
}

TEST(StoreOpen, UnknownSchemeRefused) {
  auto s = Store::Open("mysql://u:pw@h/db");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message.find("pw@"), std::string::npos);
  EXPECT_EQ(Store::Open("").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Store::Open("x.db", {.pool_size = 0}).error().code, ErrorCode::kInvalidArgument);
}

TEST(RedactUrl, RemovesPasswords) {
  EXPECT_EQ(RedactUrl("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
  EXPECT_EQ(RedactUrl("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(RedactUrl("postgres://h/db?user=u&password=pw&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require");
  EXPECT_EQ(RedactUrl("postgres://u:p%40ss@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(RedactUrl("/var/lib/x.db"), "/var/lib/x.db");
}

}  // namespace
}  // namespace clustertls::store
