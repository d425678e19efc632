#pragma once
// The experimental parameters (literal compression mode) are part of libzstd's ABI since 1.4; Debian 12 ships 1.5.4.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

/// Huffman-codes literals even at negative levels, which otherwise store them raw. Returns a zstd status code.
static inline size_t czstd_force_huffman_literals(ZSTD_CCtx *context) {
    return ZSTD_CCtx_setParameter(context, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
}
