#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace eddy {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

// absl::Status::message() is an absl::string_view, which gmock's string matchers do not
// take in Debian's Abseil build.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Writes `text` to a fresh file under the test temp dir and returns its path.
std::string WriteTempFile(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  EXPECT_TRUE(out) << "cannot write " << path;
  return path;
}

// ---------------------------------------------------------------------------------------
// Durations

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("5s"), milliseconds(5'000));
  EXPECT_EQ(*ParseDuration("5sec"), milliseconds(5'000));
  EXPECT_EQ(*ParseDuration("1min"), milliseconds(60'000));
  EXPECT_EQ(*ParseDuration("3m"), milliseconds(180'000));
  EXPECT_EQ(*ParseDuration("2h"), milliseconds(7'200'000));
  EXPECT_EQ(*ParseDuration("1d"), milliseconds(86'400'000));
}

TEST(DurationTest, BareNumberIsMilliseconds) {
  EXPECT_EQ(*ParseDuration("250"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
}

TEST(DurationTest, AcceptsWhitespaceAndAnyCase) {
  EXPECT_EQ(*ParseDuration("5 s"), milliseconds(5'000));
  EXPECT_EQ(*ParseDuration("  10ms  "), milliseconds(10));
  EXPECT_EQ(*ParseDuration("2MIN"), milliseconds(120'000));
}

TEST(DurationTest, RejectsMalformedNegativeFractionalAndOverflow) {
  for (const char* bad :
       {"", "   ", "abc", "s", "-5s", "+5s", "1.5s", "5x", "5 m s", "5ms5", "5weeks",
        "99999999999999999999", "9223372036854775807s", "200000000000d"}) {
    absl::StatusOr<milliseconds> d = ParseDuration(bad);
    ASSERT_FALSE(d.ok()) << "'" << bad << "' parsed as " << d->count() << "ms";
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(d.status()), HasSubstr("such as 500ms, 5s, 1min"));
    EXPECT_THAT(Message(d.status()), HasSubstr(std::string("'") + bad + "'"));
  }
}

TEST(DurationTest, AcceptsLargestRepresentable) {
  EXPECT_EQ(*ParseDuration("9223372036854775807"), milliseconds(INT64_MAX));
}

TEST(DurationTest, FormatPicksLargestExactUnit) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0ms");
  EXPECT_EQ(FormatDuration(milliseconds(1'500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(5'000)), "5s");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "90s");
  EXPECT_EQ(FormatDuration(milliseconds(60'000)), "1min");
  EXPECT_EQ(FormatDuration(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(FormatDuration(milliseconds(2 * 86'400'000)), "2d");
}

TEST(DurationTest, FormatThenParseRoundTrips) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{61'000}, int64_t{7'200'000},
                     int64_t{86'400'001}, INT64_MAX}) {
    absl::StatusOr<milliseconds> back = ParseDuration(FormatDuration(milliseconds(ms)));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->count(), ms);
  }
}

// ---------------------------------------------------------------------------------------
// Memory sizes

TEST(MemorySizeTest, ParsesBinaryUnits) {
  EXPECT_EQ(*ParseMemorySize("100"), 100);
  EXPECT_EQ(*ParseMemorySize("100b"), 100);
  EXPECT_EQ(*ParseMemorySize("32kb"), 32 * 1024);
  EXPECT_EQ(*ParseMemorySize("64k"), 64 * 1024);
  EXPECT_EQ(*ParseMemorySize("1KiB"), 1024);
  EXPECT_EQ(*ParseMemorySize("16mb"), 16 * 1024 * 1024);
  EXPECT_EQ(*ParseMemorySize("16MB"), 16 * 1024 * 1024);
  EXPECT_EQ(*ParseMemorySize("1gb"), int64_t{1} << 30);
  EXPECT_EQ(*ParseMemorySize("2 tb"), int64_t{2} << 40);
  EXPECT_EQ(*ParseMemorySize("0"), 0);
}

TEST(MemorySizeTest, RejectsMalformedNegativeAndOverflow) {
  for (const char* bad : {"", "abc", "mb", "-1", "-1mb", "1.5mb", "16xb", "1pb", "16 m b",
                          "9999999tb", "9223372036854775808"}) {
    absl::StatusOr<int64_t> n = ParseMemorySize(bad);
    ASSERT_FALSE(n.ok()) << "'" << bad << "' parsed as " << *n;
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(n.status()), HasSubstr("such as 32kb, 16mb"));
  }
}

// ---------------------------------------------------------------------------------------
// Options table

TEST(ConfigTest, OptionsAreSortedUniqueAndDescribed) {
  const auto& options = AllConfigOptions();
  for (size_t i = 1; i < options.size(); ++i) {
    EXPECT_LT(options[i - 1].key, options[i].key);
  }
  for (const ConfigOptionSpec& spec : options) {
    EXPECT_FALSE(spec.description.empty()) << spec.key;
  }
}

TEST(ConfigTest, EveryOptKeyIsDeclared) {
  const std::vector<std::string_view> keys = {opt::kRestAddress,
                                              opt::kRestPort,
                                              opt::kJobManagerRpcAddress,
                                              opt::kJobManagerRpcPort,
                                              opt::kTaskManagerHost,
                                              opt::kTaskManagerResourceId,
                                              opt::kTaskManagerSlots,
                                              opt::kTaskManagerDataPort,
                                              opt::kTaskManagerRegistrationBackoff,
                                              opt::kHeartbeatInterval,
                                              opt::kHeartbeatTimeout,
                                              opt::kRpcMaxFrameSize,
                                              opt::kRpcTimeout,
                                              opt::kLogLevel,
                                              opt::kTaskManagerRpcPort,
                                              opt::kTaskManagerNetworkBuffers,
                                              opt::kTaskManagerTmpDir,
                                              opt::kBufferTimeout,
                                              opt::kSlotRequestTimeout,
                                              opt::kJobManagerBlobDir,
                                              opt::kRestMaxContentLength,
                                              opt::kRestartStrategy,
                                              opt::kFixedDelayAttempts,
                                              opt::kFixedDelayDelay,
                                              opt::kExponentialInitialBackoff,
                                              opt::kExponentialMaxBackoff,
                                              opt::kExponentialBackoffMultiplier,
                                              opt::kExponentialJitterFactor,
                                              opt::kExponentialResetBackoffThreshold,
                                              opt::kAutoWatermarkInterval,
                                              opt::kLatencyInterval,
                                              opt::kRuntimeMode,
                                              opt::kJobStoreExpirationTime,
                                              opt::kJobStoreMaxCapacity,
                                              opt::kStateBackendType,
                                              opt::kStateBackendIncremental,
                                              opt::kStateRocksDbLocalDir,
                                              opt::kStateRocksDbBlockCacheSize,
                                              opt::kStateRocksDbWriteBufferSize,
                                              opt::kStateRocksDbWriteBufferCount,
                                              opt::kStateRocksDbMemoryFixedPerSlot,
                                              opt::kJobManagerArchiveDir,
                                              opt::kCheckpointingInterval,
                                              opt::kCheckpointingTimeout,
                                              opt::kCheckpointingMinPause,
                                              opt::kCheckpointingMode,
                                              opt::kCheckpointingTolerableFailures,
                                              opt::kCheckpointsNumRetained,
                                              opt::kCheckpointsDir,
                                              opt::kSavepointsDir,
                                              opt::kStateInlineThreshold,
                                              opt::kS3Endpoint,
                                              opt::kS3Region,
                                              opt::kS3PathStyleAccess,
                                              opt::kS3AccessKey,
                                              opt::kS3SecretKey,
                                              opt::kS3UploadMinPartSize,
                                              opt::kS3MaxRetries,
                                              opt::kRestAuthTokensFile,
                                              opt::kRestMaxConnections,
                                              opt::kRestIdlenessTimeout,
                                              opt::kRestAuthOpenPaths,
                                              opt::kWebAllowOrigin,
                                              opt::kAllowInsecureCluster,
                                              opt::kSslInternalEnabled,
                                              opt::kSslInternalCert,
                                              opt::kSslInternalKey,
                                              opt::kSslInternalTrustCert,
                                              opt::kSslRestEnabled,
                                              opt::kSslRestCert,
                                              opt::kSslRestKey};
  for (std::string_view key : keys) {
    const ConfigOptionSpec* spec = FindConfigOption(key);
    ASSERT_NE(spec, nullptr) << key;
    EXPECT_EQ(spec->key, key);
  }
  EXPECT_EQ(AllConfigOptions().size(), keys.size());
  EXPECT_EQ(FindConfigOption("rest"), nullptr);
  EXPECT_EQ(FindConfigOption("no.such.key"), nullptr);
}

TEST(ConfigTest, EveryDefaultPassesItsOwnValidation) {
  for (const ConfigOptionSpec& spec : AllConfigOptions()) {
    Config config;
    EXPECT_TRUE(config.Set(spec.key, spec.default_value).ok())
        << spec.key << " = '" << spec.default_value << "'";
  }
}

// ---------------------------------------------------------------------------------------
// Defaults and getters

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  Config config;
  EXPECT_EQ(config.GetString(opt::kRestAddress), "127.0.0.1");
  EXPECT_EQ(config.GetPort(opt::kRestPort), 8081);
  EXPECT_EQ(config.GetString(opt::kJobManagerRpcAddress), "127.0.0.1");
  EXPECT_EQ(config.GetPort(opt::kJobManagerRpcPort), 6123);
  EXPECT_EQ(config.GetString(opt::kTaskManagerHost), "127.0.0.1");
  EXPECT_EQ(config.GetString(opt::kTaskManagerResourceId), "");
  EXPECT_EQ(config.GetInt(opt::kTaskManagerSlots), 2);
  EXPECT_EQ(config.GetPort(opt::kTaskManagerDataPort), 0);
  EXPECT_EQ(config.GetDuration(opt::kTaskManagerRegistrationBackoff), milliseconds(2'000));
  EXPECT_EQ(config.GetDuration(opt::kHeartbeatInterval), milliseconds(1'000));
  EXPECT_EQ(config.GetDuration(opt::kHeartbeatTimeout), milliseconds(10'000));
  EXPECT_EQ(config.GetMemorySize(opt::kRpcMaxFrameSize), 16 * 1024 * 1024);
  EXPECT_EQ(config.GetDuration(opt::kRpcTimeout), milliseconds(10'000));
  EXPECT_EQ(config.GetString(opt::kLogLevel), "info");
  EXPECT_EQ(config.values().size(), AllConfigOptions().size());
}

TEST(ConfigTest, SetStoresValueAsWritten) {
  Config config;
  ASSERT_TRUE(config.Set(opt::kHeartbeatInterval, "1500ms").ok());
  ASSERT_TRUE(config.Set(opt::kRpcMaxFrameSize, "64k").ok());
  EXPECT_EQ(config.values().at(std::string(opt::kHeartbeatInterval)), "1500ms");
  EXPECT_EQ(config.GetDuration(opt::kHeartbeatInterval), milliseconds(1'500));
  EXPECT_EQ(config.values().at(std::string(opt::kRpcMaxFrameSize)), "64k");
  EXPECT_EQ(config.GetMemorySize(opt::kRpcMaxFrameSize), 64 * 1024);
}

TEST(ConfigTest, PortAndSlotBoundsAreInclusive) {
  Config config;
  EXPECT_TRUE(config.Set(opt::kRestPort, "65535").ok());
  EXPECT_EQ(config.GetPort(opt::kRestPort), 65535);
  EXPECT_TRUE(config.Set(opt::kRestPort, "0").ok());
  EXPECT_EQ(config.GetPort(opt::kRestPort), 0);
  EXPECT_TRUE(config.Set(opt::kTaskManagerSlots, "1").ok());
  EXPECT_TRUE(config.Set(opt::kTaskManagerSlots, "1024").ok());
  EXPECT_EQ(config.GetInt(opt::kTaskManagerSlots), 1024);
}

// ---------------------------------------------------------------------------------------
// Errors from Set and ApplyOverride

TEST(ConfigTest, UnknownKeySuggestsNearestKey) {
  Config config;
  absl::Status status = config.Set("rest.prot", "1");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "unknown config key 'rest.prot' (did you mean 'rest.port'?)");

  status = config.Set("taskmanager.numberoftaskslots", "4");  // case slip
  EXPECT_THAT(Message(status), HasSubstr("did you mean 'taskmanager.numberOfTaskSlots'?"));
}

TEST(ConfigTest, UnknownKeyFarFromEveryKeyHasNoSuggestion) {
  Config config;
  absl::Status status = config.Set("parallelism.default", "4");
  EXPECT_EQ(Message(status), "unknown config key 'parallelism.default'");
}

TEST(ConfigTest, BadDurationNamesKeyAndForm) {
  Config config;
  absl::Status status = config.Set(opt::kHeartbeatInterval, "abc");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "config key 'heartbeat.interval': expected a duration such as 500ms, 5s, 1min; "
            "got 'abc'");
}

TEST(ConfigTest, DurationBelowItsMinimumNamesKeyAndBound) {
  Config config;
  EXPECT_EQ(Message(config.Set(opt::kRestIdlenessTimeout, "50ms")),
            "config key 'rest.idleness-timeout': expected a duration of at least 100ms; "
            "got '50ms'");
  EXPECT_TRUE(config.Set(opt::kRestIdlenessTimeout, "100ms").ok());
  EXPECT_EQ(config.GetDuration(opt::kRestIdlenessTimeout), std::chrono::milliseconds(100));
}

TEST(ConfigTest, IntOutOfRangeNamesKeyAndRange) {
  Config config;
  EXPECT_EQ(Message(config.Set(opt::kTaskManagerSlots, "0")),
            "config key 'taskmanager.numberOfTaskSlots': expected an integer from 1 to 1024; "
            "got '0'");
  for (const char* bad : {"1025", "two", "", "2.5", "99999999999999999999"}) {
    absl::Status status = config.Set(opt::kTaskManagerSlots, bad);
    EXPECT_THAT(Message(status), HasSubstr("'taskmanager.numberOfTaskSlots'")) << bad;
    EXPECT_THAT(Message(status), HasSubstr("from 1 to 1024")) << bad;
  }
}

TEST(ConfigTest, BadPortNamesKeyAndRange) {
  Config config;
  for (const char* bad : {"65536", "-1", "http", ""}) {
    absl::Status status = config.Set(opt::kRestPort, bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(status), HasSubstr("'rest.port'")) << bad;
    EXPECT_THAT(Message(status), HasSubstr("integer from 0 to 65535")) << bad;
  }
}

TEST(ConfigTest, BadMemorySizeNamesKeyAndForm) {
  Config config;
  absl::Status status = config.Set(opt::kRpcMaxFrameSize, "lots");
  EXPECT_EQ(Message(status),
            "config key 'rpc.max-frame-size': expected a memory size such as 32kb, 16mb; "
            "got 'lots'");
}

TEST(ConfigTest, LogLevelMustBeOneOfTheLevels) {
  Config config;
  for (const char* level : {"debug", "info", "warn", "error"}) {
    EXPECT_TRUE(config.Set(opt::kLogLevel, level).ok()) << level;
  }
  EXPECT_EQ(Message(config.Set(opt::kLogLevel, "verbose")),
            "config key 'log.level': expected one of debug, info, warn, error; got 'verbose'");
}

TEST(ConfigTest, FailedSetKeepsPreviousValue) {
  Config config;
  ASSERT_TRUE(config.Set(opt::kRestPort, "9000").ok());
  ASSERT_FALSE(config.Set(opt::kRestPort, "nine").ok());
  EXPECT_EQ(config.GetPort(opt::kRestPort), 9000);
}

TEST(ConfigTest, OverrideWithoutEqualsSignIsAnError) {
  Config config;
  absl::Status status = config.ApplyOverride("foo");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "--set expects key=value; got 'foo'");
  EXPECT_EQ(Message(config.ApplyOverride("=5")), "--set expects key=value; got '=5'");
}

TEST(ConfigTest, OverrideTrimsAndSplitsAtFirstEqualsSign) {
  Config config;
  ASSERT_TRUE(config.ApplyOverride(" rest.port = 9001 ").ok());
  EXPECT_EQ(config.GetPort(opt::kRestPort), 9001);
  ASSERT_TRUE(config.ApplyOverride("taskmanager.resource-id=tm=1").ok());
  EXPECT_EQ(config.GetString(opt::kTaskManagerResourceId), "tm=1");
  ASSERT_TRUE(config.ApplyOverride("taskmanager.resource-id=").ok());
  EXPECT_EQ(config.GetString(opt::kTaskManagerResourceId), "");
}

TEST(ConfigTest, OverrideErrorsNameTheKey) {
  Config config;
  absl::Status status = config.ApplyOverride("heartbeat.timeout=soon");
  EXPECT_THAT(Message(status), HasSubstr("--set"));
  EXPECT_THAT(Message(status), HasSubstr("'heartbeat.timeout'"));
  EXPECT_THAT(Message(status), HasSubstr("got 'soon'"));
  EXPECT_THAT(Message(config.ApplyOverride("rest.prot=1")),
              HasSubstr("unknown config key 'rest.prot' (did you mean 'rest.port'?)"));
}

// ---------------------------------------------------------------------------------------
// YAML

TEST(ConfigTest, LoadsFlatYamlFile) {
  std::string path = WriteTempFile("flat.yaml",
                                   "# Eddy configuration\n"
                                   "rest.port: 9000\n"
                                   "rest.address: 0.0.0.0\n"
                                   "taskmanager.numberOfTaskSlots: 8\n"
                                   "heartbeat.timeout: 30s\n"
                                   "rpc.max-frame-size: 64mb\n"
                                   "log.level: debug\n");
  absl::StatusOr<Config> config = Config::Load(path, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetPort(opt::kRestPort), 9000);
  EXPECT_EQ(config->GetString(opt::kRestAddress), "0.0.0.0");
  EXPECT_EQ(config->GetInt(opt::kTaskManagerSlots), 8);
  EXPECT_EQ(config->GetDuration(opt::kHeartbeatTimeout), milliseconds(30'000));
  EXPECT_EQ(config->GetMemorySize(opt::kRpcMaxFrameSize), 64 * 1024 * 1024);
  EXPECT_EQ(config->GetString(opt::kLogLevel), "debug");
  // Keys the file does not mention keep their defaults.
  EXPECT_EQ(config->GetPort(opt::kJobManagerRpcPort), 6123);
  EXPECT_EQ(config->GetDuration(opt::kHeartbeatInterval), milliseconds(1'000));
}

TEST(ConfigTest, FlattensNestedYamlToDottedKeys) {
  Config config;
  absl::Status status = config.MergeYaml(
      "rest:\n"
      "  port: 9000\n"
      "  address: 0.0.0.0\n"
      "taskmanager:\n"
      "  data.port: 7000\n"
      "  registration:\n"
      "    max-backoff: 5s\n"
      "jobmanager: {rpc: {port: 7123}}\n",
      "nested.yaml");
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(config.GetPort(opt::kRestPort), 9000);
  EXPECT_EQ(config.GetString(opt::kRestAddress), "0.0.0.0");
  EXPECT_EQ(config.GetPort(opt::kTaskManagerDataPort), 7000);
  EXPECT_EQ(config.GetDuration(opt::kTaskManagerRegistrationBackoff), milliseconds(5'000));
  EXPECT_EQ(config.GetPort(opt::kJobManagerRpcPort), 7123);
}

TEST(ConfigTest, EmptyYamlKeepsDefaults) {
  Config config;
  EXPECT_TRUE(config.MergeYaml("", "empty.yaml").ok());
  EXPECT_TRUE(config.MergeYaml("# only a comment\n", "comment.yaml").ok());
  EXPECT_EQ(config.GetPort(opt::kRestPort), 8081);
}

TEST(ConfigTest, YamlNullIsEmptyString) {
  Config config;
  ASSERT_TRUE(config.Set(opt::kTaskManagerResourceId, "tm-1").ok());
  ASSERT_TRUE(config.MergeYaml("taskmanager.resource-id:\n", "null.yaml").ok());
  EXPECT_EQ(config.GetString(opt::kTaskManagerResourceId), "");
}

TEST(ConfigTest, YamlErrorsNameFileLineAndKey) {
  Config config;
  absl::Status status =
      config.MergeYaml("rest.port: 8081\nheartbeat.timeout: soon\n", "/etc/eddy.yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("/etc/eddy.yaml:2: "));
  EXPECT_THAT(Message(status), HasSubstr("config key 'heartbeat.timeout': expected a duration"));

  status = config.MergeYaml("rest:\n  prot: 1\n", "/etc/eddy.yaml");
  EXPECT_THAT(Message(status), HasSubstr("/etc/eddy.yaml:2: "));
  EXPECT_THAT(Message(status),
              HasSubstr("unknown config key 'rest.prot' (did you mean 'rest.port'?)"));
}

TEST(ConfigTest, YamlSyntaxErrorNamesFileAndLine) {
  Config config;
  absl::Status status =
      config.MergeYaml("rest.port: 8081\nrest.address: x\n  y: z\n", "broken.yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("broken.yaml:3: invalid YAML: "));

  status = config.MergeYaml("rest.port: 1\n\trest.address: x\n", "tab.yaml");
  EXPECT_THAT(Message(status), HasSubstr("tab.yaml:2: invalid YAML: "));

  status = config.MergeYaml("rest.port: [1, 2\n", "flow.yaml");
  EXPECT_THAT(Message(status), HasSubstr("flow.yaml:"));
  EXPECT_THAT(Message(status), HasSubstr("invalid YAML"));
}

TEST(ConfigTest, YamlListValueIsAnErrorNamingTheKey) {
  Config config;
  absl::Status status = config.MergeYaml("rest.port:\n  - 1\n  - 2\n", "list.yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("'rest.port'"));
  EXPECT_THAT(Message(status), HasSubstr("list"));
  EXPECT_THAT(Message(config.MergeYaml("rest: {port: [1]}\n", "list.yaml")),
              HasSubstr("'rest.port'"));
}

TEST(ConfigTest, YamlTopLevelMustBeAMapping) {
  Config config;
  EXPECT_THAT(Message(config.MergeYaml("- rest.port\n- 8081\n", "seq.yaml")),
              HasSubstr("seq.yaml:1: expected a mapping"));
  EXPECT_THAT(Message(config.MergeYaml("8081\n", "scalar.yaml")), HasSubstr("scalar.yaml"));
}

TEST(ConfigTest, YamlKeySetTwiceIsAnError) {
  Config config;
  absl::Status status = config.MergeYaml("rest.port: 1\nrest:\n  port: 2\n", "twice.yaml");
  EXPECT_THAT(Message(status), HasSubstr("twice.yaml:3: "));
  EXPECT_THAT(Message(status), HasSubstr("'rest.port' is set more than once"));
  // yaml-cpp itself accepts a repeated key; Eddy must not silently take the last one.
  status = config.MergeYaml("rest.port: 1\nrest.port: 2\n", "twice.yaml");
  EXPECT_THAT(Message(status),
              HasSubstr("twice.yaml:2: config key 'rest.port' is set more than once"));
}

TEST(ConfigTest, FailedMergeLeavesConfigUnchanged) {
  Config config;
  absl::Status status = config.MergeYaml("rest.port: 9000\nrest.prot: 1\n", "bad.yaml");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(config.GetPort(opt::kRestPort), 8081);
}

// ---------------------------------------------------------------------------------------
// Load: precedence and files

TEST(ConfigTest, OverridesApplyAfterFileInOrder) {
  std::string path = WriteTempFile("precedence.yaml",
                                   "rest.port: 9000\n"
                                   "heartbeat.interval: 3s\n"
                                   "log.level: warn\n");
  absl::StatusOr<Config> config =
      Config::Load(path, {"rest.port=9001", "heartbeat.interval=2s", "rest.port=9002"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetPort(opt::kRestPort), 9002);
  EXPECT_EQ(config->GetDuration(opt::kHeartbeatInterval), milliseconds(2'000));
  EXPECT_EQ(config->GetString(opt::kLogLevel), "warn");
}

TEST(ConfigTest, PropertiesApplyAfterTheFileAndBeforeOverrides) {
  std::string path = WriteTempFile("properties.yaml",
                                   "rest.port: 9000\n"
                                   "taskmanager.host: 127.0.0.1\n"
                                   "log.level: warn\n");
  absl::StatusOr<Config> config =
      Config::Load(path, {"rest.port=9002"},
                   "taskmanager.host: 10.0.0.7\nrest.port: 9001\nlog.level: debug\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetString(opt::kTaskManagerHost), "10.0.0.7");  // properties over file
  EXPECT_EQ(config->GetString(opt::kLogLevel), "debug");
  EXPECT_EQ(config->GetPort(opt::kRestPort), 9002);  // --set over properties
}

TEST(ConfigTest, PropertiesErrorsNameTheEnvironmentVariable) {
  absl::StatusOr<Config> config = Config::Load("", {}, "rest.prot: 1\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("EDDY_PROPERTIES"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("rest.prot"));
}

TEST(ConfigTest, FormatConfigListsEveryKeyAndMasksSecrets) {
  absl::StatusOr<Config> config = Config::Load("", {"s3.secret-key=hunter2", "rest.port=9005"});
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string text = FormatConfig(*config);
  EXPECT_THAT(text, HasSubstr("rest.port: 9005\n"));
  EXPECT_THAT(text, HasSubstr("s3.secret-key: ******\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'),
            static_cast<std::ptrdiff_t>(config->values().size()));
}

TEST(ConfigTest, LoadWithoutFileUsesDefaultsAndOverrides) {
  absl::StatusOr<Config> config = Config::Load("", {"taskmanager.numberOfTaskSlots=4"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetInt(opt::kTaskManagerSlots), 4);
  EXPECT_EQ(config->GetPort(opt::kRestPort), 8081);
}

TEST(ConfigTest, LoadMissingFileNamesThePath) {
  std::string path = ::testing::TempDir() + "/does-not-exist.yaml";
  absl::StatusOr<Config> config = Config::Load(path, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(config.status()), HasSubstr(path));
}

TEST(ConfigTest, LoadReportsFileErrorsWithThePath) {
  std::string path = WriteTempFile("bad-value.yaml", "rest.port: 8081\nrest.port2: 1\n");
  absl::StatusOr<Config> config = Config::Load(path, {});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr(path + ":2: "));
  EXPECT_THAT(Message(config.status()), HasSubstr("'rest.port2'"));
}

TEST(ConfigTest, LoadReportsBadOverride) {
  absl::StatusOr<Config> config = Config::Load("", {"rest.port=1", "log.level"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config.status()), "--set expects key=value; got 'log.level'");
}

// ---------------------------------------------------------------------------------------
// Command line

TEST(ConfigTest, AddConfigFlagsParsesConfigAndRepeatedSet) {
  CLI::App app("test");
  ConfigFlags flags;
  AddConfigFlags(app, &flags);
  std::vector<const char*> argv = {"eddy",  "--config",       "/etc/eddy.yaml",
                                   "--set", "rest.port=9000", "--set=log.level=debug"};
  ASSERT_NO_THROW(app.parse(static_cast<int>(argv.size()), argv.data()));
  EXPECT_EQ(flags.config_file, "/etc/eddy.yaml");
  EXPECT_EQ(flags.overrides, (std::vector<std::string>{"rest.port=9000", "log.level=debug"}));
}

TEST(ConfigTest, AddConfigFlagsTakesOneValuePerSet) {
  CLI::App app("test");
  ConfigFlags flags;
  AddConfigFlags(app, &flags);
  std::string job;
  app.add_option("job", job);
  std::vector<const char*> argv = {"eddy", "--set", "rest.port=9000", "wordcount.yaml"};
  ASSERT_NO_THROW(app.parse(static_cast<int>(argv.size()), argv.data()));
  EXPECT_EQ(flags.overrides, std::vector<std::string>{"rest.port=9000"});
  EXPECT_EQ(job, "wordcount.yaml");
  EXPECT_TRUE(flags.config_file.empty());
}

TEST(ConfigTest, ParsedFlagsFeedLoad) {
  std::string path = WriteTempFile("flags.yaml", "rest.port: 9000\n");
  CLI::App app("test");
  ConfigFlags flags;
  AddConfigFlags(app, &flags);
  std::vector<const char*> argv = {"eddy", "--config", path.c_str(), "--set", "rest.port=9100"};
  ASSERT_NO_THROW(app.parse(static_cast<int>(argv.size()), argv.data()));
  absl::StatusOr<Config> config = Config::Load(flags.config_file, flags.overrides);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetPort(opt::kRestPort), 9100);
}

// ---------------------------------------------------------------------------------------
// Misuse of getters is a bug.

TEST(ConfigDeathTest, GetterOfUndeclaredKeyAborts) {
  Config config;
  EXPECT_DEATH(config.GetString("no.such.key"), "undeclared config key 'no.such.key'");
}

TEST(ConfigDeathTest, GetterOfWrongTypeAborts) {
  Config config;
  EXPECT_DEATH(config.GetInt(opt::kRestPort), "'rest.port' has type port, not int");
  EXPECT_DEATH(config.GetBool(opt::kLogLevel), "'log.level' has type string, not bool");
}

}  // namespace
}  // namespace eddy

namespace eddy {
namespace {

// docs/configuration.md documents every key with its default; this keeps them in step.
TEST(ConfigDocsTest, EveryKeyIsDocumentedWithItsDefault) {
  std::ifstream in(std::string(EDDY_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in.good()) << "docs/configuration.md not found";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (const auto& spec : AllConfigOptions()) {
    std::string key(spec.key.data(), spec.key.size());
    auto row = doc.find("| `" + key + "` |");
    ASSERT_NE(row, std::string::npos) << key << " is not documented";
    std::string line = doc.substr(row, doc.find('\n', row) - row);
    if (!spec.default_value.empty()) {
      EXPECT_NE(line.find("`" + std::string(spec.default_value.data(), spec.default_value.size()) + "`"),
                std::string::npos)
          << key << ": documented default differs from " << spec.default_value;
    }
  }
}

}  // namespace
}  // namespace eddy

namespace eddy {
namespace {

TEST(JobConfigTest, AcceptsJobKeysOverTheClusterValues) {
  Config c;
  ASSERT_TRUE(c.ApplyJobConfig({{"restart-strategy", "exponential-delay"},
                                {"restart-strategy.exponential-delay.backoff-multiplier", "2.5"},
                                {"pipeline.auto-watermark-interval", "50ms"},
                                {"execution.runtime-mode", "streaming"}})
                  .ok());
  EXPECT_EQ(c.GetString("restart-strategy"), "exponential-delay");
  EXPECT_DOUBLE_EQ(c.GetDouble("restart-strategy.exponential-delay.backoff-multiplier"), 2.5);
  EXPECT_EQ(c.GetDuration("pipeline.auto-watermark-interval").count(), 50);
  EXPECT_EQ(c.GetString("execution.runtime-mode"), "streaming");
}

TEST(JobConfigTest, RejectsUnknownClusterAndBadKeysNamingThem) {
  Config c;
  absl::Status s = c.ApplyJobConfig({{"restart-strategy.fixed-delay.atempts", "3"}});
  EXPECT_EQ(s.message(),
            "unknown config key 'restart-strategy.fixed-delay.atempts' (did you mean "
            "'restart-strategy.fixed-delay.attempts'?)");
  s = c.ApplyJobConfig({{"rest.port", "1"}});
  EXPECT_NE(s.message().find("'rest.port' is a cluster key, not a per-job key"), std::string::npos)
      << s;
  s = c.ApplyJobConfig({{"restart-strategy", "sometimes"}});
  EXPECT_NE(s.message().find("config key 'restart-strategy': expected one of \"\", none, "
                             "fixed-delay, exponential-delay; got 'sometimes'"),
            std::string::npos)
      << s;
  s = c.ApplyJobConfig({{"restart-strategy.exponential-delay.jitter-factor", "1.5"}});
  EXPECT_NE(s.message().find("jitter-factor': expected a number from 0 to 1"), std::string::npos)
      << s;
  s = c.ApplyJobConfig({{"pipeline.auto-watermark-interval", "soon"}});
  EXPECT_NE(s.message().find("pipeline.auto-watermark-interval"), std::string::npos) << s;
}

}  // namespace
}  // namespace eddy
