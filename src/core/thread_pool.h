// A persistent thread pool for many small jobs (decode runs hundreds of ops
// per token).
//
// Latency and robustness on a busy machine:
//  - Workers spin briefly on a job counter, then yield, then sleep on a
//    condition variable, so an idle pool costs nothing.
//  - Tasks are claimed dynamically, a run of consecutive tasks per claim
//    (1/(8 n_threads) of what is left, at least one: few contended claims
//    for jobs of many tiny tasks), and the caller works too. The caller
//    waits for the job's *tasks* to finish, never for workers to check in:
//    if a worker is descheduled (other processes on the cores) the caller
//    simply runs the remaining tasks itself instead of stalling a time
//    slice per job.
//  - A late worker can never run a task of the wrong job: the job id, its
//    task count and the next task index live in one 64-bit word that is
//    claimed by compare-and-swap.
//
// Determinism: run() hands out task indices [0, n_tasks); callers make each
// task write a disjoint output range in a fixed order, so results are
// bit-identical whatever the number of threads and whoever runs a task.
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

  // Calls fn(task, thread) for every task in [0, n_tasks) (n_tasks < 2^22),
  // spread over the threads; returns when all tasks are done. `thread` is in
  // [0, n_threads) and identifies the executing thread (per-thread scratch).
  // Not reentrant; call from one thread at a time.
  void run(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

  // Splits [0, n) into one contiguous chunk per thread (aligned to `grain`)
  // and calls fn(begin, end, thread).
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

 private:
  void worker_loop(int thread);
  // Claims and runs tasks of the current job until none are left.
  void work(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  // Written by run() once per job, read by the workers.
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  uint64_t job_ = 0;
  std::atomic<bool> stop_{false};
  // The hot atomics sit on separate cache lines: every task claims from
  // ticket_ and reports to done_ while the caller polls done_ and idle
  // workers poll generation_; sharing one line made each claim and each
  // report a cross-core line transfer (perf: ~3% of a 2-thread prefill on
  // the lock add to done_).
  alignas(64) std::atomic<uint64_t> generation_{0};  // bumped once per job (wakes workers)
  std::atomic<int> sleepers_{0};                     // workers waiting on wake_
  // [job id : 20][n_tasks : 22][next task : 22]
  alignas(64) std::atomic<uint64_t> ticket_{0};
  // Last member: the class is 64-aligned, so done_ has its line to itself.
  alignas(64) std::atomic<int64_t> done_{0};  // tasks finished in the current job
};

}  // namespace ef
