// Eddy's configuration: a flat YAML file of Flink-style dotted keys ("rest.port: 8081"),
// overridable per key with `--set key=value`. Every key is declared once in
// config_options.cc with its type, default and description; unknown keys, wrong types and
// out-of-range values are errors that name the key and the allowed form.
// A Config is a value; concurrent const access is safe, mutation is not.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace eddy {

enum class ConfigType { kString, kInt, kBool, kDuration, kMemorySize, kPort, kDouble };

/// Declares one configuration key.
struct ConfigOptionSpec {
  std::string_view key;
  ConfigType type;
  std::string_view default_value;  // written as a user would write it, e.g. "5s"
  std::string_view description;
  int64_t min = 0;  // kInt, kDouble, and kDuration in milliseconds: inclusive range
  int64_t max = INT64_MAX;
  std::vector<std::string_view> allowed = {};  // kString only: if non-empty, the only values
};

/// Returns every known configuration key, sorted by key.
const std::vector<ConfigOptionSpec>& AllConfigOptions();
/// Returns the spec of `key`, or nullptr if no such key is declared.
const ConfigOptionSpec* FindConfigOption(std::string_view key);

/// Keys, so that code never spells a key twice.
namespace opt {
inline constexpr char kRestAddress[] = "rest.address";
inline constexpr char kRestPort[] = "rest.port";
inline constexpr char kJobManagerRpcAddress[] = "jobmanager.rpc.address";
inline constexpr char kJobManagerRpcPort[] = "jobmanager.rpc.port";
inline constexpr char kTaskManagerHost[] = "taskmanager.host";
inline constexpr char kTaskManagerResourceId[] = "taskmanager.resource-id";
inline constexpr char kTaskManagerSlots[] = "taskmanager.numberOfTaskSlots";
inline constexpr char kTaskManagerDataPort[] = "taskmanager.data.port";
inline constexpr char kTaskManagerRegistrationBackoff[] =
    "taskmanager.registration.max-backoff";
inline constexpr char kHeartbeatInterval[] = "heartbeat.interval";
inline constexpr char kHeartbeatTimeout[] = "heartbeat.timeout";
inline constexpr char kRpcMaxFrameSize[] = "rpc.max-frame-size";
inline constexpr char kRpcTimeout[] = "rpc.timeout";
inline constexpr char kLogLevel[] = "log.level";
inline constexpr char kTaskManagerRpcPort[] = "taskmanager.rpc.port";
inline constexpr char kTaskManagerNetworkBuffers[] = "taskmanager.network.buffers";
inline constexpr char kTaskManagerTmpDir[] = "taskmanager.tmp.dir";
inline constexpr char kBufferTimeout[] = "execution.buffer-timeout";
inline constexpr char kSlotRequestTimeout[] = "slot.request.timeout";
inline constexpr char kJobManagerBlobDir[] = "blob.storage.directory";
inline constexpr char kRestMaxContentLength[] = "rest.server.max-content-length";
inline constexpr char kRestAuthTokensFile[] = "rest.auth.tokens-file";
inline constexpr char kRestMaxConnections[] = "rest.server.max-connections";
inline constexpr char kRestIdlenessTimeout[] = "rest.idleness-timeout";
inline constexpr char kRestAuthOpenPaths[] = "rest.auth.open-paths";
inline constexpr char kWebAllowOrigin[] = "web.access-control-allow-origin";
inline constexpr char kAllowInsecureCluster[] = "security.allow-insecure-cluster";
inline constexpr char kSslInternalEnabled[] = "security.ssl.internal.enabled";
inline constexpr char kSslInternalCert[] = "security.ssl.internal.cert";
inline constexpr char kSslInternalKey[] = "security.ssl.internal.key";
inline constexpr char kSslInternalTrustCert[] = "security.ssl.internal.trust-cert";
inline constexpr char kSslRestEnabled[] = "security.ssl.rest.enabled";
inline constexpr char kSslRestCert[] = "security.ssl.rest.cert";
inline constexpr char kSslRestKey[] = "security.ssl.rest.key";
inline constexpr char kRestartStrategy[] = "restart-strategy";
inline constexpr char kFixedDelayAttempts[] = "restart-strategy.fixed-delay.attempts";
inline constexpr char kFixedDelayDelay[] = "restart-strategy.fixed-delay.delay";
inline constexpr char kExponentialInitialBackoff[] =
    "restart-strategy.exponential-delay.initial-backoff";
inline constexpr char kExponentialMaxBackoff[] = "restart-strategy.exponential-delay.max-backoff";
inline constexpr char kExponentialBackoffMultiplier[] =
    "restart-strategy.exponential-delay.backoff-multiplier";
inline constexpr char kExponentialJitterFactor[] =
    "restart-strategy.exponential-delay.jitter-factor";
inline constexpr char kExponentialResetBackoffThreshold[] =
    "restart-strategy.exponential-delay.reset-backoff-threshold";
inline constexpr char kAutoWatermarkInterval[] = "pipeline.auto-watermark-interval";
inline constexpr char kLatencyInterval[] = "metrics.latency.interval";
inline constexpr char kRuntimeMode[] = "execution.runtime-mode";
inline constexpr char kJobStoreExpirationTime[] = "jobstore.expiration-time";
inline constexpr char kJobStoreMaxCapacity[] = "jobstore.max-capacity";
inline constexpr char kStateBackendType[] = "state.backend.type";
inline constexpr char kStateBackendIncremental[] = "state.backend.incremental";
inline constexpr char kStateRocksDbLocalDir[] = "state.backend.rocksdb.localdir";
inline constexpr char kStateRocksDbBlockCacheSize[] = "state.backend.rocksdb.block.cache-size";
inline constexpr char kStateRocksDbWriteBufferSize[] = "state.backend.rocksdb.writebuffer.size";
inline constexpr char kStateRocksDbWriteBufferCount[] = "state.backend.rocksdb.writebuffer.count";
inline constexpr char kStateRocksDbMemoryFixedPerSlot[] =
    "state.backend.rocksdb.memory.fixed-per-slot";
inline constexpr char kJobManagerArchiveDir[] = "jobmanager.archive.fs.dir";
// Checkpoints and savepoints
inline constexpr char kCheckpointingInterval[] = "execution.checkpointing.interval";
inline constexpr char kCheckpointingTimeout[] = "execution.checkpointing.timeout";
inline constexpr char kCheckpointingMinPause[] = "execution.checkpointing.min-pause";
inline constexpr char kCheckpointingMode[] = "execution.checkpointing.mode";
inline constexpr char kCheckpointingTolerableFailures[] =
    "execution.checkpointing.tolerable-failed-checkpoints";
inline constexpr char kCheckpointsNumRetained[] = "state.checkpoints.num-retained";
inline constexpr char kCheckpointsDir[] = "state.checkpoints.dir";
inline constexpr char kSavepointsDir[] = "state.savepoints.dir";
inline constexpr char kStateInlineThreshold[] = "state.storage.fs.memory-threshold";
// S3 file system (common/fs/s3_file_system.h): s3:// URIs wherever a directory is taken.
inline constexpr char kS3Endpoint[] = "s3.endpoint";
inline constexpr char kS3Region[] = "s3.region";
inline constexpr char kS3PathStyleAccess[] = "s3.path.style.access";
inline constexpr char kS3AccessKey[] = "s3.access-key";
inline constexpr char kS3SecretKey[] = "s3.secret-key";
inline constexpr char kS3UploadMinPartSize[] = "s3.upload.min.part.size";
inline constexpr char kS3MaxRetries[] = "s3.max-retries";
}  // namespace opt

/// Returns the keys a job may set for itself (`eddy run -D key=value`, JobGraph.config).
const std::vector<std::string_view>& JobConfigKeys();

/// Parses a duration such as "500ms", "5s", "1min", "2h", "1d"; a bare number means
/// milliseconds. Negative values are rejected.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);
/// Formats a duration in the largest unit that divides it exactly ("1500ms", "5s", "1min").
std::string FormatDuration(std::chrono::milliseconds d);
/// Parses a memory size such as "32kb", "16mb", "1gb" (binary units, case-insensitive,
/// "b" optional: "64k"); a bare number means bytes.
absl::StatusOr<int64_t> ParseMemorySize(std::string_view text);

class Config {
 public:
  /// Makes a Config holding every key's default.
  Config();

  /// Builds the effective configuration: defaults, then the YAML file (if `yaml_path` is
  /// non-empty), then `properties` ("key: value" lines, as in $EDDY_PROPERTIES; may be
  /// empty), then each "key=value" override in order.
  static absl::StatusOr<Config> Load(const std::string& yaml_path,
                                     const std::vector<std::string>& overrides,
                                     std::string_view properties = "");

  /// Validates and sets one key. Errors name the key and the allowed form.
  absl::Status Set(std::string_view key, std::string_view value);
  /// Sets per-job keys (JobGraph.config) over this configuration. Errors: a key that is
  /// not a job key ("unknown config key 'x' (did you mean 'y'?)"), a bad value (names the key).
  absl::Status ApplyJobConfig(const std::map<std::string, std::string>& job_config);
  /// Applies a "key=value" override as given to --set.
  absl::Status ApplyOverride(std::string_view key_equals_value);
  /// Applies a flat YAML mapping of keys to scalars; `source` names it in errors.
  absl::Status MergeYaml(std::string_view yaml_text, std::string_view source);

  // Typed getters. Asking for an undeclared key or with the wrong type is a bug (check).
  std::string GetString(std::string_view key) const;
  int64_t GetInt(std::string_view key) const;
  bool GetBool(std::string_view key) const;
  std::chrono::milliseconds GetDuration(std::string_view key) const;
  int64_t GetMemorySize(std::string_view key) const;
  uint16_t GetPort(std::string_view key) const;
  double GetDouble(std::string_view key) const;

  /// Returns every key with its current value as written ("5s"), sorted by key.
  const std::map<std::string, std::string, std::less<>>& values() const { return values_; }

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

/// True for keys whose values are secrets (shown as "******" by /jobmanager/config and
/// --print-config): names containing "secret", "password" or "access-key".
bool IsSecretKey(std::string_view key);

/// Command-line flags shared by the JobManager and TaskManager: --config FILE, repeatable
/// --set key=value, --print-config.
struct ConfigFlags {
  std::string config_file;
  std::vector<std::string> overrides;
  bool print_config = false;
};
/// Adds --config, --set and --print-config to `app`, storing into `flags`.
void AddConfigFlags(CLI::App& app, ConfigFlags* flags);

/// The environment variable with "key: value" lines (YAML) applied after the --config file
/// and before --set: per-container settings in Kubernetes (Flink's FLINK_PROPERTIES habit).
inline constexpr char kPropertiesEnv[] = "EDDY_PROPERTIES";
/// The configuration a binary runs with: defaults, --config file, $EDDY_PROPERTIES, --set.
absl::StatusOr<Config> LoadConfig(const ConfigFlags& flags);
/// Every key as a "key: value" line, sorted, secrets masked (--print-config).
std::string FormatConfig(const Config& config);

}  // namespace eddy
