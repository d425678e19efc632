#pragma once
#include <xxhash.h>

// Debian's libxxhash carries xxHash's x86 dispatcher, which picks the AVX2/AVX-512 kernels at run time; the plain
// entry points use the SSE2 kernel only (16 GB/s against 25+ on an AVX2 machine). Route through the dispatcher.
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h>
static inline XXH128_hash_t cxxhash_xxh3_128(const void *input, size_t length) {
    return XXH3_128bits_dispatch(input, length);
}
static inline XXH_errorcode cxxhash_xxh3_128_update(XXH3_state_t *state, const void *input, size_t length) {
    return XXH3_128bits_update_dispatch(state, input, length);
}
#else
static inline XXH128_hash_t cxxhash_xxh3_128(const void *input, size_t length) { return XXH3_128bits(input, length); }
static inline XXH_errorcode cxxhash_xxh3_128_update(XXH3_state_t *state, const void *input, size_t length) {
    return XXH3_128bits_update(state, input, length);
}
#endif
