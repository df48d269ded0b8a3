/* bench/gpu/segv_trace.c -- LD_PRELOAD diagnostic for crashes at exit: on SIGSEGV, SIGBUS or
 * SIGABRT prints the native backtrace (library + offset, and the symbol where the library
 * exports one) to stderr, then dies of the same signal, so the exit status is unchanged.
 * Its atexit hook, registered first, runs after every later-registered atexit hook and static
 * destructor of the program: a crash after its line is in the libraries' own finalisers.
 *   cc -shared -fPIC -O1 -o segv_trace.so segv_trace.c
 *   LD_PRELOAD=./segv_trace.so ./test_torch -tc='TorchScript*' */
#define _GNU_SOURCE
#include <execinfo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void say(const char* s) {
  (void)!write(2, s, strlen(s));
}

static void on_fatal(int sig) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  say(sig == SIGSEGV ? "segv_trace: SIGSEGV, backtrace:\n"
                     : (sig == SIGBUS ? "segv_trace: SIGBUS, backtrace:\n"
                                      : "segv_trace: SIGABRT, backtrace:\n"));
  backtrace_symbols_fd(frames, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void on_last_atexit(void) {
  say("segv_trace: static destructors done\n");
}

__attribute__((constructor)) static void install(void) {
  signal(SIGSEGV, on_fatal);
  signal(SIGBUS, on_fatal);
  signal(SIGABRT, on_fatal);
  atexit(on_last_atexit);
}
