// LD_PRELOAD shim for wrk in bench/run.sh's tlsnew scenario: every new
// connection makes a full TLS handshake, and the handshakes are counted.
//
// wrk closes a connection with SSL_shutdown + SSL_clear and reuses the SSL
// object for the next one. SSL_clear keeps the session of a cleanly shut
// down connection, so the next SSL_connect offers it (session id or ticket)
// and every balancer resumes it: "Connection: close" then measures
// abbreviated handshakes (about 3x as many per second), not new clients.
// This SSL_clear drops the session after clearing, and counts the finished
// handshake it ends as full or resumed. At exit the counts go to the file
// $NIB_BENCH_TLS_COUNTS as "FULL RESUMED". NIB_BENCH_TLS_KEEP_SESSIONS=1
// keeps wrk's resumption and only counts (to see what it would hide).
//
// Built by run.sh: cc -O2 -shared -fPIC -o tls_no_resume.so tls_no_resume.c -ldl
// It resolves OpenSSL's functions at run time, so it needs no OpenSSL headers.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static int (*real_clear)(SSL *);
static int (*set_session)(SSL *, SSL_SESSION *);
static int (*session_reused)(const SSL *);
static int (*init_finished)(const SSL *);
static int keep_sessions;
static unsigned long full_handshakes, resumed_handshakes;

__attribute__((constructor)) static void resolve(void) {
  real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
  set_session = (int (*)(SSL *, SSL_SESSION *))dlsym(RTLD_NEXT, "SSL_set_session");
  session_reused = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_session_reused");
  init_finished = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_is_init_finished");
  const char *keep = getenv("NIB_BENCH_TLS_KEEP_SESSIONS");
  keep_sessions = keep != NULL && keep[0] == '1';
}

int SSL_clear(SSL *ssl) {
  if (real_clear == NULL) resolve();
  if (real_clear == NULL) abort();  // not an OpenSSL program: nothing sensible to do
  if (session_reused != NULL && init_finished != NULL && init_finished(ssl)) {
    __atomic_fetch_add(session_reused(ssl) ? &resumed_handshakes : &full_handshakes, 1, __ATOMIC_RELAXED);
  }
  int r = real_clear(ssl);
  if (set_session != NULL && !keep_sessions) set_session(ssl, NULL);
  return r;
}

__attribute__((destructor)) static void report(void) {
  const char *path = getenv("NIB_BENCH_TLS_COUNTS");
  if (path == NULL || *path == '\0') return;
  FILE *f = fopen(path, "w");
  if (f == NULL) return;
  fprintf(f, "%lu %lu\n", __atomic_load_n(&full_handshakes, __ATOMIC_RELAXED),
          __atomic_load_n(&resumed_handshakes, __ATOMIC_RELAXED));
  fclose(f);
}
