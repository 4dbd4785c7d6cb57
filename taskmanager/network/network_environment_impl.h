// The shared state behind a NetworkEnvironment: the registry of partitions, the data port,
// the connections to producer TaskManagers and the input gates (for ReleaseJob and Stop).
// Held by shared_ptr; connections and gates keep only weak references back, so that an
// environment that is destroyed while handlers are still queued on the io_context leaks
// nothing. Thread-safe.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "taskmanager/network/network_environment.h"

namespace eddy::net {

class PipelinedPartition;
class PartitionRequestClient;
class PartitionServerConnection;
class SingleInputGate;

class NetworkEnvironmentImpl : public std::enable_shared_from_this<NetworkEnvironmentImpl> {
 public:
  NetworkEnvironmentImpl(boost::asio::io_context& io, NetworkOptions options);
  ~NetworkEnvironmentImpl();

  absl::StatusOr<uint16_t> Listen(const std::string& host, uint16_t port);
  void Stop();
  absl::StatusOr<std::shared_ptr<ResultPartition>> CreatePartition(const PartitionId& id,
                                                                   int num_subpartitions);
  absl::StatusOr<std::unique_ptr<InputGate>> CreateInputGate(std::vector<ChannelSpec> channels);
  void ReleaseJob(const std::string& job_id);
  void SetJobCredential(const std::string& job_id, std::string credential);
  /// True if `presented` is the job's credential (false for a job without one).
  bool CredentialMatches(const std::string& job_id, std::string_view presented) const;
  bool HasPartition(const PartitionId& id) const;

  /// Returns the registered partition, or nullptr (not created yet, or released).
  std::shared_ptr<PipelinedPartition> FindPartition(const PartitionId& id) const;
  /// Returns the (possibly new) connection to a producer's data port; nullptr if stopped.
  std::shared_ptr<PartitionRequestClient> GetClient(const std::string& host, uint16_t port);
  /// Forgets a connection that closed.
  void RemoveClient(const PartitionRequestClient* client);
  void RemoveServerConnection(const PartitionServerConnection* conn);
  uint32_t NextChannelId() { return next_channel_id_.fetch_add(1); }

  boost::asio::io_context& io() { return io_; }
  const NetworkOptions& options() const { return options_; }
  const std::shared_ptr<BufferPool>& pool() const { return pool_; }
  const std::shared_ptr<NetworkStats>& stats() const { return stats_; }
  /// Mutual TLS of data connections, or null.
  const std::shared_ptr<boost::asio::ssl::context>& tls() const { return options_.tls; }
  /// "host:port" of the data port, for messages ("" before Listen()).
  std::string address() const;

 private:
  void Accept();
  void OnPartitionReleased(PipelinedPartition* partition);

  boost::asio::io_context& io_;
  const NetworkOptions options_;
  const std::shared_ptr<BufferPool> pool_;
  const std::shared_ptr<NetworkStats> stats_;
  std::atomic<uint32_t> next_channel_id_{1};

  mutable std::mutex mu_;
  bool stopped_ = false;                                      // guarded by mu_
  std::string address_;                                       // guarded by mu_
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;  // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<PipelinedPartition>> partitions_;  // by id
  std::map<std::string, std::shared_ptr<PartitionRequestClient>> clients_;           // by host:port
  std::unordered_map<const PartitionServerConnection*, std::shared_ptr<PartitionServerConnection>>
      servers_;                                        // guarded by mu_
  std::vector<std::weak_ptr<SingleInputGate>> gates_;  // guarded by mu_
  std::unordered_map<std::string, std::string> credentials_;  // by job id; guarded by mu_
};

}  // namespace eddy::net
