#include "cli/output.h"

#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "cli/cli_testutil.h"
#include "core/files.h"

namespace clustertls::cli {
namespace {

using testing::TempDir;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::size_t CountEntries(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    ++n;
  }
  return n;
}

TEST(OutputSetTest, WritesAllFilesWithExactModesAndCreatesDirectories) {
  TempDir dir;
  ::umask(077);  // the modes must not depend on the umask
  OutputSet out;
  out.AddPublic(dir / "a/b/cert.crt", "CERT");
  out.AddPrivate(dir / "a/b/cert.key", "KEY");
  ASSERT_TRUE(out.Commit({}));
  ::umask(022);
  EXPECT_EQ(*core::ReadFile(dir / "a/b/cert.crt"), "CERT");
  EXPECT_EQ(*core::ReadFile(dir / "a/b/cert.key"), "KEY");
  EXPECT_EQ(ModeOf(dir / "a/b/cert.crt"), 0644u);
  EXPECT_EQ(ModeOf(dir / "a/b/cert.key"), 0600u);
  // No temporaries or backups are left over.
  EXPECT_EQ(CountEntries(dir.path()), 4u);
}

TEST(OutputSetTest, RefusesToOverwriteWithoutForceAndWritesNothing) {
  TempDir dir;
  ASSERT_TRUE(core::WriteFileAtomic(dir / "b.crt", "OLD"));
  OutputSet out;
  out.AddPublic(dir / "a.crt", "A");
  out.AddPublic(dir / "b.crt", "B");
  auto r = out.Commit({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_NE(r.error().message.find("b.crt: already exists (use --force"), std::string::npos);
  EXPECT_FALSE(core::PathExists(dir / "a.crt"));
  EXPECT_EQ(*core::ReadFile(dir / "b.crt"), "OLD");
  auto check = out.Check(false);
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, core::ErrorCode::kAlreadyExists);
}

TEST(OutputSetTest, ForceOverwrites) {
  TempDir dir;
  ASSERT_TRUE(core::WriteFileAtomic(dir / "b.key", "OLD", {.mode = 0644}));
  OutputSet out;
  out.AddPrivate(dir / "b.key", "NEW");
  ASSERT_TRUE(out.Commit({.force = true}));
  EXPECT_EQ(*core::ReadFile(dir / "b.key"), "NEW");
  EXPECT_EQ(ModeOf(dir / "b.key"), 0600u);
  EXPECT_EQ(CountEntries(dir.path()), 1u);
}

TEST(OutputSetTest, LaterFailureRemovesEarlierFilesAndRestoresOverwrittenOnes) {
  TempDir dir;
  ASSERT_TRUE(core::WriteFileAtomic(dir / "old.crt", "OLD"));
  OutputSet out;
  out.AddPublic(dir / "new/one.crt", "1");
  out.AddPublic(dir / "old.crt", "REPLACED");
  out.AddPrivate(dir / "new/three.key", "3");
  int placed = 0;
  auto r = out.Commit({.force = true, .before_place = [&](const std::string& path)
                                          -> core::Result<void> {
                         if (++placed == 3) {
                           return core::Fail(core::ErrorCode::kIo, path + ": disk full");
                         }
                         return {};
                       }});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, dir / "new/three.key" + ": disk full");
  EXPECT_FALSE(core::PathExists(dir / "new/one.crt"));
  EXPECT_FALSE(core::PathExists(dir / "new"));  // created by this commit, removed again
  EXPECT_EQ(*core::ReadFile(dir / "old.crt"), "OLD");
  EXPECT_EQ(CountEntries(dir.path()), 1u);  // no temporaries, no backups
}

TEST(OutputSetTest, ParentThatIsAFileFailsBeforeWritingAnything) {
  TempDir dir;
  ASSERT_TRUE(core::WriteFileAtomic(dir / "plain", "x"));
  OutputSet out;
  out.AddPublic(dir / "ok.crt", "1");
  out.AddPublic(dir / "plain/sub.crt", "2");
  auto r = out.Commit({});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a directory"), std::string::npos);
  EXPECT_FALSE(core::PathExists(dir / "ok.crt"));
}

TEST(OutputSetTest, RefusesDirectoriesAndDuplicatePaths) {
  TempDir dir;
  std::filesystem::create_directory(dir / "d");
  OutputSet a;
  a.AddPublic(dir / "d", "x");
  EXPECT_FALSE(a.Commit({.force = true}));
  OutputSet b;
  b.AddPublic(dir / "x.crt", "1");
  b.AddPublic(dir / "./x.crt", "2");
  auto r = b.Commit({});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("twice"), std::string::npos);
  EXPECT_FALSE(core::PathExists(dir / "x.crt"));
}

TEST(OutputSetTest, ManyFilesUseOneSync) {
  TempDir dir;
  OutputSet out;
  for (int i = 0; i < 100; ++i) {
    out.AddPrivate(dir / ("n" + std::to_string(i) + "/k.key"), std::to_string(i));
  }
  ASSERT_TRUE(out.Commit({.fsync_each_limit = 4}));
  EXPECT_EQ(*core::ReadFile(dir / "n42/k.key"), "42");
  EXPECT_EQ(ModeOf(dir / "n99/k.key"), 0600u);
  EXPECT_EQ(CountEntries(dir.path()), 200u);
}

TEST(JoinPathTest, Joins) {
  EXPECT_EQ(JoinPath("dir", "a.crt"), "dir/a.crt");
  EXPECT_EQ(JoinPath("dir/", "a.crt"), "dir/a.crt");
  EXPECT_EQ(JoinPath("", "a.crt"), "a.crt");
}

}  // namespace
}  // namespace clustertls::cli
