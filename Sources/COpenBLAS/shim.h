// CBLAS interface of OpenBLAS (Debian libopenblas-dev), and the LAPACK routines it also exports.
#include <cblas.h>

// LAPACK's symmetric eigensolver (Fortran calling convention; OpenBLAS bundles LAPACK).
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
            const int *lwork, int *info);
