#pragma once
// Invariant checks (Envoy's tiers): CHORUS_CHECK always aborts with a message; CHORUS_ASSERT only in debug
// builds.
#include <cstdio>
#include <cstdlib>

#define CHORUS_CHECK(cond, msg)                                                              \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", __FILE__, __LINE__, #cond, msg); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

#ifdef NDEBUG
#define CHORUS_ASSERT(cond, msg) \
  do {                           \
  } while (0)
#else
#define CHORUS_ASSERT(cond, msg) CHORUS_CHECK(cond, msg)
#endif
