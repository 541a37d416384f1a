// OpenBLAS's CBLAS interface (Debian libopenblas-dev installs it as <cblas.h>
// through the alternatives system). openblas_set_num_threads lets several
// workers on one machine use one BLAS thread each.
#ifndef EAST_COPENBLAS_SHIM_H
#define EAST_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
