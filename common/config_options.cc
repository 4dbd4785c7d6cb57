// The one place where configuration keys are declared: type, default and description.
// docs/configuration.md mirrors this table; keep them in step.

#include <algorithm>
#include <vector>

#include "common/config.h"

namespace eddy {

const std::vector<ConfigOptionSpec>& AllConfigOptions() {
  static const std::vector<ConfigOptionSpec>* const options = [] {
    auto* v = new std::vector<ConfigOptionSpec>{
        {.key = opt::kRestAddress,
         .type = ConfigType::kString,
         .default_value = "127.0.0.1",
         .description = "Address the JobManager's REST endpoint binds to."},
        {.key = opt::kRestPort,
         .type = ConfigType::kPort,
         .default_value = "8081",
         .description = "Port of the JobManager's REST endpoint (0 picks a free port)."},
        {.key = opt::kJobManagerRpcAddress,
         .type = ConfigType::kString,
         .default_value = "127.0.0.1",
         .description = "Address of the JobManager's RPC endpoint, used by TaskManagers to "
                        "register."},
        {.key = opt::kJobManagerRpcPort,
         .type = ConfigType::kPort,
         .default_value = "6123",
         .description = "Port of the JobManager's RPC endpoint."},
        {.key = opt::kTaskManagerHost,
         .type = ConfigType::kString,
         .default_value = "127.0.0.1",
         .description = "Address a TaskManager binds to and advertises to the JobManager."},
        {.key = opt::kTaskManagerResourceId,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Identifier of the TaskManager; empty picks a random one."},
        {.key = opt::kTaskManagerSlots,
         .type = ConfigType::kInt,
         .default_value = "2",
         .description = "Number of task slots a TaskManager offers.",
         .min = 1,
         .max = 1024},
        {.key = opt::kTaskManagerDataPort,
         .type = ConfigType::kPort,
         .default_value = "0",
         .description = "Port a TaskManager receives data on from other TaskManagers (0 "
                        "picks a free port)."},
        {.key = opt::kTaskManagerRegistrationBackoff,
         .type = ConfigType::kDuration,
         .default_value = "2s",
         .description = "Longest wait between a TaskManager's attempts to register with "
                        "the JobManager."},
        {.key = opt::kHeartbeatInterval,
         .type = ConfigType::kDuration,
         .default_value = "1s",
         .description = "Time between heartbeats from TaskManagers to the JobManager."},
        {.key = opt::kHeartbeatTimeout,
         .type = ConfigType::kDuration,
         .default_value = "10s",
         .description = "Time without a heartbeat after which a peer is considered dead."},
        {.key = opt::kRpcMaxFrameSize,
         .type = ConfigType::kMemorySize,
         .default_value = "16mb",
         .description = "Largest RPC frame that is sent or accepted."},
        {.key = opt::kRpcTimeout,
         .type = ConfigType::kDuration,
         .default_value = "10s",
         .description = "Time after which an RPC without a reply fails."},
        {.key = opt::kTaskManagerRpcPort,
         .type = ConfigType::kPort,
         .default_value = "0",
         .description = "Port a TaskManager receives task deployments on from the "
                        "JobManager (0 picks a free port)."},
        {.key = opt::kTaskManagerNetworkBuffers,
         .type = ConfigType::kInt,
         .default_value = "2048",
         .description = "Number of 32 KiB network buffers of a TaskManager: the bound on "
                        "its shuffle memory.",
         .min = 16,
         .max = 1 << 20},
        {.key = opt::kTaskManagerTmpDir,
         .type = ConfigType::kString,
         .default_value = "/tmp",
         .description = "Directory where a TaskManager caches job libraries."},
        {.key = opt::kBufferTimeout,
         .type = ConfigType::kDuration,
         .default_value = "5ms",
         .description = "Longest time a partly filled network buffer waits before it is "
                        "sent."},
        {.key = opt::kSlotRequestTimeout,
         .type = ConfigType::kDuration,
         .default_value = "30s",
         .description = "Time a submitted job waits for enough free slots before it fails."},
        {.key = opt::kJobManagerBlobDir,
         .type = ConfigType::kString,
         .default_value = "/tmp/eddy-blobs",
         .description = "Directory where the JobManager stores uploaded job libraries."},
        {.key = opt::kRestMaxConnections,
         .type = ConfigType::kInt,
         .default_value = "512",
         .description = "Most REST connections open at once; one more is answered 503.",
         .min = 1,
         .max = 1 << 20},
        {.key = opt::kRestIdlenessTimeout,
         .type = ConfigType::kDuration,
         .default_value = "60s",
         .description = "Time a REST connection may stay silent (no byte read or written) "
                        "before the JobManager closes it; an upload may take longer as long "
                        "as it keeps moving.",
         .min = 100},
        {.key = opt::kRestAuthTokensFile,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "File of REST bearer tokens, one 'TOKEN ROLE [NAME]' per line (roles: "
                        "viewer, submitter, admin). Empty: REST authentication is off."},
        {.key = opt::kRestAuthOpenPaths,
         .type = ConfigType::kString,
         .default_value = "/healthz;/metrics",
         .description = "REST paths answered without a token (';'-separated), for probes "
                        "and scrapers."},
        {.key = opt::kWebAllowOrigin,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Origins (';'-separated, or *) that browsers may call the REST "
                        "endpoint from: they get CORS headers and may change state. Empty: "
                        "none."},
        {.key = opt::kAllowInsecureCluster,
         .type = ConfigType::kBool,
         .default_value = "false",
         .description = "Lets the JobManager and TaskManagers listen on non-loopback "
                        "addresses without internal TLS (a trusted network only)."},
        {.key = opt::kSslInternalEnabled,
         .type = ConfigType::kBool,
         .default_value = "false",
         .description = "Mutual TLS on every connection inside the cluster: control RPC (both "
                        "directions), data plane and job library downloads."},
        {.key = opt::kSslInternalCert,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "PEM certificate (chain) this process presents inside the cluster."},
        {.key = opt::kSslInternalKey,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "PEM private key of security.ssl.internal.cert."},
        {.key = opt::kSslInternalTrustCert,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "PEM certificate of the cluster CA: peers must present a certificate "
                        "it signed."},
        {.key = opt::kSslRestEnabled,
         .type = ConfigType::kBool,
         .default_value = "false",
         .description = "HTTPS on the REST endpoint (TLS 1.2 or newer) with "
                        "security.ssl.rest.cert and security.ssl.rest.key."},
        {.key = opt::kSslRestCert,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "PEM certificate (chain) the REST endpoint presents; its names must "
                        "match the host clients connect to."},
        {.key = opt::kSslRestKey,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "PEM private key of security.ssl.rest.cert."},
        {.key = opt::kRestMaxContentLength,
         .type = ConfigType::kMemorySize,
         .default_value = "100mb",
         .description = "Largest request body the REST endpoint accepts (job uploads)."},
        {.key = opt::kRestartStrategy,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "How a job restarts after a failed task or a lost TaskManager: none "
                        "(the job fails), fixed-delay or exponential-delay. Empty: none "
                        "without checkpoints; with checkpoints fixed-delay with unlimited "
                        "attempts and restart-strategy.fixed-delay.delay. Also per job.",
         .allowed = {"", "none", "fixed-delay", "exponential-delay"}},
        {.key = opt::kCheckpointingInterval,
         .type = ConfigType::kDuration,
         .default_value = "0ms",
         .description = "Time between the starts of periodic checkpoints (0: no periodic "
                        "checkpoints; savepoints still work). Also per job."},
        {.key = opt::kCheckpointingTimeout,
         .type = ConfigType::kDuration,
         .default_value = "10min",
         .description = "A checkpoint not completed this long after its trigger is aborted "
                        "(the job carries on). Also per job."},
        {.key = opt::kCheckpointingMinPause,
         .type = ConfigType::kDuration,
         .default_value = "0ms",
         .description = "Least time between the end of one checkpoint and the trigger of the "
                        "next. Also per job."},
        {.key = opt::kCheckpointingMode,
         .type = ConfigType::kString,
         .default_value = "EXACTLY_ONCE",
         .description = "EXACTLY_ONCE aligns the barriers of a task's input channels (a "
                        "channel that delivered the barrier waits for the others); "
                        "AT_LEAST_ONCE does not, so records after a barrier may be in the "
                        "checkpoint and be replayed after a restore. Also per job.",
         .allowed = {"EXACTLY_ONCE", "AT_LEAST_ONCE"}},
        {.key = opt::kCheckpointingTolerableFailures,
         .type = ConfigType::kInt,
         .default_value = "-1",
         .description = "Consecutive failed checkpoints after which the job fails (and "
                        "restarts, as its restart strategy says); -1: never. Also per job.",
         .min = -1,
         .max = 2147483647},
        {.key = opt::kCheckpointsNumRetained,
         .type = ConfigType::kInt,
         .default_value = "1",
         .description = "Completed checkpoints kept; older ones are deleted. Also per job.",
         .min = 1,
         .max = 1000},
        {.key = opt::kCheckpointsDir,
         .type = ConfigType::kString,
         .default_value = "file:///tmp/eddy-checkpoints",
         .description = "Where checkpoints are stored: file:///path or s3://bucket/prefix "
                        "(<dir>/<job-id>/chk-<n>/). Every TaskManager and the JobManager "
                        "must reach it. Also per job."},
        {.key = opt::kStateInlineThreshold,
         .type = ConfigType::kMemorySize,
         .default_value = "20kb",
         .description = "Keyed state snapshots up to this size are kept inside the "
                        "checkpoint's _metadata instead of a file of their own. Also per job."},
        {.key = opt::kSavepointsDir,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Default directory of savepoints (file:// or s3://) when a savepoint "
                        "request names none. Also per job."},
        {.key = opt::kFixedDelayAttempts,
         .type = ConfigType::kInt,
         .default_value = "1",
         .description = "fixed-delay: restarts before the job fails.",
         .min = 0,
         .max = 2147483647},
        {.key = opt::kFixedDelayDelay,
         .type = ConfigType::kDuration,
         .default_value = "1s",
         .description = "fixed-delay: wait between the failure and the restart."},
        {.key = opt::kExponentialInitialBackoff,
         .type = ConfigType::kDuration,
         .default_value = "1s",
         .description = "exponential-delay: wait before the first restart."},
        {.key = opt::kExponentialMaxBackoff,
         .type = ConfigType::kDuration,
         .default_value = "1min",
         .description = "exponential-delay: longest wait between restarts."},
        {.key = opt::kExponentialBackoffMultiplier,
         .type = ConfigType::kDouble,
         .default_value = "1.5",
         .description = "exponential-delay: factor the wait grows by after each restart.",
         .min = 1,
         .max = 1000},
        {.key = opt::kExponentialJitterFactor,
         .type = ConfigType::kDouble,
         .default_value = "0.1",
         .description = "exponential-delay: random share (0 to 1) added to or taken from "
                        "each wait.",
         .min = 0,
         .max = 1},
        {.key = opt::kExponentialResetBackoffThreshold,
         .type = ConfigType::kDuration,
         .default_value = "1h",
         .description = "exponential-delay: a job that ran this long without failing starts "
                        "again from the initial backoff."},
        {.key = opt::kAutoWatermarkInterval,
         .type = ConfigType::kDuration,
         .default_value = "200ms",
         .description = "Interval at which periodic watermarks are emitted. Also per job."},
        {.key = opt::kLatencyInterval,
         .type = ConfigType::kDuration,
         .default_value = "0ms",
         .description = "Interval at which sources emit latency markers; sinks report the "
                        "latency per source subtask (0: off). Also per job."},
        {.key = opt::kRuntimeMode,
         .type = ConfigType::kString,
         .default_value = "automatic",
         .description = "streaming, batch, or automatic (batch when every source is "
                        "bounded). Also per job.",
         .allowed = {"streaming", "batch", "automatic"}},
        {.key = opt::kJobStoreExpirationTime,
         .type = ConfigType::kDuration,
         .default_value = "1h",
         .description = "Time a finished, failed or cancelled job stays in the JobManager's "
                        "memory (REST) before it is dropped."},
        {.key = opt::kJobStoreMaxCapacity,
         .type = ConfigType::kInt,
         .default_value = "1000",
         .description = "Most terminal jobs the JobManager keeps; the oldest are dropped "
                        "first.",
         .min = 0,
         .max = 2147483647},
        {.key = opt::kStateBackendType,
         .type = ConfigType::kString,
         .default_value = "hashmap",
         .description = "Where keyed state lives: hashmap (on the heap) or rocksdb (on local "
                        "disk, can outgrow memory). Also per job.",
         .allowed = {"hashmap", "rocksdb"}},
        {.key = opt::kStateBackendIncremental,
         .type = ConfigType::kBool,
         .default_value = "true",
         .description = "Incremental checkpoints of the rocksdb backend: each checkpoint "
                        "uploads only the SST files the last completed one did not have and "
                        "refers to the others (false: every checkpoint writes the whole "
                        "state in the backend-independent format). Savepoints are always "
                        "complete. Also per job."},
        {.key = opt::kStateRocksDbLocalDir,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Directory under which each RocksDB state backend makes its own "
                        "instance directory (removed when the task ends); empty = the "
                        "system temp directory."},
        {.key = opt::kStateRocksDbBlockCacheSize,
         .type = ConfigType::kMemorySize,
         .default_value = "8mb",
         .description = "Block cache size of each RocksDB state backend (unless "
                        "state.backend.rocksdb.memory.fixed-per-slot is set)."},
        {.key = opt::kStateRocksDbWriteBufferSize,
         .type = ConfigType::kMemorySize,
         .default_value = "64mb",
         .description = "Size of one RocksDB memtable (per state)."},
        {.key = opt::kStateRocksDbWriteBufferCount,
         .type = ConfigType::kInt,
         .default_value = "2",
         .description = "Most memtables per state, active and immutable, in RocksDB.",
         .min = 1,
         .max = 64},
        {.key = opt::kStateRocksDbMemoryFixedPerSlot,
         .type = ConfigType::kMemorySize,
         .default_value = "0",
         .description = "When > 0: the memory RocksDB's block cache and memtables share "
                        "(memtables up to half, charged to the cache); 0 = separate "
                        "block.cache-size and writebuffer limits."},
        {.key = opt::kJobManagerArchiveDir,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Local directory (a path or file:// URI) where the JobManager writes "
                        "one JSON file per finished, failed or cancelled job, named by its "
                        "id; REST answers from it after the job left memory. Empty: no "
                        "archive."},
        // S3 file system
        {.key = opt::kS3Endpoint,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Endpoint of an S3-compatible store for s3:// URIs, e.g. "
                        "http://127.0.0.1:9000 (then buckets are addressed path-style); "
                        "empty = AWS S3 of s3.region."},
        {.key = opt::kS3Region,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Region requests are signed for (SigV4); empty = $AWS_REGION, else "
                        "$AWS_DEFAULT_REGION, else us-east-1."},
        {.key = opt::kS3PathStyleAccess,
         .type = ConfigType::kBool,
         .default_value = "false",
         .description = "Address buckets path-style (https://host/bucket/key) instead of "
                        "virtual-hosted (https://bucket.host/key); implied by s3.endpoint."},
        {.key = opt::kS3AccessKey,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Access key id for S3; empty = $AWS_ACCESS_KEY_ID (with "
                        "$AWS_SECRET_ACCESS_KEY and $AWS_SESSION_TOKEN); none at all = "
                        "unsigned requests."},
        {.key = opt::kS3SecretKey,
         .type = ConfigType::kString,
         .default_value = "",
         .description = "Secret access key for S3, with s3.access-key."},
        {.key = opt::kS3UploadMinPartSize,
         .type = ConfigType::kMemorySize,
         .default_value = "5mb",
         .description = "Size of each part of a multipart upload (5mb to 5gb, S3's limits); "
                        "a file written as a stream that grows past it is uploaded in "
                        "parts of this size."},
        {.key = opt::kS3MaxRetries,
         .type = ConfigType::kInt,
         .default_value = "5",
         .description = "Retries of an S3 request after a connection error, HTTP 5xx or "
                        "throttling (429, SlowDown), with exponential backoff and jitter "
                        "from 100ms.",
         .min = 0,
         .max = 100},
        {.key = opt::kLogLevel,
         .type = ConfigType::kString,
         .default_value = "info",
         .description = "Least severe log level that is printed.",
         .allowed = {"debug", "info", "warn", "error"}},
    };
    std::sort(v->begin(), v->end(),
              [](const ConfigOptionSpec& a, const ConfigOptionSpec& b) { return a.key < b.key; });
    return v;
  }();
  return *options;
}

const std::vector<std::string_view>& JobConfigKeys() {
  static const std::vector<std::string_view>* const keys = new std::vector<std::string_view>{
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
      opt::kStateBackendType,
      opt::kStateBackendIncremental,
      opt::kCheckpointingInterval,
      opt::kCheckpointingTimeout,
      opt::kCheckpointingMinPause,
      opt::kCheckpointingMode,
      opt::kCheckpointingTolerableFailures,
      opt::kCheckpointsNumRetained,
      opt::kCheckpointsDir,
      opt::kSavepointsDir,
      opt::kStateInlineThreshold,
  };
  return *keys;
}

}  // namespace eddy
