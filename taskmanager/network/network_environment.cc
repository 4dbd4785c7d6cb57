#include "taskmanager/network/network_environment.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "taskmanager/network/network_environment_impl.h"
#include "taskmanager/network/partition_request_client.h"
#include "taskmanager/network/partition_server.h"
#include "taskmanager/network/pipelined_partition.h"
#include "taskmanager/network/single_input_gate.h"

namespace eddy::net {

std::string PartitionId::ToString() const {
  return absl::StrCat(job_id, "/", edge_id, "/", producer_subtask, "#", attempt);
}

NetworkEnvironmentImpl::NetworkEnvironmentImpl(boost::asio::io_context& io, NetworkOptions options)
    : io_(io),
      options_(options),
      pool_(std::make_shared<BufferPool>(options.num_buffers, options.buffer_size)),
      stats_(std::make_shared<NetworkStats>()) {}

NetworkEnvironmentImpl::~NetworkEnvironmentImpl() = default;

absl::StatusOr<uint16_t> NetworkEnvironmentImpl::Listen(const std::string& host, uint16_t port) {
  namespace ip = boost::asio::ip;
  boost::system::error_code ec;
  auto address = ip::make_address(host, ec);
  if (ec) {
    ip::tcp::resolver resolver(io_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot resolve data address '", host, "'"));
    }
    address = results.begin()->endpoint().address();
  }
  auto acceptor = std::make_shared<ip::tcp::acceptor>(boost::asio::make_strand(io_));
  ip::tcp::endpoint endpoint(address, port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen for data connections on ", host, ":",
                                               port, ": ", ec.message()));
  }
  uint16_t bound = acceptor->local_endpoint(ec).port();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return absl::FailedPreconditionError("network environment is stopped");
    if (acceptor_ != nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("data port already listening on ", address_));
    }
    acceptor_ = acceptor;
    address_ = absl::StrCat(host, ":", bound);
  }
  boost::asio::post(acceptor->get_executor(), [self = shared_from_this()] { self->Accept(); });
  return bound;
}

void NetworkEnvironmentImpl::Accept() {
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    acceptor = acceptor_;
  }
  if (acceptor == nullptr) return;
  std::weak_ptr<NetworkEnvironmentImpl> weak = weak_from_this();
  acceptor->async_accept(
      boost::asio::make_strand(io_),
      [weak, acceptor](const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
        auto self = weak.lock();
        if (self == nullptr || ec == boost::asio::error::operation_aborted) return;
        if (ec) {
          // Typically out of file descriptors: wait a little instead of spinning.
          EDDY_LOG(WARN) << "data port: accept failed: " << ec.message();
          auto timer = std::make_shared<boost::asio::steady_timer>(acceptor->get_executor(),
                                                                   std::chrono::milliseconds(100));
          timer->async_wait([timer, weak](const boost::system::error_code& ec) {
            if (ec) return;
            if (auto self = weak.lock()) self->Accept();
          });
          return;
        }
        boost::system::error_code ignored;
        auto remote = socket.remote_endpoint(ignored);
        std::string peer = absl::StrCat(remote.address().to_string(), ":", remote.port());
        socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
        auto conn = std::make_shared<PartitionServerConnection>(
            std::move(socket), weak, self->stats_, self->options_.buffer_size,
            self->options_.frame_timeout, peer, self->options_.tls);
        bool accepted = false;
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          if (!self->stopped_) {
            self->servers_[conn.get()] = conn;
            accepted = true;
          }
        }
        if (!accepted) return;
        EDDY_LOG(DEBUG) << "data connection from " << peer;
        conn->Start();
        self->Accept();
      });
}

void NetworkEnvironmentImpl::Stop() {
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  std::unordered_map<std::string, std::shared_ptr<PipelinedPartition>> partitions;
  std::map<std::string, std::shared_ptr<PartitionRequestClient>> clients;
  std::unordered_map<const PartitionServerConnection*, std::shared_ptr<PartitionServerConnection>>
      servers;
  std::vector<std::weak_ptr<SingleInputGate>> gates;
  std::string address;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    address = address_;
    stopped_ = true;
    acceptor = std::move(acceptor_);
    acceptor_ = nullptr;
    partitions.swap(partitions_);
    clients.swap(clients_);
    servers.swap(servers_);
    gates.swap(gates_);
  }
  const absl::Status stopped =
      absl::UnavailableError(absl::StrCat("network environment of the TaskManager",
                                          address.empty() ? "" : " at " + address, " stopped"));
  if (acceptor != nullptr) {
    boost::asio::post(acceptor->get_executor(), [acceptor] {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    });
  }
  for (auto& [key, partition] : partitions) partition->Cancel();
  for (auto& weak : gates) {
    if (auto gate = weak.lock()) gate->Cancel(stopped);
  }
  for (auto& [address, client] : clients) client->Close(stopped);
  for (auto& [ptr, conn] : servers) conn->Close(stopped);
}

absl::StatusOr<std::shared_ptr<ResultPartition>> NetworkEnvironmentImpl::CreatePartition(
    const PartitionId& id, int num_subpartitions) {
  if (num_subpartitions <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("partition ", id.ToString(),
                                                   " needs at least "
                                                   "one subpartition, got ",
                                                   num_subpartitions));
  }
  int quota = num_subpartitions + std::max(0, options_.extra_buffers_per_partition);
  std::weak_ptr<NetworkEnvironmentImpl> weak = weak_from_this();
  auto partition = std::make_shared<PipelinedPartition>(id, num_subpartitions, quota, pool_,
                                                        [weak](PipelinedPartition* p) {
                                                          if (auto self = weak.lock())
                                                            self->OnPartitionReleased(p);
                                                        });
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return absl::FailedPreconditionError("network environment is stopped");
  auto [it, inserted] = partitions_.emplace(id.ToString(), partition);
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("partition ", id.ToString(), " already exists"));
  }
  return std::shared_ptr<ResultPartition>(partition);
}

void NetworkEnvironmentImpl::OnPartitionReleased(PipelinedPartition* partition) {
  std::shared_ptr<PipelinedPartition> released;  // dropped after the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = partitions_.find(partition->id().ToString());
  if (it != partitions_.end() && it->second.get() == partition) {
    released = std::move(it->second);
    partitions_.erase(it);
  }
}

absl::StatusOr<std::unique_ptr<InputGate>> NetworkEnvironmentImpl::CreateInputGate(
    std::vector<ChannelSpec> channels) {
  if (channels.empty()) return absl::InvalidArgumentError("an input gate needs channels");
  for (const ChannelSpec& spec : channels) {
    if (spec.subpartition < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative subpartition for ", spec.partition.ToString()));
    }
    if (!spec.local && (spec.host.empty() || spec.port == 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "remote channel from ", spec.partition.ToString(), " has no producer address"));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return absl::FailedPreconditionError("network environment is stopped");
  }
  auto gate = std::make_shared<SingleInputGate>(shared_from_this(), std::move(channels));
  absl::Status setup = gate->Setup();
  if (!setup.ok()) {
    gate->Release();
    return setup;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) {
      std::erase_if(gates_, [](const std::weak_ptr<SingleInputGate>& g) { return g.expired(); });
      gates_.push_back(gate);
      return std::unique_ptr<InputGate>(std::make_unique<InputGateHandle>(gate));
    }
  }
  gate->Release();
  return absl::FailedPreconditionError("network environment is stopped");
}

void NetworkEnvironmentImpl::ReleaseJob(const std::string& job_id) {
  std::vector<std::shared_ptr<PipelinedPartition>> partitions;
  std::vector<std::shared_ptr<SingleInputGate>> gates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = partitions_.begin(); it != partitions_.end();) {
      if (it->second->id().job_id == job_id) {
        partitions.push_back(std::move(it->second));
        it = partitions_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& weak : gates_) {
      auto gate = weak.lock();
      if (gate != nullptr && gate->BelongsToJob(job_id)) gates.push_back(std::move(gate));
    }
  }
  for (auto& partition : partitions) partition->Cancel();
  for (auto& gate : gates) {
    gate->Cancel(absl::CancelledError(absl::StrCat("job ", job_id, " was released")));
  }
}

void NetworkEnvironmentImpl::SetJobCredential(const std::string& job_id, std::string credential) {
  std::lock_guard<std::mutex> lock(mu_);
  credentials_[job_id] = std::move(credential);
}

bool NetworkEnvironmentImpl::CredentialMatches(const std::string& job_id,
                                               std::string_view presented) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = credentials_.find(job_id);
  return it != credentials_.end() && SecretMatches(it->second, presented);
}

bool NetworkEnvironmentImpl::HasPartition(const PartitionId& id) const {
  return FindPartition(id) != nullptr;
}

std::shared_ptr<PipelinedPartition> NetworkEnvironmentImpl::FindPartition(
    const PartitionId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = partitions_.find(id.ToString());
  return it == partitions_.end() ? nullptr : it->second;
}

std::shared_ptr<PartitionRequestClient> NetworkEnvironmentImpl::GetClient(const std::string& host,
                                                                          uint16_t port) {
  std::string key = absl::StrCat(host, ":", port);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return nullptr;
  auto it = clients_.find(key);
  if (it != clients_.end() && !it->second->closed()) return it->second;
  auto client =
      std::make_shared<PartitionRequestClient>(weak_from_this(), io_, stats_, options_.buffer_size,
                                               options_.partition_request_timeout, host, port);
  clients_[key] = client;
  client->Start();
  return client;
}

void NetworkEnvironmentImpl::RemoveClient(const PartitionRequestClient* client) {
  std::shared_ptr<PartitionRequestClient> removed;  // dropped after the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clients_.find(client->address());
  if (it != clients_.end() && it->second.get() == client) {
    removed = std::move(it->second);
    clients_.erase(it);
  }
}

void NetworkEnvironmentImpl::RemoveServerConnection(const PartitionServerConnection* conn) {
  std::shared_ptr<PartitionServerConnection> removed;  // dropped after the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = servers_.find(conn);
  if (it != servers_.end()) {
    removed = std::move(it->second);
    servers_.erase(it);
  }
}

std::string NetworkEnvironmentImpl::address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return address_;
}

namespace {

/// What Create() returns: stops the shared state when the TaskManager drops it.
class NetworkEnvironmentHandle final : public NetworkEnvironment {
 public:
  explicit NetworkEnvironmentHandle(std::shared_ptr<NetworkEnvironmentImpl> impl)
      : impl_(std::move(impl)) {}
  ~NetworkEnvironmentHandle() override { impl_->Stop(); }

  absl::StatusOr<uint16_t> Listen(const std::string& host, uint16_t port) override {
    return impl_->Listen(host, port);
  }
  void Stop() override { impl_->Stop(); }
  absl::StatusOr<std::shared_ptr<ResultPartition>> CreatePartition(const PartitionId& id,
                                                                   int num_subpartitions) override {
    return impl_->CreatePartition(id, num_subpartitions);
  }
  absl::StatusOr<std::unique_ptr<InputGate>> CreateInputGate(
      std::vector<ChannelSpec> channels) override {
    return impl_->CreateInputGate(std::move(channels));
  }
  void ReleaseJob(const std::string& job_id) override { impl_->ReleaseJob(job_id); }
  void SetJobCredential(const std::string& job_id, std::string credential) override {
    impl_->SetJobCredential(job_id, std::move(credential));
  }
  bool HasPartition(const PartitionId& id) const override { return impl_->HasPartition(id); }
  BufferPool& pool() override { return *impl_->pool(); }
  const NetworkStats& stats() const override { return *impl_->stats(); }

 private:
  std::shared_ptr<NetworkEnvironmentImpl> impl_;
};

}  // namespace

std::unique_ptr<NetworkEnvironment> NetworkEnvironment::Create(boost::asio::io_context& io,
                                                               NetworkOptions options) {
  return std::make_unique<NetworkEnvironmentHandle>(
      std::make_shared<NetworkEnvironmentImpl>(io, options));
}

}  // namespace eddy::net
