// misd/detail/worker_pool.hpp -- the threads that batch-parallel calls run on: started once
// per process and kept, so a call pays a wake-up rather than a thread start (and the
// workers' work stays visible to per-thread profilers). Not for direct inclusion.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace misd::detail {

class worker_pool {
public:
  /// The process's pool (workers start on first use). Never destroyed: its workers sleep
  /// until the process ends. Joining them at exit would hang a forked child, which inherits
  /// the pool's thread handles but not the threads (tested), and could run after a static
  /// object that still scores in its destructor.
  static worker_pool& shared() {
    static worker_pool* pool = [] {
      auto* p = new worker_pool;
#if defined(__unix__) || defined(__APPLE__)
      // Across fork(): no worker may hold the pool's lock (the child would wait for it
      // forever), and the child, which has none of the workers, runs every call itself.
      pthread_atfork([] { shared().mutex_.lock(); }, [] { shared().mutex_.unlock(); },
                     [] {
                       shared().mutex_.unlock();
                       shared().forked_child_.store(true, std::memory_order_relaxed);
                     });
#endif
      return p;
    }();
    return *pool;
  }

  worker_pool() = default;
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  ~worker_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_)
      t.join();
  }

  /// Runs task(i) for every i in [0, n) and returns when all have finished: index 0 on the
  /// calling thread, the others on the workers; the calling thread also takes indices that
  /// no worker has started, so the call never depends on a worker waking. A call made while
  /// the pool serves another one (a concurrent caller, or a task that itself runs a
  /// parallel call) runs on threads of its own instead of waiting. The first exception a
  /// task throws is rethrown here, after every task has finished.
  template <class Task>
  void run(std::size_t n, Task& task) {
    if (n == 0)
      return;
    if (n == 1) {
      task(std::size_t{0});
      return;
    }
    job j(&call_task<Task>, &task, n);
    if (forked_child_.load(std::memory_order_relaxed)) {
      j.run_as_caller(); // a forked child has no workers: it runs every task itself
      j.rethrow();
      return;
    }
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) { // the pool serves another call: threads of this call's own
      std::vector<std::thread> threads;
      threads.reserve(n - 1);
      for (std::size_t i = 1; i < n; ++i)
        threads.emplace_back([&j] { j.take_rest(); });
      j.run_as_caller();
      for (auto& t : threads)
        t.join();
      j.rethrow();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // A new worker starts from the generation before this call's, so that it takes this
      // call's job however late it first gets the lock.
      while (workers_.size() < n - 1)
        workers_.emplace_back([this, g = generation_] { work(g); });
      job_ = &j;
      ++generation_;
    }
    wake_.notify_all();
    j.run_as_caller();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      job_ = nullptr; // workers that wake from now on find no job
      done_.wait(lock, [&] { return attached_ == 0; });
    }
    j.rethrow();
  }

private:
  template <class Task>
  static void call_task(void* task, std::size_t i) {
    (*static_cast<Task*>(task))(i);
  }

  struct job {
    job(void (*c)(void*, std::size_t), void* t, std::size_t count) : call(c), task(t), n(count) {}
    void (*call)(void*, std::size_t);
    void* task;
    std::size_t n;
    std::atomic<std::size_t> next{1};
    std::mutex error_mutex;
    std::exception_ptr error;

    void run(std::size_t i) {
      try {
        call(task, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error)
          error = std::current_exception();
      }
    }
    /// The caller's share: index 0, then every index not yet taken.
    void run_as_caller() {
      run(0);
      take_rest();
    }
    void take_rest() {
      for (std::size_t i; (i = next.fetch_add(1)) < n;)
        run(i);
    }
    void rethrow() const {
      if (error)
        std::rethrow_exception(error);
    }
  };

  void work(std::uint64_t seen) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
      if (stop_)
        return;
      seen = generation_;
      job* j = job_;
      ++attached_;
      lock.unlock();
      j->take_rest();
      lock.lock();
      if (--attached_ == 0)
        done_.notify_all();
    }
  }

  std::mutex busy_; // held by the call the workers serve
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  job* job_ = nullptr;
  std::uint64_t generation_ = 0;
  std::size_t attached_ = 0;
  bool stop_ = false;
  std::atomic<bool> forked_child_{false}; // set in a forked child: no workers there
};

} // namespace misd::detail
