// A fixed set of threads that run blocking handlers, so that no handler ever blocks an I/O thread. Private to
// src/http. The queue needs no bound of its own: each connection has at most one request in a worker at a time,
// so the queue is bounded by the connection limit.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace blobseal::http::internal {

class WorkerPool {
 public:
  explicit WorkerPool(unsigned threads);
  // Joins (see join()).
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; it runs on one of the pool's threads in submission order. After join(), tasks are dropped.
  void submit(std::function<void()> task);

  // Runs every queued task to its end, then stops and joins the threads. Idempotent.
  void join();

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace blobseal::http::internal
