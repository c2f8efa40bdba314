#include "authority/data_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/files.h"
#include "ossl/csprng.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ctls-datadir-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string P(std::string_view name) const { return dir_ + "/" + std::string(name); }

  void WriteConfig(std::string_view text) {
    ASSERT_TRUE(
        core::WriteFileAtomic(P("clustertls.json"), text, {.mode = 0600, .overwrite = true}));
  }

  static mode_t ModeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  DataDirConfig Config() const {
    return DataDirConfig{.fqdn = "cluster.example.com",
                         .store_url = "postgres://ctls:pw@127.0.0.1:5432/ctls"};
  }

  std::string dir_;
};

TEST_F(DataDirTest, ConfigRoundTripIs0600) {
  DataDirConfig c = Config();
  c.listen = "0.0.0.0:9443";
  ASSERT_TRUE(SaveDataDirConfig(dir_, c));
  EXPECT_EQ(ModeOf(P("clustertls.json")), 0600u);
  auto loaded = LoadDataDirConfig(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->fqdn, c.fqdn);
  EXPECT_EQ(loaded->store_url, c.store_url);
  EXPECT_EQ(loaded->listen, "0.0.0.0:9443");
  EXPECT_EQ(loaded->sealing_key_file, "sealing.key");
  // A trailing slash on the directory is fine.
  EXPECT_TRUE(LoadDataDirConfig(dir_ + "/"));
}

TEST_F(DataDirTest, SaveRefusesToOverwriteAndEmptyFields) {
  ASSERT_TRUE(SaveDataDirConfig(dir_, Config()));
  auto again = SaveDataDirConfig(dir_, Config());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);

  DataDirConfig empty = Config();
  empty.fqdn.clear();
  auto r = SaveDataDirConfig(P("other"), empty);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("fqdn"), std::string::npos);
}

TEST_F(DataDirTest, OptionalFieldsDefault) {
  WriteConfig(R"({"fqdn": "a.example.com", "store_url": "sqlite:///x/clustertls.db"})");
  auto loaded = LoadDataDirConfig(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->listen, "127.0.0.1:9443");
  EXPECT_EQ(loaded->sealing_key_file, "sealing.key");
  // Data directories made before issue 4 have no public listener fields.
  EXPECT_EQ(loaded->public_listen, "127.0.0.1:9080");
  EXPECT_EQ(loaded->public_url, "");
}

TEST_F(DataDirTest, PublicListenerFieldsRoundTrip) {
  DataDirConfig c = Config();
  c.public_listen = "off";
  c.public_url = "https://ca.example.com:8443";
  ASSERT_TRUE(SaveDataDirConfig(dir_, c));
  auto loaded = LoadDataDirConfig(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->public_listen, "off");
  EXPECT_EQ(loaded->public_url, "https://ca.example.com:8443");
}

TEST_F(DataDirTest, EmptyPublicUrlIsLeftOutOfTheFile) {
  DataDirConfig c = Config();
  c.public_listen = "0.0.0.0:9080";
  ASSERT_TRUE(SaveDataDirConfig(dir_, c));
  auto text = core::ReadFile(P("clustertls.json"), 1 << 20);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("\"public_listen\": \"0.0.0.0:9080\""), std::string::npos) << *text;
  EXPECT_EQ(text->find("public_url"), std::string::npos) << *text;
  auto loaded = LoadDataDirConfig(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->public_listen, "0.0.0.0:9080");
  EXPECT_EQ(loaded->public_url, "");
}

// A SQLite database named relative to the data directory follows the directory: a copy opens
// its own copy. Absolute paths (data directories made before) and PostgreSQL stay as written.
TEST_F(DataDirTest, RelativeSqlitePathFollowsTheDirectory) {
  DataDirConfig c = Config();
  c.store_url = std::string(kDefaultStoreUrl);
  ASSERT_TRUE(SaveDataDirConfig(dir_, c));
  auto text = core::ReadFile(P("clustertls.json"), 1 << 20);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("\"store_url\": \"sqlite://clustertls.db\""), std::string::npos) << *text;
  auto loaded = LoadDataDirConfig(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->store_url, "sqlite://" + dir_ + "/clustertls.db");

  const std::string copy = P("copy");
  std::filesystem::create_directory(copy);
  std::filesystem::copy(dir_ + "/clustertls.json", copy + "/clustertls.json",
                        std::filesystem::copy_options::none);
  auto copied = LoadDataDirConfig(copy);
  ASSERT_TRUE(copied) << copied.error().message;
  EXPECT_EQ(copied->store_url, "sqlite://" + copy + "/clustertls.db");
  // The directory named by a relative path, with "./" and a trailing slash.
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(ResolveStoreUrl("./rel/dir/", "sqlite://clustertls.db"),
            "sqlite://" + cwd + "/rel/dir/clustertls.db");

  EXPECT_EQ(ResolveStoreUrl(dir_, "sqlite://sub/../db/x.db"), "sqlite://" + dir_ + "/db/x.db");
  EXPECT_EQ(ResolveStoreUrl(dir_, "x.db"), "sqlite://" + dir_ + "/x.db");  // a bare path
  EXPECT_EQ(ResolveStoreUrl(dir_, "sqlite:///old/D/clustertls.db"),
            "sqlite:///old/D/clustertls.db");
  EXPECT_EQ(ResolveStoreUrl(dir_, "/old/D/clustertls.db"), "/old/D/clustertls.db");
  EXPECT_EQ(ResolveStoreUrl(dir_, "postgres://u:p@db/ctls"), "postgres://u:p@db/ctls");
  EXPECT_EQ(ResolveStoreUrl(dir_, "postgresql://db/ctls"), "postgresql://db/ctls");
  EXPECT_EQ(ResolveStoreUrl(dir_, ":memory:"), ":memory:");
  EXPECT_EQ(ResolveStoreUrl(dir_, "sqlite://"), "sqlite://");  // Store::Open says what is wrong
}

// What init writes for --store: inside the directory relative to it, else absolute.
TEST_F(DataDirTest, StoreUrlForConfigIsRelativeOnlyInsideTheDirectory) {
  EXPECT_EQ(StoreUrlForConfig(dir_, "sqlite://" + dir_ + "/clustertls.db"),
            "sqlite://clustertls.db");
  EXPECT_EQ(StoreUrlForConfig(dir_, dir_ + "/db/x.db"), "sqlite://db/x.db");
  EXPECT_EQ(StoreUrlForConfig(dir_ + "/", "sqlite://" + dir_ + "/x.db"), "sqlite://x.db");
  EXPECT_EQ(StoreUrlForConfig(dir_, "sqlite:///var/lib/other.db"), "sqlite:///var/lib/other.db");
  EXPECT_EQ(StoreUrlForConfig(dir_, "sqlite://" + dir_ + "/../sibling.db"),
            "sqlite://" + std::filesystem::path(dir_).parent_path().string() + "/sibling.db");
  // A relative path is taken against the current directory, as the shell user meant it.
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(StoreUrlForConfig(dir_, "sqlite://rel.db"), "sqlite://" + cwd + "/rel.db");
  EXPECT_EQ(StoreUrlForConfig(dir_, "postgres://u:p@db/ctls"), "postgres://u:p@db/ctls");
  // Round trip: what is written opens the same file.
  const std::string written = StoreUrlForConfig(dir_, dir_ + "/db/x.db");
  EXPECT_EQ(ResolveStoreUrl(dir_, written), "sqlite://" + dir_ + "/db/x.db");
}

TEST_F(DataDirTest, MissingDirectoryOrConfigIsNotFound) {
  auto r = LoadDataDirConfig(P("nope"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message,
            P("nope") + " is not a clustertls data directory: run clustertls init");
  auto empty_dir = LoadDataDirConfig(dir_);
  ASSERT_FALSE(empty_dir);
  EXPECT_EQ(empty_dir.error().code, ErrorCode::kNotFound);
}

TEST_F(DataDirTest, BadConfigsAreParseErrorsNamingFileAndField) {
  struct Case {
    std::string text;
    std::string expect_in_message;
  };
  const Case cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[]", "expected a JSON object"},
      {R"("fqdn")", "expected a JSON object"},
      {R"({"store_url": "sqlite:///x"})", "missing field \"fqdn\""},
      {R"({"fqdn": "a.example.com"})", "missing field \"store_url\""},
      {R"({"fqdn": 5, "store_url": "sqlite:///x"})", "field \"fqdn\" must be a string"},
      {R"({"fqdn": "", "store_url": "sqlite:///x"})", "field \"fqdn\" is empty"},
      {R"({"fqdn": "a", "store_url": "s", "listn": "127.0.0.1:1"})", "unknown field \"listn\""},
      {R"({"fqdn": "a", "store_url": "s", "listen": null})", "field \"listen\" must be a string"},
      {R"({"fqdn": "a", "store_url": "s", "public_url": 1})",
       "field \"public_url\" must be a string"},
      {R"({"fqdn": "a", "store_url": "s", "public_listen": ""})",
       "field \"public_listen\" is empty"},
      {R"({"fqdn": "a", "store_url": "s", "public_lsten": "off"})",
       "unknown field \"public_lsten\""},
  };
  for (const auto& c : cases) {
    WriteConfig(c.text);
    auto r = LoadDataDirConfig(dir_);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::kParse) << c.text;
    EXPECT_TRUE(r.error().message.starts_with(P("clustertls.json") + ": ")) << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect_in_message), std::string::npos) << r.error().message;
  }
}

TEST_F(DataDirTest, SealingKeyRoundTripIs0600AndRefusesOverwrite) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  DataDirConfig c = Config();
  ASSERT_TRUE(SaveSealingKey(dir_, c, *key));
  EXPECT_EQ(ModeOf(P("sealing.key")), 0600u);
  auto loaded = LoadSealingKey(dir_, c);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->ToHex(), key->ToHex());
  // The loaded key opens what the original sealed.
  auto blob = key->Seal("payload", "test", rng);
  ASSERT_TRUE(blob);
  auto opened = loaded->Open(*blob, "test");
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "payload");

  auto again = SaveSealingKey(dir_, c, *key);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(DataDirTest, SealingKeyAbsolutePath) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  DataDirConfig c = Config();
  c.sealing_key_file = P("elsewhere.key");
  ASSERT_TRUE(SaveSealingKey("/nonexistent-dir", c, *key));
  auto loaded = LoadSealingKey("/nonexistent-dir", c);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->ToHex(), key->ToHex());
}

TEST_F(DataDirTest, SealingKeyReadableByOthersIsRefused) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  DataDirConfig c = Config();
  ASSERT_TRUE(SaveSealingKey(dir_, c, *key));
  ASSERT_EQ(::chmod(P("sealing.key").c_str(), 0644), 0);
  auto r = LoadSealingKey(dir_, c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message,
            P("sealing.key") + " is readable by others (mode 0644); chmod 600 it");
  EXPECT_EQ(r.error().message.find(key->ToHex().substr(0, 16)), std::string::npos);

  ASSERT_EQ(::chmod(P("sealing.key").c_str(), 0640), 0);
  EXPECT_FALSE(LoadSealingKey(dir_, c));
  ASSERT_EQ(::chmod(P("sealing.key").c_str(), 0620), 0);
  auto w = LoadSealingKey(dir_, c);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("mode 0620"), std::string::npos);
  ASSERT_EQ(::chmod(P("sealing.key").c_str(), 0400), 0);
  EXPECT_TRUE(LoadSealingKey(dir_, c));
}

TEST_F(DataDirTest, SealingKeyMissingOrBad) {
  DataDirConfig c = Config();
  auto missing = LoadSealingKey(dir_, c);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find(P("sealing.key")), std::string::npos);

  ASSERT_TRUE(core::WriteFileAtomic(P("sealing.key"), "not hex at all\n", {.mode = 0600}));
  auto bad = LoadSealingKey(dir_, c);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kParse);
  EXPECT_TRUE(bad.error().message.starts_with(P("sealing.key") + ": ")) << bad.error().message;

  ASSERT_TRUE(core::WriteFileAtomic(P("big.key"), std::string(10000, 'a'), {.mode = 0600}));
  c.sealing_key_file = "big.key";
  auto big = LoadSealingKey(dir_, c);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kParse);

  ASSERT_TRUE(core::EnsureDirectory(P("adir")));
  c.sealing_key_file = "adir";
  auto d = LoadSealingKey(dir_, c);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace clustertls::authority
