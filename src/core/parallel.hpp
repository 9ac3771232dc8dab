// Internal: a parallel loop over index ranges for strata's CPU kernels (filters, resizing).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>

namespace strata {

// Runs fn(begin, end) over [0, n) split into at::get_num_threads() ranges (fewer if a range would
// hold under `grain` items): the calling thread and helpers on ATen's inter-op pool (at::launch)
// claim ranges from a shared counter. at::parallel_for cannot be used: it is an inline template
// whose OpenMP pragmas only take effect in files compiled with -fopenmp, which strata is not. As
// the caller claims ranges too, it finishes alone if no helper gets to run (no deadlock when
// called from the pool); the shared state outlives the call for helpers that start late (they find
// no range left and never touch fn). The first exception thrown by fn is rethrown in the caller
// once every helper has left.
class ParallelRanges {
 public:
  template <class Fn>
  static void run(std::int64_t n, std::int64_t grain, const Fn& fn) {
    const auto ranges = std::min<std::int64_t>(at::get_num_threads(),
                                               (n + grain - 1) / std::max<std::int64_t>(grain, 1));
    if (ranges <= 1) {
      fn(0, n);
      return;
    }
    const auto job = std::make_shared<Job>();
    const auto size = (n + ranges - 1) / ranges;
    auto claim_all = [job, ranges, size, n, &fn] {
      for (std::int64_t r; (r = job->next++) < ranges;) fn(r * size, std::min(n, (r + 1) * size));
    };
    for (std::int64_t helper = 1; helper < ranges; ++helper) {
      at::launch([job, claim_all] {
        job->enter();
        job->guard(claim_all);
        job->leave();
      });
    }
    job->guard(claim_all);
    job->wait_idle();
  }

 private:
  struct Job {
    std::atomic<std::int64_t> next{0};
    std::mutex mutex;
    std::condition_variable idle;
    int busy = 0;  // helpers between enter() and leave()
    std::exception_ptr error;

    void enter() {
      const std::lock_guard<std::mutex> lock(mutex);
      ++busy;
    }
    void leave() {
      {
        const std::lock_guard<std::mutex> lock(mutex);
        --busy;
      }
      idle.notify_all();
    }
    template <class Work>
    void guard(const Work& work) {
      try {
        work();
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
      }
    }
    void wait_idle() {
      std::unique_lock<std::mutex> lock(mutex);
      idle.wait(lock, [this] { return busy == 0; });
      if (error) std::rethrow_exception(error);
    }
  };
};

}  // namespace strata
