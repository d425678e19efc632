#pragma once
// Debian's pkg-config (`openblas`) points at include/x86_64-linux-gnu/openblas-pthread, home of this cblas.h.
#include <cblas.h>
