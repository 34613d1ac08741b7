#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>

namespace ef {
namespace {

constexpr int kSpinIterations = 4000;   // ~10-40 us of pause before yielding
constexpr int kYieldIterations = 200;   // then sched_yield before sleeping
constexpr uint64_t kGuide = 8;          // a claim takes 1/(kGuide * n_threads) of the rest
constexpr int kIdxBits = 22;
constexpr uint64_t kIdxMask = (uint64_t{1} << kIdxBits) - 1;
constexpr uint64_t kJobMask = (uint64_t{1} << 20) - 1;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline uint64_t make_ticket(uint64_t job, uint64_t n_tasks, uint64_t next) {
  return ((job & kJobMask) << (2 * kIdxBits)) | (n_tasks << kIdxBits) | next;
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  // Tasks done by this thread, reported to done_ once on the way out (one
  // contended atomic per thread and job instead of one per task). The job
  // cannot end before they are reported, so the ticket stays this job's.
  int64_t finished = 0;
  uint64_t t = ticket_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t n_tasks = (t >> kIdxBits) & kIdxMask;
    const uint64_t idx = t & kIdxMask;
    if (idx >= n_tasks) {
      if (finished > 0) done_.fetch_add(finished, std::memory_order_release);
      return;
    }
    // Guided claiming: take 1/(kGuide * n_threads) of what is left (at least
    // one task), so a job of many tiny tasks (per-token conversions: 512 in a
    // prefill) costs a few dozen contended claims instead of one per task,
    // while a descheduled thread holds back little work and small jobs
    // (decode) still go one task per claim.
    const uint64_t take =
        std::max<uint64_t>(1, (n_tasks - idx) / (kGuide * static_cast<uint64_t>(n_threads_)));
    // Success means tasks [idx, idx + take) of the job described by t are
    // ours; that job is still current (it cannot end before they are done),
    // so fn_ is its.
    if (!ticket_.compare_exchange_weak(t, t + take, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
      continue;  // t was reloaded
    }
    for (uint64_t i = idx; i < idx + take; ++i) (*fn_)(static_cast<int64_t>(i), thread);
    finished += static_cast<int64_t>(take);
    t = ticket_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < kSpinIterations && gen == seen; ++i) {
      cpu_relax();
      gen = generation_.load(std::memory_order_acquire);
    }
    for (int i = 0; i < kYieldIterations && gen == seen; ++i) {
      sched_yield();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      gen = generation_.load();
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    work(thread);
  }
}

void ThreadPool::run(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  // Larger jobs than the ticket can count run in slices (never in practice).
  if (static_cast<uint64_t>(n_tasks) > kIdxMask) {
    for (int64_t base = 0; base < n_tasks; base += static_cast<int64_t>(kIdxMask)) {
      const int64_t n = std::min<int64_t>(static_cast<int64_t>(kIdxMask), n_tasks - base);
      run(n, [&](int64_t t, int th) { fn(base + t, th); });
    }
    return;
  }
  fn_ = &fn;
  done_.store(0, std::memory_order_relaxed);
  ++job_;
  ticket_.store(make_ticket(job_, static_cast<uint64_t>(n_tasks), 0), std::memory_order_release);
  // seq_cst pairs with the worker's sleepers_++ then generation_ check.
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    // Lock so a worker between its predicate check and wait() cannot miss it.
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  work(0);
  for (int i = 0; done_.load(std::memory_order_acquire) != n_tasks; ++i) {
    if (i < kSpinIterations) {
      cpu_relax();
    } else {
      sched_yield();  // a worker holding a task was descheduled: let it run
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t n_grains = (n + grain - 1) / grain;
  const int64_t n_chunks = std::min<int64_t>(n_threads_, n_grains);
  const int64_t grains_per_chunk = (n_grains + n_chunks - 1) / n_chunks;
  run(n_chunks, [&](int64_t chunk, int thread) {
    const int64_t begin = chunk * grains_per_chunk * grain;
    const int64_t end = std::min(n, begin + grains_per_chunk * grain);
    if (begin < end) fn(begin, end, thread);
  });
}

}  // namespace ef
