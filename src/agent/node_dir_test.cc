#include "agent/node_dir.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

namespace clustertls::agent {
namespace {

class NodeDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctls-nodedir-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/node";
  }
  void TearDown() override {
    ::chmod(dir_.c_str(), 0755);
    std::filesystem::remove_all(root_);
  }

  // The names in D, sorted.
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::vector<std::string> Sorted(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::string Target(const std::string& path) {
    std::array<char, 4096> buf{};
    const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    return n < 0 ? std::string() : std::string(buf.data(), static_cast<std::size_t>(n));
  }
  static mode_t Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  std::vector<File> SetV1() const {
    return {{.name = "proxy_cert.pem", .content = "cert-1"},
            {.name = "proxy_key.pem", .content = "key-1", .secret = true},
            {.name = "ca.pem", .content = "ca"}};
  }

  std::string root_;
  std::string dir_;
};

TEST_F(NodeDirTest, CreatesTheDirectoryAndInstallsThroughDataLink) {
  ::umask(077);
  auto nd = NodeDir::Open(dir_);
  ::umask(022);
  ASSERT_TRUE(nd) << nd.error().message;
  EXPECT_EQ(Mode(dir_), 0755u);
  EXPECT_FALSE((*nd)->CurrentVersion());
  auto empty = (*nd)->ReadCurrent();
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());

  auto r = (*nd)->Install(SetV1(), 7);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->changed, (std::vector<std::string>{"ca.pem", "proxy_cert.pem", "proxy_key.pem"}));
  EXPECT_EQ(r->data_dir.rfind("..7_", 0), 0u) << r->data_dir;
  EXPECT_EQ((*nd)->CurrentVersion(), 7);

  EXPECT_EQ(Target(dir_ + "/..data"), r->data_dir);
  EXPECT_EQ(Target(dir_ + "/proxy_cert.pem"), "..data/proxy_cert.pem");
  EXPECT_EQ(Target(dir_ + "/proxy_key.pem"), "..data/proxy_key.pem");
  EXPECT_EQ(Slurp(dir_ + "/proxy_cert.pem"), "cert-1");
  EXPECT_EQ(Slurp(dir_ + "/proxy_key.pem"), "key-1");
  EXPECT_EQ(Mode(dir_ + "/" + r->data_dir), 0755u);
  EXPECT_EQ(Mode(dir_ + "/proxy_cert.pem"), 0644u);
  EXPECT_EQ(Mode(dir_ + "/proxy_key.pem"), 0600u);
  EXPECT_EQ(Entries(),
            Sorted({".lock", "..data", r->data_dir, "ca.pem", "proxy_cert.pem", "proxy_key.pem"}));

  auto read = (*nd)->ReadCurrent();
  ASSERT_TRUE(read);
  EXPECT_EQ(*read,
            (std::map<std::string, std::string>{
                {"ca.pem", "ca"}, {"proxy_cert.pem", "cert-1"}, {"proxy_key.pem", "key-1"}}));
}

TEST_F(NodeDirTest, ASecondInstallSwitchesTheSetAndDeletesThePreviousDirectory) {
  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  auto v1 = (*nd)->Install(SetV1(), 1);
  ASSERT_TRUE(v1);
  // A reader holding the old key open keeps reading the old content.
  std::ifstream old_key(dir_ + "/proxy_key.pem");

  auto v2 = (*nd)->Install({{.name = "proxy_cert.pem", .content = "cert-2"},
                            {.name = "proxy_key.pem", .content = "key-2", .secret = true},
                            {.name = "ca.pem", .content = "ca"}},
                           2);
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->changed, (std::vector<std::string>{"proxy_cert.pem", "proxy_key.pem"}));
  EXPECT_EQ((*nd)->CurrentVersion(), 2);
  EXPECT_EQ(Slurp(dir_ + "/proxy_cert.pem"), "cert-2");
  EXPECT_EQ(Slurp(dir_ + "/proxy_key.pem"), "key-2");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + v1->data_dir));
  EXPECT_EQ(Entries(),
            Sorted({".lock", "..data", v2->data_dir, "ca.pem", "proxy_cert.pem", "proxy_key.pem"}));
  std::string old;
  std::getline(old_key, old);
  EXPECT_EQ(old, "key-1");
}

TEST_F(NodeDirTest, NothingChangedDoesNothing) {
  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  auto v1 = (*nd)->Install(SetV1(), 1);
  ASSERT_TRUE(v1);
  auto again = (*nd)->Install(SetV1(), 2);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->changed.empty());
  EXPECT_TRUE(again->data_dir.empty());
  EXPECT_EQ((*nd)->CurrentVersion(), 1);
  EXPECT_EQ(Target(dir_ + "/..data"), v1->data_dir);
}

TEST_F(NodeDirTest, ADanglingDataLinkIsAnEmptySetThatTheNextInstallReplaces) {
  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  auto v1 = (*nd)->Install(SetV1(), 1);
  ASSERT_TRUE(v1);
  std::filesystem::remove_all(dir_ + "/" + v1->data_dir);
  auto read = (*nd)->ReadCurrent();
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_TRUE(read->empty());
  auto v2 = (*nd)->Install(SetV1(), 2);
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->changed.size(), 3u);
  EXPECT_EQ(Slurp(dir_ + "/proxy_key.pem"), "key-1");
}

TEST_F(NodeDirTest, RemovedFilesLoseTheirLinksAndAreReportedChanged) {
  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  ASSERT_TRUE((*nd)->Install(SetV1(), 1));
  auto v2 = (*nd)->Install({{.name = "proxy_cert.pem", .content = "cert-1"},
                            {.name = "proxy_key.pem", .content = "key-1", .secret = true}},
                           2);
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->changed, (std::vector<std::string>{"ca.pem"}));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir_ + "/ca.pem")));
  auto read = (*nd)->ReadCurrent();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->size(), 2u);
}

TEST_F(NodeDirTest, PlantedSymlinkAndFileAreReplacedNeverWrittenThrough) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  const std::string victim = root_ + "/victim";
  { std::ofstream(victim) << "precious"; }
  ASSERT_EQ(::symlink(victim.c_str(), (dir_ + "/proxy_key.pem").c_str()), 0);
  { std::ofstream(dir_ + "/proxy_cert.pem") << "planted"; }
  // A link to ..data/<other name> is not ours either.
  ASSERT_EQ(::symlink("..data/ca.pem", (dir_ + "/ca.pem.bak").c_str()), 0);
  ASSERT_EQ(::symlink("..data/proxy_key.pem", (dir_ + "/ca.pem").c_str()), 0);

  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  auto r = (*nd)->Install(SetV1(), 1);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_EQ(Target(dir_ + "/proxy_key.pem"), "..data/proxy_key.pem");
  EXPECT_EQ(Target(dir_ + "/proxy_cert.pem"), "..data/proxy_cert.pem");
  EXPECT_EQ(Target(dir_ + "/ca.pem"), "..data/ca.pem");
  EXPECT_EQ(Slurp(dir_ + "/proxy_key.pem"), "key-1");
  EXPECT_EQ(Slurp(dir_ + "/proxy_cert.pem"), "cert-1");
  EXPECT_EQ(Slurp(dir_ + "/ca.pem"), "ca");

  // Planted again after an install: an unchanged set still repairs the link.
  ASSERT_EQ(::unlink((dir_ + "/proxy_key.pem").c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), (dir_ + "/proxy_key.pem").c_str()), 0);
  auto again = (*nd)->Install(SetV1(), 2);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->changed, (std::vector<std::string>{"proxy_key.pem"}));
  EXPECT_EQ(Target(dir_ + "/proxy_key.pem"), "..data/proxy_key.pem");
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_EQ((*nd)->CurrentVersion(), 1);
}

TEST_F(NodeDirTest, ADirectoryInTheWayIsReportedByName) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir_ + "/ca.pem").c_str(), 0755), 0);
  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  auto r = (*nd)->Install(SetV1(), 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::ErrorCode::kIo);
  EXPECT_NE(r.error().message.find(dir_ + "/ca.pem: cannot replace"), std::string::npos)
      << r.error().message;
  // The set itself is current; the other links are made.
  EXPECT_EQ((*nd)->CurrentVersion(), 1);
  EXPECT_EQ(Slurp(dir_ + "/proxy_cert.pem"), "cert-1");
}

TEST_F(NodeDirTest, RefusesBadNamesNamingThem) {
  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "..data", "a/b", "../escape", "sp ace", "x\n",
                                std::string(101, 'a'), "caf\xc3\xa9"}) {
    auto r = (*nd)->Install({{.name = bad, .content = "x"}}, 1);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("file name \"" + bad.substr(0, 20)), std::string::npos)
        << r.error().message;
  }
  EXPECT_TRUE(IsValidFileName(std::string(100, 'a')));
  EXPECT_TRUE(IsValidFileName("a.B-c_9"));
  auto dup = (*nd)->Install({{.name = "a", .content = "1"}, {.name = "a", .content = "2"}}, 1);
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("\"a\": given twice"), std::string::npos);
  auto neg = (*nd)->Install({{.name = "a", .content = "1"}}, -1);
  ASSERT_FALSE(neg);
  EXPECT_EQ(neg.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(Entries(), Sorted({".lock"}));
}

TEST_F(NodeDirTest, SecondOpenFailsAtOnceWhileTheFirstHoldsTheLock) {
  auto first = NodeDir::Open(dir_);
  ASSERT_TRUE(first);
  auto second = NodeDir::Open(dir_ + "/");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_EQ(second.error().message, dir_ +
                                        ": another clustertls agent is running on this directory "
                                        "(lock " +
                                        dir_ + "/.lock held)");

  // Another process too.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto other = NodeDir::Open(dir_);
    ::_exit(!other && other.error().code == core::ErrorCode::kAlreadyExists ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  first->reset();
  EXPECT_TRUE(NodeDir::Open(dir_));
}

TEST_F(NodeDirTest, OpenRemovesWhatACrashedInstallLeft) {
  std::string kept;
  {
    auto nd = NodeDir::Open(dir_);
    ASSERT_TRUE(nd);
    auto r = (*nd)->Install(SetV1(), 3);
    ASSERT_TRUE(r);
    kept = r->data_dir;
  }
  ASSERT_EQ(::mkdir((dir_ + "/..4_00ff").c_str(), 0755), 0);
  { std::ofstream(dir_ + "/..4_00ff/proxy_key.pem") << "half"; }
  ASSERT_EQ(::symlink("..4_00ff", (dir_ + "/..data_tmp").c_str()), 0);
  ASSERT_EQ(::symlink("..data/x", (dir_ + "/..link_tmp").c_str()), 0);
  ASSERT_EQ(::mkdir((dir_ + "/..notours").c_str(), 0755), 0);  // not a versioned name: kept

  auto nd = NodeDir::Open(dir_);
  ASSERT_TRUE(nd);
  EXPECT_EQ(Entries(), Sorted({".lock", "..data", kept, "..notours", "ca.pem", "proxy_cert.pem",
                               "proxy_key.pem"}));
  EXPECT_EQ((*nd)->CurrentVersion(), 3);
  EXPECT_EQ(Slurp(dir_ + "/proxy_key.pem"), "key-1");
}

// chmod 0555 does not stop root: as root, the installs run in a child that drops to nobody.
TEST_F(NodeDirTest, ReadOnlyDirectoryKeepsThePreviousSet) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::chown(root_.c_str(), 65534, 65534) != 0 || ::setgid(65534) != 0 ||
                             ::setuid(65534) != 0)) {
      ::_exit(2);
    }
    auto nd = NodeDir::Open(dir_);
    if (!nd || !(*nd)->Install(SetV1(), 1) || ::chmod(dir_.c_str(), 0555) != 0) {
      ::_exit(3);
    }
    auto r = (*nd)->Install({{.name = "proxy_cert.pem", .content = "cert-2"}}, 2);
    if (r) {
      ::_exit(4);
    }
    const std::string& m = r.error().message;
    const bool named =
        m.find(dir_ + "/..2_") != std::string::npos &&
        m.find(": Permission denied (the previous set is kept)") != std::string::npos;
    ::_exit(named && r.error().code == core::ErrorCode::kIo && (*nd)->CurrentVersion() == 1 ? 0
                                                                                            : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Mode(dir_), 0555u);
  EXPECT_EQ(Slurp(dir_ + "/proxy_cert.pem"), "cert-1");
  EXPECT_EQ(Slurp(dir_ + "/proxy_key.pem"), "key-1");
  auto entries = Entries();
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[0].rfind("..1_", 0), 0u);
}

// A write that fails half-way through the new set (RLIMIT_FSIZE makes write(2) fail with EFBIG,
// as a full disk fails with ENOSPC): the partial directory goes, the previous set stays.
TEST_F(NodeDirTest, WriteFailingMidSetRemovesThePartialDirectory) {
  std::string v1_dir;
  {
    auto nd = NodeDir::Open(dir_);
    ASSERT_TRUE(nd);
    auto v1 = (*nd)->Install(SetV1(), 1);
    ASSERT_TRUE(v1);
    v1_dir = v1->data_dir;
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit {
      .rlim_cur = 4096, .rlim_max = RLIM_INFINITY
    };
    ::setrlimit(RLIMIT_FSIZE, &limit);
    auto nd = NodeDir::Open(dir_);
    if (!nd) {
      ::_exit(2);
    }
    auto r = (*nd)->Install({{.name = "proxy_cert.pem", .content = "cert-2"},
                             {.name = "proxy_key.pem", .content = std::string(8192, 'k')}},
                            2);
    if (r) {
      ::_exit(3);
    }
    const std::string& m = r.error().message;
    const bool named = m.find("/proxy_key.pem: write failed: File too large") != std::string::npos;
    ::_exit(named && r.error().code == core::ErrorCode::kIo ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Entries(),
            Sorted({".lock", "..data", v1_dir, "ca.pem", "proxy_cert.pem", "proxy_key.pem"}));
  EXPECT_EQ(Slurp(dir_ + "/proxy_cert.pem"), "cert-1");
  EXPECT_EQ(Slurp(dir_ + "/proxy_key.pem"), "key-1");
}

TEST_F(NodeDirTest, SecretsOfAGroupOwnerAre0640) {
  // The process's own group: fchown to it needs no privilege.
  core::FileOwner owner{.gid = ::getegid(), .spec = ":" + std::to_string(::getegid())};
  auto nd = NodeDir::Open(dir_, {.owner = owner});
  ASSERT_TRUE(nd);
  ASSERT_TRUE((*nd)->Install(SetV1(), 1));
  EXPECT_EQ(Mode(dir_ + "/proxy_key.pem"), 0640u);
  EXPECT_EQ(Mode(dir_ + "/proxy_cert.pem"), 0644u);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/proxy_key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, ::getegid());
}

TEST_F(NodeDirTest, OpenRefusesAFile) {
  { std::ofstream(dir_) << "x"; }
  auto nd = NodeDir::Open(dir_);
  ASSERT_FALSE(nd);
  EXPECT_EQ(nd.error().message, dir_ + ": is not a directory");
}

}  // namespace
}  // namespace clustertls::agent
