// ThreadPool: every task runs exactly once per job, thread ids are in range,
// back-to-back jobs of different sizes never leak tasks into each other (the
// late-worker case the packed ticket guards against), and parallel_for
// covers [0, n) exactly.
#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace ef {
namespace {

TEST(ThreadPool, EveryTaskOnceAcrossManyJobs) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int job = 0; job < 2000; ++job) {
      // Sizes vary so a late worker from the previous job would hit indices
      // that do not exist in this one.
      const int64_t n = 1 + (job * 7) % 13;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad_thread{0};
      pool.run(n, [&](int64_t t, int th) {
        hits[static_cast<size_t>(t)].fetch_add(1);
        if (th < 0 || th >= threads) bad_thread.fetch_add(1);
      });
      for (int64_t t = 0; t < n; ++t) ASSERT_EQ(hits[t].load(), 1) << "job " << job << " task " << t;
      ASSERT_EQ(bad_thread.load(), 0);
    }
  }
}

// Jobs large enough that a claim takes a run of tasks (guided claiming),
// with sizes changing from job to job: still every task exactly once.
TEST(ThreadPool, LargeJobsClaimRunsOfTasksEachOnce) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (int job = 0; job < 60; ++job) {
      const int64_t n = 100 + (job * 997) % 5000;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.run(n, [&](int64_t t, int) { hits[static_cast<size_t>(t)].fetch_add(1); });
      for (int64_t t = 0; t < n; ++t) ASSERT_EQ(hits[t].load(), 1) << "job " << job << " task " << t;
    }
  }
}

TEST(ThreadPool, RunReturnsOnlyAfterAllTasksFinish) {
  ThreadPool pool(2);
  for (int job = 0; job < 200; ++job) {
    std::atomic<int> finished{0};
    pool.run(8, [&](int64_t, int) {
      volatile int spin = 0;
      for (int i = 0; i < 2000; ++i) spin = spin + i;
      finished.fetch_add(1);
    });
    ASSERT_EQ(finished.load(), 8);
  }
}

TEST(ThreadPool, ParallelForCoversRangeOnce) {
  ThreadPool pool(3);
  for (int64_t n : {1, 5, 16, 17, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.parallel_for(n, 4, [&](int64_t b, int64_t e, int) {
      EXPECT_EQ(b % 4, 0);
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, IdlePoolWakesFromSleep) {
  ThreadPool pool(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // workers go to sleep
  std::atomic<int> count{0};
  pool.run(64, [&](int64_t, int) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 64);
}

}  // namespace
}  // namespace ef
