#include "core/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace clustertls::core {
namespace {

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctls-files-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::size_t EntryCount() const {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir_),
                                                  std::filesystem::directory_iterator()));
  }
  std::string dir_;
};

TEST_F(FilesTest, WritesAtomicallyWithExactMode) {
  const std::string path = dir_ + "/key.pem";
  ::umask(0);
  ASSERT_TRUE(WriteFileAtomic(path, "secret", {.mode = kPrivateFileMode}));
  ::umask(022);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = ReadFile(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "secret");
  EXPECT_EQ(EntryCount(), 1u);  // no temporary file left behind
}

TEST_F(FilesTest, RefusesToOverwriteWithoutForce) {
  const std::string path = dir_ + "/a.crt";
  ASSERT_TRUE(WriteFileAtomic(path, "one"));
  auto again = WriteFileAtomic(path, "two");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message.find("--force"), std::string::npos);
  EXPECT_EQ(*ReadFile(path), "one");
  ASSERT_TRUE(WriteFileAtomic(path, "two", {.overwrite = true}));
  EXPECT_EQ(*ReadFile(path), "two");
  EXPECT_EQ(EntryCount(), 1u);
}

TEST_F(FilesTest, WriteIntoMissingDirectoryFailsCleanly) {
  auto r = WriteFileAtomic(dir_ + "/missing/x", "data");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("/missing/x"), std::string::npos);
}

TEST_F(FilesTest, ReadErrorsNameTheFile) {
  auto r = ReadFile(dir_ + "/nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("/nope"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/big", std::string(100, 'x')));
  auto big = ReadFile(dir_ + "/big", 10);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(FilesTest, PassphraseFileDropsOneTrailingNewline) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/p1", "pass word\n"));
  EXPECT_EQ(*ReadPassphraseFile(dir_ + "/p1"), "pass word");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/p2", "pw\n\n"));
  EXPECT_EQ(*ReadPassphraseFile(dir_ + "/p2"), "pw\n");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/p3", "pw\r\n"));
  EXPECT_EQ(*ReadPassphraseFile(dir_ + "/p3"), "pw");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/p4", "\n"));
  EXPECT_FALSE(ReadPassphraseFile(dir_ + "/p4"));
}

}  // namespace
}  // namespace clustertls::core
