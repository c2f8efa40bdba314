#include "core/files.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

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

// Debian's unprivileged user and group (base-passwd), present on every machine of the project.
uid_t NobodyUid() { return ::getpwnam("nobody")->pw_uid; }
gid_t NogroupGid() { return ::getgrnam("nogroup")->gr_gid; }

TEST(FileOwnerTest, ParsesUserGroupAndTheirForms) {
  ASSERT_NE(::getpwnam("nobody"), nullptr);
  ASSERT_NE(::getgrnam("nogroup"), nullptr);
  auto user = ParseFileOwner("nobody");
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(user->uid, NobodyUid());
  EXPECT_FALSE(user->has_group());  // the group stays the creating process's
  EXPECT_EQ(user->spec, "nobody");

  auto both = ParseFileOwner("root:nogroup");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->uid, 0u);
  EXPECT_EQ(both->gid, NogroupGid());

  auto login_group = ParseFileOwner("nobody:");  // chown(1): the user's login group
  ASSERT_TRUE(login_group);
  EXPECT_EQ(login_group->uid, NobodyUid());
  EXPECT_EQ(login_group->gid, ::getpwnam("nobody")->pw_gid);

  auto group_only = ParseFileOwner(":nogroup");
  ASSERT_TRUE(group_only);
  EXPECT_FALSE(group_only->has_user());
  EXPECT_EQ(group_only->gid, NogroupGid());

  auto numeric = ParseFileOwner("4242:4343");  // ids that name no entry, as chown(1) takes them
  ASSERT_TRUE(numeric);
  EXPECT_EQ(numeric->uid, 4242u);
  EXPECT_EQ(numeric->gid, 4343u);
}

TEST(FileOwnerTest, RefusesUnknownNamesAndMalformedSpecs) {
  auto user = ParseFileOwner("ctls-no-such-user");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(user.error().message, "no such user \"ctls-no-such-user\"");
  auto group = ParseFileOwner("nobody:ctls-no-such-group");
  ASSERT_FALSE(group);
  EXPECT_EQ(group.error().message, "no such group \"ctls-no-such-group\"");
  for (const char* bad : {"", ":", "a:b:c", "4242:"}) {
    auto r = ParseFileOwner(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << bad;
  }
}

TEST(FileOwnerTest, PrivateModeIsGroupReadableOnlyWithAGroup) {
  EXPECT_EQ(PrivateModeFor(std::nullopt), 0600u);
  EXPECT_EQ(PrivateModeFor(*ParseFileOwner("nobody")), 0600u);
  EXPECT_EQ(PrivateModeFor(*ParseFileOwner("root:nogroup")), 0640u);
  EXPECT_EQ(PrivateModeFor(*ParseFileOwner(":nogroup")), 0640u);
}

TEST_F(FilesTest, WriteGivesTheFileToTheOwner) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "chown to another user needs root (the refusal is tested as any user)";
  }
  const std::string key = dir_ + "/service.key";
  ::umask(077);
  ASSERT_TRUE(WriteFileAtomic(
      key, "secret", {.mode = kGroupPrivateFileMode, .owner = *ParseFileOwner("nobody:nogroup")}));
  ::umask(022);
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, NobodyUid());
  EXPECT_EQ(st.st_gid, NogroupGid());
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // Replacing keeps the new owner and mode, the user alone leaves the group as created (root's).
  ASSERT_TRUE(WriteFileAtomic(
      key, "secret 2",
      {.mode = kPrivateFileMode, .overwrite = true, .owner = *ParseFileOwner("nobody")}));
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, NobodyUid());
  EXPECT_EQ(st.st_gid, ::getegid());
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(*ReadFile(key), "secret 2");
  EXPECT_EQ(EntryCount(), 1u);
}

// Without the privilege to chown, the write fails naming the file and saying what to do, and
// leaves nothing behind (the owner is set on the temporary file, before the rename).
TEST_F(FilesTest, ChownWithoutPrivilegeFailsAndLeavesNothing) {
  const std::string key = dir_ + "/service.key";
  auto attempt = [&]() -> std::string {
    auto r = WriteFileAtomic(key, "secret",
                             {.mode = kPrivateFileMode, .owner = *ParseFileOwner("root:root")});
    if (r) {
      return "written";
    }
    if (r.error().code != ErrorCode::kIo) {
      return "wrong code";
    }
    return r.error().message;
  };
  std::string message;
  if (::geteuid() != 0) {
    message = attempt();
  } else {
    // As root: a child process that became nobody (in a directory nobody may write) tries.
    ASSERT_EQ(::chown(dir_.c_str(), NobodyUid(), NogroupGid()), 0);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      if (::setgroups(0, nullptr) != 0 || ::setgid(NogroupGid()) != 0 ||
          ::setuid(NobodyUid()) != 0) {
        ::_exit(3);
      }
      std::string m = attempt();
      (void)!::write(fds[1], m.data(), m.size());
      ::_exit(0);
    }
    ::close(fds[1]);
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
      message.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  EXPECT_EQ(message, key +
                         ": cannot give the file to root:root: Operation not permitted (changing "
                         "a file's owner needs root: run the command as root or with sudo)");
  EXPECT_EQ(EntryCount(), 0u);  // no key, no temporary
}

TEST_F(FilesTest, DirectoryLockIsExclusiveAndReleased) {
  auto first = DirectoryLock::Acquire(dir_);
  ASSERT_TRUE(first) << first.error().message;
  // flock locks belong to the open file description: a second open waits, then gives up.
  auto second = DirectoryLock::Acquire(dir_, 100);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("still locked"), std::string::npos);
  { auto released = std::move(*first); }
  auto third = DirectoryLock::Acquire(dir_, 100);
  EXPECT_TRUE(third);
  auto missing = DirectoryLock::Acquire(dir_ + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace clustertls::core
