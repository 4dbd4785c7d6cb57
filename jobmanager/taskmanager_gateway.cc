#include "jobmanager/taskmanager_gateway.h"

#include <condition_variable>
#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace eddy {

struct TaskManagerGateway::Sender {
  struct Message {
    std::string method;
    std::string payload;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };
  TaskManagerId tm;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Message> queue;  // guarded by mu
  bool stopping = false;      // guarded by mu
  std::shared_ptr<rpc::RpcClient> client;  // set once by the sender thread, then read-only
  std::thread thread;
};

TaskManagerGateway::TaskManagerGateway(boost::asio::io_context& io,
                                       rpc::ConnectionOptions connection,
                                       std::chrono::milliseconds rpc_timeout, AddressFn address)
    : io_(io), connection_(connection), rpc_timeout_(rpc_timeout), address_(std::move(address)) {}

TaskManagerGateway::~TaskManagerGateway() { Stop(); }

void TaskManagerGateway::Send(const TaskManagerId& tm, const std::string& method,
                              std::string payload, Done done) {
  std::shared_ptr<Sender> sender;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    auto& slot = senders_[tm];
    if (!slot) {
      slot = std::make_shared<Sender>();
      slot->tm = tm;
      slot->client = std::make_shared<rpc::RpcClient>(io_, connection_, "jobmanager");
      slot->thread = std::thread(&TaskManagerGateway::Run, slot.get(), address_);
    }
    sender = slot;
  }
  {
    std::lock_guard<std::mutex> lock(sender->mu);
    sender->queue.push_back(Sender::Message{method, std::move(payload),
                                            std::chrono::steady_clock::now() + rpc_timeout_,
                                            std::move(done)});
  }
  sender->cv.notify_all();
}

void TaskManagerGateway::Run(Sender* sender, AddressFn address) {
  using Clock = std::chrono::steady_clock;
  while (true) {
    Sender::Message message;
    {
      std::unique_lock<std::mutex> lock(sender->mu);
      sender->cv.wait(lock, [&] { return sender->stopping || !sender->queue.empty(); });
      if (sender->stopping) return;
      message = std::move(sender->queue.front());
      sender->queue.pop_front();
    }
    auto remaining = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(message.deadline - Clock::now());
    };
    absl::Status status;
    if (remaining().count() <= 0) {
      status = absl::DeadlineExceededError(absl::StrCat(
          message.method, " to TaskManager ", sender->tm.value(), " not sent before its deadline"));
    } else if (!sender->client->connected()) {
      auto where = address(sender->tm);
      if (!where) {
        status = absl::UnavailableError(
            absl::StrCat("TaskManager ", sender->tm.value(), " is not registered"));
      } else {
        status = sender->client->Connect(where->host, where->rpc_port, remaining(),
                                         where->credential);
      }
    }
    if (status.ok()) {
      status = sender->client->CallRaw(message.method, message.payload,
                                       std::max(remaining(), std::chrono::milliseconds(1)))
                   .status();
    }
    if (!status.ok()) {
      EDDY_LOG(WARN) << message.method << " to TaskManager " << sender->tm << ": "
                     << status.message();
    }
    if (message.done) message.done(status);
  }
}

void TaskManagerGateway::Remove(const TaskManagerId& tm) {
  std::shared_ptr<Sender> sender;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = senders_.find(tm);
    if (it == senders_.end()) return;
    sender = it->second;
    senders_.erase(it);
    retired_.push_back(sender);
  }
  {
    std::lock_guard<std::mutex> lock(sender->mu);
    sender->stopping = true;
    sender->queue.clear();
  }
  sender->cv.notify_all();
  sender->client->Close();  // fails a call in flight at once
}

void TaskManagerGateway::Stop() {
  std::vector<std::shared_ptr<Sender>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [tm, s] : senders_) all.push_back(s);
    senders_.clear();
    for (auto& s : retired_) all.push_back(s);
    retired_.clear();
  }
  for (auto& s : all) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->stopping = true;
      s->queue.clear();
    }
    s->cv.notify_all();
    s->client->Close();
  }
  for (auto& s : all) {
    if (s->thread.joinable()) s->thread.join();
  }
}

}  // namespace eddy
