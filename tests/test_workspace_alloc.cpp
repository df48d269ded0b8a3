// After a first call with a given batch shape, RR-BS, RR-Fast and RR-Refine called again
// with the same workspace and result perform no heap allocation. Every allocation is
// counted, C++ (operator new) and C (malloc, which Eigen uses) alike:
// - in a normal build, global operator new and (on glibc) malloc itself are replaced;
// - under AddressSanitizer, which owns malloc and operator new (replacing them would bypass
//   its allocator), the sanitizer's own allocation hook counts them instead.
#include "misd/misd.hpp"
#include "radius_settings.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__) // GCC
#define MISD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) // Clang
#define MISD_TEST_ASAN 1
#endif
#endif

namespace {
std::atomic<long> allocations{0};
std::atomic<bool> counting{false};
void note() {
  if (counting.load(std::memory_order_relaxed))
    allocations.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

#ifdef MISD_TEST_ASAN

// The sanitizer runtime's interface (<sanitizer/allocator_interface.h> in LLVM; GCC ships the
// function in libasan without the header). The hook runs on every allocation made through
// the sanitizer's allocator: malloc, calloc, realloc, aligned_alloc, operator new.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*)(const volatile void*,
                                                                  std::size_t),
                                                         void (*)(const volatile void*));
namespace {
void on_malloc(const volatile void*, std::size_t) {
  note();
}
void on_free(const volatile void*) {}
const bool hooks_installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
} // namespace

#else // replace the allocation functions themselves

// The replacements below pair operator new with free(): that is what they are for.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#ifdef __GLIBC__
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void* malloc(std::size_t n) {
  note();
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t n, std::size_t s) {
  note();
  return __libc_calloc(n, s);
}
extern "C" void* realloc(void* p, std::size_t n) {
  note();
  return __libc_realloc(p, n);
}
#endif

void* operator new(std::size_t n) {
  note();
  if (void* p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  note();
  const auto al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al))
    return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return operator new(n, a);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

#endif // MISD_TEST_ASAN

namespace {

/// Allocations made by f().
template <class F>
long allocations_of(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations.load();
}

template <class M>
void check_estimators(M& model, const misd::batch_t<M>& x, misd_test::radius_settings o) {
  misd::radius_workspace<M> ws;
  misd::radius_result res;
  SUBCASE("rr_bs") {
    misd::rr_bs(model, x, o, ws, res);
    CHECK(allocations_of([&] { misd::rr_bs(model, x, o, ws, res); }) == 0);
    o.tolerance = 1e-3; // compacted probes of changing sizes
    misd::rr_bs(model, x, o, ws, res);
    CHECK(allocations_of([&] { misd::rr_bs(model, x, o, ws, res); }) == 0);
  }
  SUBCASE("rr_fast") {
    misd::rr_fast(model, x, o, ws, res);
    CHECK(allocations_of([&] { misd::rr_fast(model, x, o, ws, res); }) == 0);
  }
  SUBCASE("rr_refine") {
    misd::rr_refine(model, x, o, ws, res);
    CHECK(allocations_of([&] { misd::rr_refine(model, x, o, ws, res); }) == 0);
  }
  SUBCASE("all three sharing one workspace") {
    for (int pass = 0; pass < 2; ++pass) {
      const long n = allocations_of([&] {
        misd::rr_bs(model, x, o, ws, res);
        misd::rr_fast(model, x, o, ws, res);
        misd::rr_refine(model, x, o, ws, res);
      });
      if (pass == 1)
        CHECK(n == 0);
    }
  }
}

} // namespace

TEST_CASE("the counter sees Eigen's and the standard library's allocations") {
#ifdef MISD_TEST_ASAN
  REQUIRE(hooks_installed);
#endif
  CHECK(allocations_of([] {
          misd::eigen::batch<float> m(64, 64);
          m.setZero();
        }) >= 1);
  CHECK(allocations_of([] { std::vector<int> v(10); }) >= 1);
  // A large product allocates its packing buffers inside Eigen: the reason for gemm_buffers.
  misd::eigen::batch<float> a = misd::eigen::batch<float>::Ones(512, 512), c(512, 512);
  CHECK(allocations_of([&] { c.noalias() = a * a; }) >= 1);
}

TEST_CASE("steady-state estimators allocate nothing: MLP with normalisation, box") {
  auto base = misd::eigen::mlp<float>::random({784, 256, 128, 10}, 7);
  misd::eigen::normalization<float> norm{misd::eigen::vector<float>::Constant(784, 0.3f),
                                         misd::eigen::vector<float>::Constant(784, 0.4f)};
  misd::eigen::mlp<float> model(base.dense_layers(), norm);
  auto x = misd::batch_ops<misd::eigen::batch<float>>::uniform_noise(
      misd::eigen::batch<float>(200, 784), 3);
  x = (x.array() + 1.0f) / 2.0f;
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};
  check_estimators(model, x, o);
}

TEST_CASE("steady-state estimators allocate nothing: linear model, no box") {
  auto w = misd::batch_ops<misd::eigen::batch<double>>::uniform_noise(
      misd::eigen::batch<double>(5, 40), 11);
  misd::eigen::linear<double> model(w, misd::eigen::vector<double>::Zero(5));
  auto x = misd::batch_ops<misd::eigen::batch<double>>::uniform_noise(
      misd::eigen::batch<double>(64, 40), 5);
  check_estimators(model, x, {});
}
