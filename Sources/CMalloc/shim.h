// glibc's allocator tuning interface (mallopt), which Swift's Glibc module does not export.
#include <malloc.h>
