// The file systems behind common/fs/file_system.h. Both are held to the same contract — the
// local one on a real directory, S3 against a real s3rver — and then to what is particular
// to each: local hidden siblings and errno errors; S3 multipart uploads, paged listings,
// XML-escaped keys, retries while the server is away, errors naming bucket and key, objects
// read back and written by an independent client (@aws-sdk/client-s3), and libcurl's SigV4
// signatures against the examples AWS publishes.
#include "common/fs/file_system.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/config.h"
#include "common/fs/local_file_system.h"
#include "common/fs/s3_file_system.h"
#include "common/sha256.h"
#include "tests/support/process.h"
#include "tests/support/s3rver.h"
#include "tests/support/stderr_capture.h"

namespace eddy::fs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
namespace stdfs = std::filesystem;

constexpr char kBucket[] = "eddy";
constexpr uint64_t kMiB = 1 << 20;

/// `n` reproducible bytes of every value, zeros included.
std::string Bytes(size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(random() & 0xFF);
  return out;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

std::vector<std::pair<std::string, uint64_t>> Pairs(const std::vector<FileStatus>& files) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const FileStatus& f : files) out.emplace_back(f.uri, f.size);
  return out;
}

// ---------------------------------------------------------------------------------------
// The contract, for both file systems

enum class Kind { kLocal, kS3 };

class FileSystemContractTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTestDir("file-system");
    if (GetParam() == Kind::kLocal) {
      base_ = "file://" + dir_ + "/data";
    } else {
      s3_ = std::make_unique<testing::S3rver>(dir_ + "/s3", std::vector<std::string>{kBucket});
      ASSERT_TRUE(s3_->running());
      base_ = absl::StrCat("s3://", kBucket, "/test");
    }
    absl::StatusOr<std::shared_ptr<FileSystem>> fs =
        FileSystem::ForUri(base_, s3_ ? s3_->MakeConfig() : Config());
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = *fs;
  }
  void TearDown() override {
    s3_.reset();
    testing::RemoveTestDir(dir_);
  }

  std::string Uri(std::string_view name) const { return JoinUri(base_, name); }
  std::vector<std::pair<std::string, uint64_t>> ListPairs(std::string_view prefix) {
    absl::StatusOr<std::vector<FileStatus>> files = fs_->List(prefix);
    EXPECT_TRUE(files.ok()) << files.status();
    return files.ok() ? Pairs(*files) : std::vector<std::pair<std::string, uint64_t>>{};
  }

  std::string dir_;
  std::string base_;
  std::unique_ptr<testing::S3rver> s3_;
  std::shared_ptr<FileSystem> fs_;
};

TEST_P(FileSystemContractTest, WritesReadsStatsAndDeletes) {
  const std::string uri = Uri("a/b/file.bin");
  const std::string data = Bytes(1000, 1);
  ASSERT_TRUE(fs_->WriteAtomically(uri, data).ok());
  EXPECT_EQ(*fs_->Read(uri), data);
  absl::StatusOr<FileStatus> stat = fs_->Stat(uri);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->uri, uri);
  EXPECT_EQ(stat->size, 1000u);

  ASSERT_TRUE(fs_->WriteAtomically(uri, "replaced").ok());
  EXPECT_EQ(*fs_->Read(uri), "replaced");

  ASSERT_TRUE(fs_->Delete(uri).ok());
  EXPECT_TRUE(absl::IsNotFound(fs_->Read(uri).status()));
  EXPECT_TRUE(absl::IsNotFound(fs_->Stat(uri).status()));
  EXPECT_TRUE(fs_->Delete(uri).ok()) << "deleting a missing file is OK";
}

TEST_P(FileSystemContractTest, MissingFilesAreNotFoundNamingThem) {
  const std::string uri = Uri("no/such/file");
  absl::Status read = fs_->Read(uri).status();
  EXPECT_TRUE(absl::IsNotFound(read)) << read;
  EXPECT_THAT(Message(read), HasSubstr("no/such/file"));
  absl::Status stat = fs_->Stat(uri).status();
  EXPECT_TRUE(absl::IsNotFound(stat)) << stat;
  EXPECT_THAT(Message(stat), HasSubstr("no/such/file"));
}

TEST_P(FileSystemContractTest, ReadsRanges) {
  const std::string uri = Uri("range");
  const std::string data = Bytes(100, 2);
  ASSERT_TRUE(fs_->WriteAtomically(uri, data).ok());
  EXPECT_EQ(*fs_->Read(uri, 10, 5), data.substr(10, 5));
  EXPECT_EQ(*fs_->Read(uri, 0, 1), data.substr(0, 1));
  EXPECT_EQ(*fs_->Read(uri, 90), data.substr(90));
  EXPECT_EQ(*fs_->Read(uri, 95, 100), data.substr(95)) << "a short read at the end";
  EXPECT_EQ(*fs_->Read(uri, 99, 1), data.substr(99));
  EXPECT_EQ(*fs_->Read(uri, 100), "") << "at the end";
  EXPECT_EQ(*fs_->Read(uri, 1000, 10), "") << "past the end";
  EXPECT_EQ(*fs_->Read(uri, 5, 0), "");
  EXPECT_TRUE(absl::IsNotFound(fs_->Read(Uri("missing"), 5, 0).status()));

  ASSERT_TRUE(fs_->WriteAtomically(Uri("empty"), "").ok());
  EXPECT_EQ(*fs_->Read(Uri("empty")), "");
  EXPECT_EQ(*fs_->Read(Uri("empty"), 0, 10), "");
  EXPECT_EQ(fs_->Stat(Uri("empty"))->size, 0u);
}

TEST_P(FileSystemContractTest, ListsEveryFileUnderThePrefixSorted) {
  for (const char* name : {"dir/x", "dir/b/z", "dir/b/y", "dir/a", "dirt", "other/dir/q"}) {
    ASSERT_TRUE(fs_->WriteAtomically(Uri(name), name).ok()) << name;
  }
  const std::vector<std::pair<std::string, uint64_t>> expected = {
      {Uri("dir/a"), 5}, {Uri("dir/b/y"), 7}, {Uri("dir/b/z"), 7}, {Uri("dir/x"), 5}};
  EXPECT_EQ(ListPairs(Uri("dir")), expected);
  EXPECT_EQ(ListPairs(Uri("dir") + "/"), expected);
  EXPECT_EQ(ListPairs(Uri("dir/b")), (std::vector<std::pair<std::string, uint64_t>>{
                                         {Uri("dir/b/y"), 7}, {Uri("dir/b/z"), 7}}));
  EXPECT_THAT(ListPairs(Uri("nothing/here")), IsEmpty());
  EXPECT_EQ(ListPairs(base_).size(), 6u);
}

TEST_P(FileSystemContractTest, DeletesRecursivelyOnlyUnderThePrefix) {
  for (const char* name : {"chk/1/a", "chk/1/b", "chk/2/c", "chk-other", "chk1/d"}) {
    ASSERT_TRUE(fs_->WriteAtomically(Uri(name), "x").ok()) << name;
  }
  ASSERT_TRUE(fs_->DeleteRecursive(Uri("chk/1")).ok());
  EXPECT_EQ(ListPairs(base_), (std::vector<std::pair<std::string, uint64_t>>{
                                  {Uri("chk-other"), 1}, {Uri("chk/2/c"), 1}, {Uri("chk1/d"), 1}}));
  ASSERT_TRUE(fs_->DeleteRecursive(Uri("chk")).ok());
  EXPECT_EQ(ListPairs(base_), (std::vector<std::pair<std::string, uint64_t>>{{Uri("chk-other"), 1},
                                                                             {Uri("chk1/d"), 1}}));
  EXPECT_TRUE(fs_->DeleteRecursive(Uri("chk")).ok()) << "nothing left is OK";
}

TEST_P(FileSystemContractTest, WriteStreamPublishesOnlyAtClose) {
  const std::string uri = Uri("stream/out");
  absl::StatusOr<std::unique_ptr<WriteStream>> stream = fs_->Create(uri);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Write("hello ").ok());
  ASSERT_TRUE((*stream)->Write("world").ok());
  EXPECT_EQ((*stream)->bytes_written(), 11u);
  EXPECT_TRUE(absl::IsNotFound(fs_->Stat(uri).status()));
  EXPECT_THAT(ListPairs(Uri("stream")), IsEmpty());
  ASSERT_TRUE((*stream)->Close().ok());
  EXPECT_EQ(*fs_->Read(uri), "hello world");
  EXPECT_EQ(ListPairs(Uri("stream")), (std::vector<std::pair<std::string, uint64_t>>{{uri, 11}}));
  EXPECT_FALSE((*stream)->Close().ok()) << "closing twice";
}

TEST_P(FileSystemContractTest, AbortedOrDroppedStreamsLeaveNothing) {
  {
    auto stream = fs_->Create(Uri("gone/aborted"));
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE((*stream)->Write("data").ok());
    (*stream)->Abort();
    EXPECT_FALSE((*stream)->Write("more").ok()) << "writing after Abort";
  }
  {
    auto stream = fs_->Create(Uri("gone/dropped"));
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE((*stream)->Write("data").ok());
  }
  {
    auto stream = fs_->CreateForCommit(Uri("gone/staged-dropped"));
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE((*stream)->Write("data").ok());
  }
  EXPECT_THAT(ListPairs(Uri("gone")), IsEmpty());
  if (GetParam() == Kind::kLocal) {
    EXPECT_EQ(
        std::distance(stdfs::directory_iterator(dir_ + "/data/gone"), stdfs::directory_iterator()),
        0)
        << "no hidden file left behind";
  }
}

TEST_P(FileSystemContractTest, CommitStreamPublishesOnlyAtCommitIdempotently) {
  const std::string uri = Uri("sink/part-0");
  absl::StatusOr<std::unique_ptr<CommitStream>> stream = fs_->CreateForCommit(uri);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Write("exactly ").ok());
  ASSERT_TRUE((*stream)->Write("once").ok());
  absl::StatusOr<CommitHandle> handle = (*stream)->CloseForCommit();
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(handle->target, uri);
  EXPECT_EQ(handle->size, 12u);
  EXPECT_FALSE(handle->staged.empty());
  stream->reset();  // dropping the stream after CloseForCommit keeps the staged data

  EXPECT_TRUE(absl::IsNotFound(fs_->Stat(uri).status())) << "not visible before Commit";
  EXPECT_THAT(ListPairs(Uri("sink")), IsEmpty());

  // As after a restart: the handle comes back from checkpoint state.
  absl::StatusOr<CommitHandle> restored = CommitHandle::Decode(handle->Encode());
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_TRUE(fs_->Commit(*restored).ok());
  EXPECT_EQ(*fs_->Read(uri), "exactly once");
  absl::Status again = fs_->Commit(*handle);
  EXPECT_TRUE(again.ok()) << "committing twice is OK: " << again;
  EXPECT_EQ(*fs_->Read(uri), "exactly once");
  EXPECT_EQ(ListPairs(Uri("sink")), (std::vector<std::pair<std::string, uint64_t>>{{uri, 12}}));
}

TEST_P(FileSystemContractTest, AbortCommitDiscardsTheStagedData) {
  const std::string uri = Uri("sink/part-1");
  auto stream = fs_->CreateForCommit(uri);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Write("never published").ok());
  absl::StatusOr<CommitHandle> handle = (*stream)->CloseForCommit();
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(fs_->AbortCommit(*handle).ok());
  EXPECT_TRUE(fs_->AbortCommit(*handle).ok()) << "aborting twice is OK";
  absl::Status commit = fs_->Commit(*handle);
  EXPECT_TRUE(absl::IsNotFound(commit)) << commit;
  EXPECT_THAT(Message(commit), HasSubstr("sink/part-1"));
  EXPECT_TRUE(absl::IsNotFound(fs_->Stat(uri).status()));
  if (GetParam() == Kind::kLocal) {
    EXPECT_FALSE(stdfs::exists(handle->staged));
  }
}

TEST_P(FileSystemContractTest, AnEmptyCommitStreamCommitsAnEmptyFile) {
  const std::string uri = Uri("sink/empty");
  auto stream = fs_->CreateForCommit(uri);
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<CommitHandle> handle = (*stream)->CloseForCommit();
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(handle->size, 0u);
  ASSERT_TRUE(fs_->Commit(*handle).ok());
  EXPECT_EQ(fs_->Stat(uri)->size, 0u);
  EXPECT_EQ(*fs_->Read(uri), "");
}

INSTANTIATE_TEST_SUITE_P(FileSystems, FileSystemContractTest,
                         ::testing::Values(Kind::kLocal, Kind::kS3),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kLocal ? "Local" : "S3";
                         });

// ---------------------------------------------------------------------------------------
// URIs, handles, options

TEST(FileSystemUriTest, JoinUriPutsExactlyOneSlashBetween) {
  EXPECT_EQ(JoinUri("s3://bucket", "key"), "s3://bucket/key");
  EXPECT_EQ(JoinUri("s3://bucket/", "/key"), "s3://bucket/key");
  EXPECT_EQ(JoinUri("s3://bucket/dir//", "a/b"), "s3://bucket/dir/a/b");
  EXPECT_EQ(JoinUri("s3://", "bucket"), "s3://bucket");
  EXPECT_EQ(JoinUri("file:///", "tmp"), "file:///tmp");
  EXPECT_EQ(JoinUri("file:///tmp/", "x"), "file:///tmp/x");
  EXPECT_EQ(JoinUri("/", "tmp"), "/tmp");
  EXPECT_EQ(JoinUri("/tmp", "x"), "/tmp/x");
  EXPECT_EQ(JoinUri("rel/dir/", "x"), "rel/dir/x");
  EXPECT_EQ(JoinUri("", "x"), "x");
}

TEST(FileSystemUriTest, ForUriPicksTheFileSystemByScheme) {
  Config config;
  for (const char* uri :
       {"/tmp/x", "relative/x", "file:///tmp/x", "file:/tmp/x", "file://localhost/tmp/x"}) {
    auto fs = FileSystem::ForUri(uri, config);
    ASSERT_TRUE(fs.ok()) << uri << ": " << fs.status();
    EXPECT_NE(dynamic_cast<LocalFileSystem*>(fs->get()), nullptr) << uri;
  }
  auto s3 = FileSystem::ForUri("s3://bucket/prefix", config);
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_NE(dynamic_cast<S3FileSystem*>(s3->get()), nullptr);

  struct Bad {
    const char* uri;
    const char* message;
  };
  for (const Bad& bad :
       {Bad{"hdfs://namenode/x", "unsupported file system scheme 'hdfs'"},
        Bad{"s3://", "names no bucket"}, Bad{"s3:///key", "names no bucket"},
        Bad{"s3://bad?bucket/key", "is not a bucket name"},
        Bad{"file://otherhost/x", "names host 'otherhost'"}, Bad{"", "empty path"}}) {
    auto fs = FileSystem::ForUri(bad.uri, config);
    ASSERT_FALSE(fs.ok()) << bad.uri;
    EXPECT_EQ(fs.status().code(), absl::StatusCode::kInvalidArgument) << bad.uri;
    EXPECT_THAT(Message(fs.status()), HasSubstr(bad.message)) << bad.uri;
  }
}

TEST(CommitHandleTest, EncodeDecodeRoundTrips) {
  CommitHandle handle;
  handle.target = std::string("s3://bucket/part\0\xff", 19);
  handle.staged = "upload-id-123";
  handle.parts = {"\"etag1\"", "\"etag2\"", ""};
  handle.size = (uint64_t{1} << 40) + 7;
  absl::StatusOr<CommitHandle> decoded = CommitHandle::Decode(handle.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->target, handle.target);
  EXPECT_EQ(decoded->staged, handle.staged);
  EXPECT_EQ(decoded->parts, handle.parts);
  EXPECT_EQ(decoded->size, handle.size);
}

TEST(CommitHandleTest, DecodeRejectsGarbageWithAClearError) {
  CommitHandle handle;
  handle.target = "file:///tmp/out";
  handle.staged = "/tmp/.out.inprogress.0123456789abcdef";
  handle.size = 300;
  const std::string good = handle.Encode();
  std::vector<std::string> garbage = {
      "",
      "garbage",
      "EFH1",
      good + "x",
      std::string("EFH1\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 15),
      "EFH1\x05short"};
  for (size_t n = 0; n < good.size(); ++n) garbage.push_back(good.substr(0, n));
  for (const std::string& bytes : garbage) {
    absl::StatusOr<CommitHandle> decoded = CommitHandle::Decode(bytes);
    ASSERT_FALSE(decoded.ok()) << absl::CHexEscape(bytes);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(decoded.status()), StartsWith("not a commit handle: "));
  }
  EXPECT_THAT(Message(CommitHandle::Decode("garbage").status()), HasSubstr("EFH1 header"));
  EXPECT_THAT(Message(CommitHandle::Decode(good + "xy").status()), HasSubstr("2 trailing bytes"));
}

/// Sets or unsets environment variables for one scope.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      if (value != nullptr) {
        ::setenv(name, value, 1);
      } else {
        ::unsetenv(name);
      }
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(S3OptionsTest, ConfigKeysComeFirstThenTheEnvironment) {
  {
    ScopedEnv env({{"AWS_REGION", nullptr},
                   {"AWS_DEFAULT_REGION", nullptr},
                   {"AWS_ACCESS_KEY_ID", nullptr},
                   {"AWS_SECRET_ACCESS_KEY", nullptr},
                   {"AWS_SESSION_TOKEN", nullptr},
                   {"AWS_ROLE_ARN", nullptr},
                   {"AWS_CONTAINER_CREDENTIALS_FULL_URI", nullptr},
                   {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", nullptr},
                   {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
                   {"AWS_EC2_METADATA_DISABLED", "true"}});
    absl::StatusOr<S3Options> o = S3Options::FromConfig(Config());
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->region, "us-east-1");
    EXPECT_EQ(o->endpoint, "");
    EXPECT_FALSE(o->path_style);
    ASSERT_NE(o->credentials, nullptr);
    absl::StatusOr<AwsCredentials> none = o->credentials->Get();
    ASSERT_FALSE(none.ok()) << "credentials from " << none->provider;
    EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(Message(none.status()), HasSubstr("/nonexistent/credentials does not exist"));
    EXPECT_EQ(o->part_size, 5 * kMiB);
    EXPECT_EQ(o->max_retries, 5);
  }
  {
    ScopedEnv env({{"AWS_REGION", nullptr},
                   {"AWS_DEFAULT_REGION", "eu-west-1"},
                   {"AWS_ACCESS_KEY_ID", "AKIDENV"},
                   {"AWS_SECRET_ACCESS_KEY", "secretenv"},
                   {"AWS_SESSION_TOKEN", "token"}});
    absl::StatusOr<S3Options> o = S3Options::FromConfig(Config());
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->region, "eu-west-1");
    absl::StatusOr<AwsCredentials> keys = o->credentials->Get();
    ASSERT_TRUE(keys.ok()) << keys.status();
    EXPECT_EQ(keys->access_key, "AKIDENV");
    EXPECT_EQ(keys->secret_key, "secretenv");
    EXPECT_EQ(keys->session_token, "token");

    ScopedEnv region({{"AWS_REGION", "ap-south-1"}});
    Config config;
    ASSERT_TRUE(config.Set(opt::kS3AccessKey, "AKIDCONF").ok());
    ASSERT_TRUE(config.Set(opt::kS3SecretKey, "secretconf").ok());
    ASSERT_TRUE(config.Set(opt::kS3Endpoint, "http://127.0.0.1:9000/").ok());
    ASSERT_TRUE(config.Set(opt::kS3UploadMinPartSize, "8mb").ok());
    ASSERT_TRUE(config.Set(opt::kS3MaxRetries, "2").ok());
    o = S3Options::FromConfig(config);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->region, "ap-south-1") << "AWS_REGION before AWS_DEFAULT_REGION";
    keys = o->credentials->Get();
    ASSERT_TRUE(keys.ok()) << keys.status();
    EXPECT_EQ(keys->access_key, "AKIDCONF");
    EXPECT_EQ(keys->secret_key, "secretconf");
    EXPECT_EQ(keys->session_token, "") << "the environment's token belongs to its keys";
    EXPECT_EQ(o->endpoint, "http://127.0.0.1:9000");
    EXPECT_TRUE(o->path_style) << "implied by an endpoint";
    EXPECT_EQ(o->part_size, 8 * kMiB);
    EXPECT_EQ(o->max_retries, 2);

    ASSERT_TRUE(config.Set(opt::kS3Region, "us-west-2").ok());
    EXPECT_EQ(S3Options::FromConfig(config)->region, "us-west-2");
  }
}

TEST(S3OptionsTest, BadSettingsAreErrorsNamingTheKey) {
  ScopedEnv env({{"AWS_ACCESS_KEY_ID", nullptr}, {"AWS_SECRET_ACCESS_KEY", nullptr}});
  struct Bad {
    const char* key;
    const char* value;
    const char* message;
  };
  for (const Bad& bad :
       {Bad{opt::kS3Endpoint, "127.0.0.1:9000", "s3.endpoint '127.0.0.1:9000' must start with"},
        Bad{opt::kS3UploadMinPartSize, "1mb", "s3.upload.min.part.size is 1048576 bytes"},
        Bad{opt::kS3UploadMinPartSize, "6gb", "S3 takes parts of 5mb to 5gb"},
        Bad{opt::kS3AccessKey, "AKID", "s3.access-key is set but s3.secret-key is not"},
        Bad{opt::kS3SecretKey, "secret", "s3.secret-key is set but s3.access-key is not"},
        Bad{opt::kS3Region, "us:east", "S3 region 'us:east'"}}) {
    Config config;
    ASSERT_TRUE(config.Set(bad.key, bad.value).ok()) << bad.key;
    absl::StatusOr<S3Options> o = S3Options::FromConfig(config);
    ASSERT_FALSE(o.ok()) << bad.key;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(o.status()), HasSubstr(bad.message));
  }
  ScopedEnv half({{"AWS_ACCESS_KEY_ID", "AKID"}});
  EXPECT_THAT(Message(S3Options::FromConfig(Config()).status()),
              HasSubstr("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
}

// ---------------------------------------------------------------------------------------
// Local

class LocalFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTestDir("local-fs"); }
  void TearDown() override { testing::RemoveTestDir(dir_); }

  std::set<std::string> Names(const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : stdfs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
  }

  std::string dir_;
  LocalFileSystem fs_;
};

TEST_F(LocalFileSystemTest, PlainPathsAndFileUrisNameTheSameFiles) {
  ASSERT_TRUE(fs_.WriteAtomically(dir_ + "/d/f", "plain").ok());
  EXPECT_EQ(*fs_.Read("file://" + dir_ + "/d/f"), "plain");
  EXPECT_EQ(*fs_.Read("file:" + dir_ + "/d/f"), "plain");
  EXPECT_EQ(fs_.Stat("file://" + dir_ + "/d/f")->uri, "file://" + dir_ + "/d/f");
  EXPECT_EQ(Pairs(*fs_.List(dir_ + "/d")),
            (std::vector<std::pair<std::string, uint64_t>>{{dir_ + "/d/f", 5}}));
  EXPECT_EQ(Pairs(*fs_.List("file://" + dir_ + "/d/")),
            (std::vector<std::pair<std::string, uint64_t>>{{"file://" + dir_ + "/d/f", 5}}));
}

TEST_F(LocalFileSystemTest, WritesGoThroughHiddenSiblingsThatListingSkips) {
  auto stream = fs_.Create(dir_ + "/out/file");
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE((*stream)->Write("streamed").ok());
  auto staged = fs_.CreateForCommit(dir_ + "/out/part");
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE((*staged)->Write("staged").ok());
  absl::StatusOr<CommitHandle> handle = (*staged)->CloseForCommit();
  ASSERT_TRUE(handle.ok()) << handle.status();

  std::set<std::string> names = Names(dir_ + "/out");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_THAT(*names.begin(), ::testing::MatchesRegex(R"(\.file\.tmp\.[0-9a-f]{16})"));
  EXPECT_THAT(*names.rbegin(), ::testing::MatchesRegex(R"(\.part\.inprogress\.[0-9a-f]{16})"));
  EXPECT_EQ(handle->staged, dir_ + "/out/" + *names.rbegin());
  EXPECT_THAT(*fs_.List(dir_ + "/out"), IsEmpty());

  ASSERT_TRUE((*stream)->Close().ok());
  ASSERT_TRUE(fs_.Commit(*handle).ok());
  EXPECT_EQ(Names(dir_ + "/out"), (std::set<std::string>{"file", "part"}));
  EXPECT_EQ(Pairs(*fs_.List(dir_)), (std::vector<std::pair<std::string, uint64_t>>{
                                        {dir_ + "/out/file", 8}, {dir_ + "/out/part", 6}}));
}

TEST_F(LocalFileSystemTest, ErrorsNameThePathAndTheSystemReason) {
  std::ofstream(dir_ + "/plain") << "x";
  absl::Status status = fs_.WriteAtomically(dir_ + "/plain/file", "bytes");
  EXPECT_THAT(Message(status), HasSubstr("cannot create directory " + dir_ + "/plain"));
  EXPECT_THAT(Message(status), HasSubstr("Not a directory"));

  stdfs::create_directories(dir_ + "/a-dir");
  status = fs_.WriteAtomically(dir_ + "/a-dir", "bytes");
  EXPECT_THAT(Message(status), HasSubstr("cannot rename into " + dir_ + "/a-dir: Is a directory"));
  EXPECT_EQ(Names(dir_ + "/a-dir"), std::set<std::string>{}) << "no temporary file left";

  status = fs_.Read(dir_ + "/missing").status();
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_THAT(Message(status), HasSubstr(dir_ + "/missing: No such file or directory"));
  EXPECT_THAT(Message(fs_.Read(dir_ + "/a-dir").status()), HasSubstr("a directory"));

  CommitHandle gone{dir_ + "/target", dir_ + "/.target.inprogress.0", {}, 0};
  status = fs_.Commit(gone);
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_THAT(Message(status),
              HasSubstr("the staged file " + dir_ + "/.target.inprogress.0 is gone"));
}

// ---------------------------------------------------------------------------------------
// S3 against s3rver

class S3FileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTestDir("s3-fs");
    s3_ = std::make_unique<testing::S3rver>(dir_ + "/s3", std::vector<std::string>{kBucket});
    ASSERT_TRUE(s3_->running());
  }
  void TearDown() override {
    s3_.reset();
    testing::RemoveTestDir(dir_);
  }

  /// A file system for s3rver; `settings` are extra key=value overrides.
  std::unique_ptr<S3FileSystem> MakeFs(
      std::vector<std::pair<const char*, std::string>> settings = {}, int list_page_size = 1000) {
    Config config = s3_->MakeConfig();
    for (const auto& [key, value] : settings) EXPECT_TRUE(config.Set(key, value).ok()) << key;
    absl::StatusOr<S3Options> options = S3Options::FromConfig(config);
    EXPECT_TRUE(options.ok()) << options.status();
    options->list_page_size = list_page_size;
    return std::make_unique<S3FileSystem>(*options);
  }

  static std::string Uri(std::string_view key) {
    return absl::StrCat("s3://", kBucket, "/", absl::string_view(key.data(), key.size()));
  }

  std::string ClientGet(const std::string& key) {
    absl::StatusOr<std::string> out = s3_->Client({"get", kBucket, key});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : "";
  }

  std::string dir_;
  std::unique_ptr<testing::S3rver> s3_;
};

TEST_F(S3FileSystemTest, StreamsPastThePartSizeAreMultipartUploads) {
  auto fs = MakeFs();
  ASSERT_EQ(fs->options().part_size, 5 * kMiB);
  const std::string data = Bytes(11 * kMiB + 123, 3);

  auto staged = fs->CreateForCommit(Uri("big/committed"));
  ASSERT_TRUE(staged.ok()) << staged.status();
  for (size_t at = 0; at < data.size(); at += kMiB) {
    ASSERT_TRUE((*staged)->Write(std::string_view(data).substr(at, kMiB)).ok());
  }
  absl::StatusOr<CommitHandle> handle = (*staged)->CloseForCommit();
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(handle->parts.size(), 3u) << "5 MiB + 5 MiB + the rest";
  EXPECT_EQ(handle->size, data.size());
  ASSERT_TRUE(fs->Commit(*handle).ok());

  auto stream = fs->Create(Uri("big/streamed"));
  ASSERT_TRUE(stream.ok());
  for (size_t at = 0; at < data.size(); at += 3 * kMiB) {
    ASSERT_TRUE((*stream)->Write(std::string_view(data).substr(at, 3 * kMiB)).ok());
  }
  ASSERT_TRUE((*stream)->Close().ok());
  ASSERT_TRUE(fs->WriteAtomically(Uri("big/atomic"), data).ok());

  for (const char* key : {"big/committed", "big/streamed", "big/atomic"}) {
    EXPECT_EQ(fs->Stat(Uri(key))->size, data.size()) << key;
    absl::StatusOr<std::string> read = fs->Read(Uri(key));
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(*read == data) << key << ": content differs";
    // Across the boundary of the first two parts.
    EXPECT_TRUE(*fs->Read(Uri(key), 5 * kMiB - 10, 20) == data.substr(5 * kMiB - 10, 20)) << key;
    EXPECT_EQ(Sha256Hex(ClientGet(key)), Sha256Hex(data)) << key << " read by @aws-sdk/client-s3";
  }
}

TEST_F(S3FileSystemTest, ACommitStreamOfOnePartIsStillAMultipartUpload) {
  auto fs = MakeFs();
  auto staged = fs->CreateForCommit(Uri("small/part"));
  ASSERT_TRUE(staged.ok()) << staged.status();
  ASSERT_TRUE((*staged)->Write("small").ok());
  absl::StatusOr<CommitHandle> handle = (*staged)->CloseForCommit();
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(handle->parts.size(), 1u);
  EXPECT_FALSE(handle->staged.empty()) << "the upload id";
  EXPECT_EQ(*s3_->Client({"list", kBucket, "small/"}), "") << "nothing visible yet";
  ASSERT_TRUE(fs->Commit(*handle).ok());
  EXPECT_EQ(ClientGet("small/part"), "small");
}

TEST_F(S3FileSystemTest, CommitsAfterTheServerWasRestarted) {
  auto fs = MakeFs();
  auto staged = fs->CreateForCommit(Uri("restart/part"));
  ASSERT_TRUE(staged.ok()) << staged.status();
  ASSERT_TRUE((*staged)->Write("survives").ok());
  absl::StatusOr<CommitHandle> handle = (*staged)->CloseForCommit();
  ASSERT_TRUE(handle.ok()) << handle.status();
  s3_->Stop();
  ASSERT_TRUE(s3_->Start());
  ASSERT_TRUE(fs->Commit(*handle).ok());
  EXPECT_EQ(*fs->Read(Uri("restart/part")), "survives");
}

TEST_F(S3FileSystemTest, ListingsArePagedAndKeysXmlEscaped) {
  auto fs = MakeFs({}, /*list_page_size=*/10);
  std::vector<std::pair<std::string, uint64_t>> expected;
  for (int i = 0; i < 25; ++i) {
    const std::string key = absl::StrFormat("paged/key-%02d", i);
    ASSERT_TRUE(fs->WriteAtomically(Uri(key), std::string(i, 'k')).ok());
    expected.emplace_back(Uri(key), i);
  }
  const std::string odd = "paged/a&b <c> 'd' \"e\" f+g=h%i ü.txt";
  ASSERT_TRUE(fs->WriteAtomically(Uri(odd), "odd").ok());
  expected.emplace_back(Uri(odd), 3);
  std::sort(expected.begin(), expected.end());

  absl::StatusOr<std::vector<FileStatus>> listed = fs->List(Uri("paged"));
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(Pairs(*listed), expected);
  EXPECT_EQ(*fs->Read(Uri(odd)), "odd");
  EXPECT_EQ(ClientGet(odd), "odd");

  std::string by_client;
  for (const auto& [uri, size] : expected) {
    absl::StrAppend(&by_client, uri.substr(absl::StrCat("s3://", kBucket, "/").size()), " ", size,
                    "\n");
  }
  EXPECT_EQ(*s3_->Client({"list", kBucket, "paged/"}), by_client);

  ASSERT_TRUE(fs->DeleteRecursive(Uri("paged")).ok());
  EXPECT_THAT(*fs->List(Uri("paged")), IsEmpty());
  EXPECT_EQ(*s3_->Client({"list", kBucket, "paged/"}), "");
}

TEST_F(S3FileSystemTest, ObjectsRoundTripWithAnIndependentClient) {
  auto fs = MakeFs();
  const std::string binary = Bytes(70'000, 4);
  ASSERT_TRUE(fs->WriteAtomically(Uri("interop/from-eddy.bin"), binary).ok());
  EXPECT_TRUE(ClientGet("interop/from-eddy.bin") == binary);

  const std::string file = dir_ + "/upload.bin";
  const std::string other = Bytes(50'000, 5);
  std::ofstream(file, std::ios::binary) << other;
  ASSERT_TRUE(s3_->Client({"put", kBucket, "interop/from node+x=y.bin", file}).ok());
  absl::StatusOr<std::string> read = fs->Read(Uri("interop/from node+x=y.bin"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == other);
  EXPECT_TRUE(*fs->Read(Uri("interop/from node+x=y.bin"), 100, 50) == other.substr(100, 50));
  EXPECT_EQ(Pairs(*fs->List(Uri("interop"))), (std::vector<std::pair<std::string, uint64_t>>{
                                                  {Uri("interop/from node+x=y.bin"), 50'000},
                                                  {Uri("interop/from-eddy.bin"), 70'000}}));
}

TEST_F(S3FileSystemTest, AMissingBucketIsAnErrorNamingBucketAndKey) {
  auto fs = MakeFs();
  const std::string uri = "s3://no-such-bucket/some/key.txt";
  for (const absl::Status& status :
       {fs->Read(uri).status(), fs->WriteAtomically(uri, "x"), fs->CreateForCommit(uri).status(),
        fs->List("s3://no-such-bucket/some").status()}) {
    ASSERT_FALSE(status.ok());
    EXPECT_THAT(Message(status), HasSubstr("no-such-bucket"));
    EXPECT_THAT(Message(status), HasSubstr("some/"));
    EXPECT_THAT(Message(status), HasSubstr("NoSuchBucket"));
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  }
  absl::Status missing_key = fs->Read(Uri("no/such/key")).status();
  EXPECT_TRUE(absl::IsNotFound(missing_key));
  EXPECT_THAT(Message(missing_key), HasSubstr("NoSuchKey"));
  EXPECT_THAT(Message(missing_key), HasSubstr("bucket 'eddy', key 'no/such/key'"));
}

TEST_F(S3FileSystemTest, RetriesUntilTheServerIsBack) {
  auto fs = MakeFs({{opt::kS3MaxRetries, "8"}});                  // ~25 s of backoff in all
  ASSERT_TRUE(fs->WriteAtomically(Uri("retry/warm"), "x").ok());  // a pooled connection too
  s3_->Stop();
  testing::StderrCapture log(dir_ + "/stderr.log");
  absl::Status written;
  std::atomic<bool> done = false;
  std::thread writer([&] {
    written = fs->WriteAtomically(Uri("retry/key"), "after the outage");
    done = true;
  });
  EXPECT_TRUE(
      testing::WaitUntil([&] { return log.Text().find("retry 2 of 8") != std::string::npos; },
                         std::chrono::seconds(20)))
      << "the write did not retry";
  EXPECT_FALSE(done);
  ASSERT_TRUE(s3_->Start());
  writer.join();
  EXPECT_TRUE(written.ok()) << written;
  EXPECT_THAT(log.Text(), HasSubstr("S3 PUT s3://eddy/retry/key: "));
  EXPECT_EQ(*fs->Read(Uri("retry/key")), "after the outage");
}

TEST_F(S3FileSystemTest, GivesUpAfterTheRetriesNamingTheKey) {
  auto fs = MakeFs({{opt::kS3MaxRetries, "2"}});
  s3_->Stop();
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = fs->WriteAtomically(Uri("down/key"), "lost");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(Message(status), HasSubstr("S3 PUT s3://eddy/down/key failed after 3 attempts"));
  EXPECT_THAT(Message(status), HasSubstr("bucket 'eddy', key 'down/key'"));
  EXPECT_TRUE(absl::IsUnavailable(fs->Read(Uri("down/key")).status()));
}

// ---------------------------------------------------------------------------------------
// Requests as sent: a scripted HTTP server answers what s3rver cannot be made to (5xx,
// throttling, errors after a 200) and shows what libcurl sent.

/// Answers HTTP requests on 127.0.0.1 with the given responses in turn, one connection each
/// ("Connection: close"), and keeps the requests' text. Stops after the last response, or
/// when none comes for 20 s.
class ScriptedHttpServer {
 public:
  explicit ScriptedHttpServer(std::vector<std::string> responses)
      : responses_(std::move(responses)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (const std::string& response : responses_) {
        if (!ServeOne(response)) break;
      }
      ::close(fd_);  // later connections are refused
    });
  }
  ~ScriptedHttpServer() {
    if (thread_.joinable()) thread_.join();
  }

  /// "HTTP/1.1 <status>" with `body` and the headers a server always sends.
  static std::string Response(std::string_view status, std::string_view body = "",
                              std::string_view extra_headers = "") {
    return absl::StrCat("HTTP/1.1 ", absl::string_view(status.data(), status.size()),
                        "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n",
                        absl::string_view(extra_headers.data(), extra_headers.size()), "\r\n",
                        absl::string_view(body.data(), body.size()));
  }

  uint16_t port() const { return port_; }
  /// Every request answered, once all responses were sent (or the server gave up).
  const std::vector<std::string>& Requests() {
    if (thread_.joinable()) thread_.join();
    return requests_;
  }
  std::string Request(size_t i = 0) {
    return i < Requests().size() ? Requests()[i] : std::string();
  }
  /// The value of header `name` (any case) in request `i`.
  std::string Header(std::string_view name, size_t i = 0) {
    const std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
    std::istringstream lines(Request(i));
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon != std::string::npos && absl::AsciiStrToLower(line.substr(0, colon)) == lower) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
    return "";
  }

 private:
  bool ServeOne(const std::string& response) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 20'000) != 1) return false;
    const int conn = ::accept(fd_, nullptr, nullptr);
    if (conn < 0) return false;
    std::string request;
    char buffer[4096];
    size_t end = std::string::npos;
    while (end == std::string::npos || request.size() < end) {
      p = pollfd{conn, POLLIN, 0};
      if (::poll(&p, 1, 20'000) != 1) break;
      const ssize_t n = ::read(conn, buffer, sizeof(buffer));
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
      const size_t head_end = request.find("\r\n\r\n");
      if (head_end != std::string::npos && end == std::string::npos) {
        end = head_end + 4;
        const std::string head = absl::AsciiStrToLower(request.substr(0, head_end));
        const size_t length = head.find("\ncontent-length:");
        if (length != std::string::npos) end += std::stoul(head.substr(length + 16));
      }
    }
    requests_.push_back(std::move(request));
    ssize_t ignored = ::write(conn, response.data(), response.size());
    (void)ignored;
    ::close(conn);
    return true;
  }

  std::vector<std::string> responses_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::string> requests_;
};

TEST(S3HttpTest, RetriesServerErrorsAndThrottlingWithTheSameRequest) {
  ScriptedHttpServer server({
      ScriptedHttpServer::Response("503 Slow Down",
                                   "<Error><Code>SlowDown</Code><Message>Reduce your request rate."
                                   "</Message></Error>"),
      ScriptedHttpServer::Response("429 Too Many Requests"),
      ScriptedHttpServer::Response(
          "500 Internal Server Error",
          "<Error><Code>InternalError</Code><Message>Try again.</Message></Error>"),
      ScriptedHttpServer::Response("200 OK"),
  });
  S3Options options;
  options.endpoint = absl::StrCat("http://127.0.0.1:", server.port());
  options.access_key = "AKID";
  options.secret_key = "secret";
  options.retry_base_delay = std::chrono::milliseconds(1);
  S3FileSystem fs(options);
  absl::Status status = fs.WriteAtomically("s3://bkt/dir/k", "payload");
  EXPECT_TRUE(status.ok()) << status;
  ASSERT_EQ(server.Requests().size(), 4u);
  for (const std::string& request : server.Requests()) {
    EXPECT_THAT(request, StartsWith("PUT /bkt/dir/k HTTP/1.1\r\n"));
    EXPECT_THAT(request, ::testing::EndsWith("\r\n\r\npayload"));
  }
}

TEST(S3HttpTest, ClientErrorsAreNotRetriedAndNameBucketKeyAndS3sCode) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(
      "403 Forbidden",
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied"
      "</Code><Message>Access Denied &amp; logged</Message></Error>")});
  S3Options options;
  options.endpoint = absl::StrCat("http://127.0.0.1:", server.port());
  options.retry_base_delay = std::chrono::milliseconds(1);
  S3FileSystem fs(options);
  absl::Status status = fs.WriteAtomically("s3://bkt/dir/k", "payload");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_EQ(Message(status),
            "S3 PUT s3://bkt/dir/k: HTTP 403 AccessDenied: Access Denied & logged "
            "(bucket 'bkt', key 'dir/k')");
  EXPECT_EQ(server.Requests().size(), 1u);
  EXPECT_EQ(server.Header("Authorization"), "") << "no keys: unsigned";
}

TEST(S3HttpTest, CommitRetriesACompletionThatFailedAfterItsOk) {
  ScriptedHttpServer server({
      ScriptedHttpServer::Response("200 OK",
                                   "<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code>"
                                   "<Message>We encountered an internal error.</Message></Error>"),
      ScriptedHttpServer::Response(
          "200 OK", "<CompleteMultipartUploadResult><Key>k</Key></CompleteMultipartUploadResult>"),
  });
  S3Options options;
  options.endpoint = absl::StrCat("http://127.0.0.1:", server.port());
  options.retry_base_delay = std::chrono::milliseconds(1);
  S3FileSystem fs(options);
  CommitHandle handle{"s3://bkt/k", "upload/id+1", {"\"etag-1\"", "\"etag-2\""}, 10};
  absl::Status status = fs.Commit(handle);
  EXPECT_TRUE(status.ok()) << status;
  ASSERT_EQ(server.Requests().size(), 2u);
  EXPECT_THAT(server.Request(1), StartsWith("POST /bkt/k?uploadId=upload%2Fid%2B1 HTTP/1.1\r\n"));
  EXPECT_THAT(server.Request(1),
              HasSubstr("<Part><PartNumber>1</PartNumber><ETag>&quot;etag-1&quot;</ETag></Part>"
                        "<Part><PartNumber>2</PartNumber><ETag>&quot;etag-2&quot;</ETag></Part>"));
}

// SigV4: libcurl's signatures of the S3 file system's requests equal those of AWS's
// published examples ("Signature Calculations for the Authorization Header: Transferring
// Payload in a Single Chunk", S3 API reference).
class S3SigV4Test : public ::testing::Test {
 protected:
  S3Options ExampleOptions() {
    S3Options options;
    options.access_key = "AKIAIOSFODNN7EXAMPLE";
    options.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    options.region = "us-east-1";
    return options;
  }
  /// Sends `request` to examplebucket.s3.amazonaws.com, which is `server_` here.
  void Send(internal::S3HttpRequest request) {
    request.connect_to =
        absl::StrCat("examplebucket.s3.amazonaws.com:80:127.0.0.1:", server_.port());
    absl::StatusOr<internal::S3HttpResponse> response =
        internal::SendS3Request(ExampleOptions(), request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(server_.Header("Host"), "examplebucket.s3.amazonaws.com");
  }

  ScriptedHttpServer server_{{ScriptedHttpServer::Response("200 OK")}};
};

TEST_F(S3SigV4Test, GetObjectExample) {
  Send({.method = "GET",
        .url = "http://examplebucket.s3.amazonaws.com/test.txt",
        .headers = {"Range: bytes=0-9", "x-amz-date: 20130524T000000Z"}});
  EXPECT_THAT(server_.Request(), StartsWith("GET /test.txt HTTP/1.1\r\n"));
  EXPECT_EQ(server_.Header("x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(server_.Header("Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_F(S3SigV4Test, PutObjectExampleWithAnEncodedKeyAndABody) {
  Send({.method = "PUT",
        .url = "http://examplebucket.s3.amazonaws.com/" +
               internal::S3UriEncode("test$file.text", /*keep_slash=*/true),
        .headers = {"Date: Fri, 24 May 2013 00:00:00 GMT", "x-amz-date: 20130524T000000Z",
                    "x-amz-storage-class: REDUCED_REDUNDANCY"},
        .body = "Welcome to Amazon S3."});
  EXPECT_THAT(server_.Request(), StartsWith("PUT /test%24file.text HTTP/1.1\r\n"));
  EXPECT_THAT(server_.Request(), ::testing::EndsWith("\r\n\r\nWelcome to Amazon S3."));
  EXPECT_EQ(server_.Header("x-amz-content-sha256"),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(server_.Header("Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_F(S3SigV4Test, ListObjectsExampleWithAQuery) {
  Send({.method = "GET",
        .url = "http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
        .headers = {"x-amz-date: 20130524T000000Z"}});
  EXPECT_EQ(server_.Header("Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(S3UriEncodeTest, EncodesAllButUnreservedBytes) {
  EXPECT_EQ(internal::S3UriEncode("a/b c+d=e&f~g.h_i-j", true), "a/b%20c%2Bd%3De%26f~g.h_i-j");
  EXPECT_EQ(internal::S3UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(internal::S3UriEncode("ü", true), "%C3%BC");
}

TEST(S3XmlTest, ElementTextsAreUnescaped) {
  const std::string xml =
      "<ListBucketResult xmlns=\"x\"><KeyCount>2</KeyCount><Contents><Key>a&amp;b&lt;c&gt;&quot;"
      "&apos;&#233;&#xFC;&bogus;</Key></Contents><Contents><Key/></Contents></ListBucketResult>";
  EXPECT_THAT(internal::XmlElementTexts(xml, "Key"), ElementsAre("a&b<c>\"'éü&bogus;", ""));
  EXPECT_THAT(internal::XmlElementTexts(xml, "KeyCount"), ElementsAre("2"));
  EXPECT_THAT(internal::XmlElementTexts(xml, "Missing"), IsEmpty());
}

}  // namespace
}  // namespace eddy::fs
