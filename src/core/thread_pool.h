// A persistent thread pool. Decode dispatches many small ops per token, so
// workers stay alive between jobs: they spin briefly on a generation counter,
// then sleep on a condition variable.
//
// Determinism: run() hands out task indices [0, n_tasks); callers make each
// task write a disjoint output range in a fixed order, so results are
// bit-identical whatever the number of threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ef {

class ThreadPool {
 public:
  // n_threads includes the calling thread; values < 1 mean 1.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Calls fn(task, thread) for every task in [0, n_tasks), spread over the
  // threads; returns when all tasks are done. Not reentrant.
  void run(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

  // Splits [0, n) into one contiguous chunk per thread (aligned to `grain`)
  // and calls fn(begin, end, thread).
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

 private:
  void worker_loop(int thread);
  void work(int thread);
  template <class Done>
  void wait_until(Done done);

  // Job protocol (see run()): a worker only calls fn_ while open_ is true and
  // it has registered in active_; the caller changes fn_/n_tasks_/next_task_
  // only after closing the job and seeing active_ == 0. Workers that have not
  // woken up yet never delay the caller: completion is counted in tasks.
  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};  // bumped per job (and at shutdown)
  std::atomic<bool> open_{false};
  std::atomic<int> active_{0};
  std::atomic<int64_t> next_task_{0};
  std::atomic<int64_t> done_tasks_{0};
  int64_t n_tasks_ = 0;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  bool stop_ = false;
};

}  // namespace ef
